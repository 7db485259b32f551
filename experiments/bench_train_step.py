"""Benchmark of the full training iteration (G step + D step with R1).

Prints one JSON line: images/s after warm-up, compile time, peak memory,
and the step's floating-point work as XLA counts it (``cost_analysis`` of
the compiled step): FLOPs per step and per image, the achieved TFLOP/s and,
on a GPU or TPU whose peak is known (``PEAK_TFLOPS``), the model FLOPs
utilisation (MFU: achieved / peak dense bfloat16 TFLOP/s, MaxText's
convention, also for float32 steps). Random uint8 images stand in for data:
input is not what is measured.

  python experiments/bench_train_step.py --config configs/celeba64.py \
      --batch-size 32 --compute-dtype bfloat16
"""

import argparse
import json
import platform
import resource
import runpy
import time

import jax
import numpy as np

import bench_reconstruct  # same directory: its E2 helper

from jaxface import identity_branch
from jaxface import layers
from jaxface import sharding
from jaxface import train
from jaxface import train_step
from jaxface.data import input_pipeline

# Dense bfloat16 peak TFLOP/s per chip, from the vendors' data sheets, by
# the start of ``device_kind``.
PEAK_TFLOPS = {
    "NVIDIA H200": 989.0, "NVIDIA H100": 989.0, "NVIDIA A100": 312.0,
    "NVIDIA L4": 121.0, "TPU v4": 275.0, "TPU v5 lite": 197.0,
    "TPU v5e": 197.0, "TPU v5p": 459.0, "TPU v5": 459.0, "TPU v6 lite": 918.0,
    "TPU v6e": 918.0,
}


def peak_tflops(device_kind: str):
  for name, peak in PEAK_TFLOPS.items():
    if device_kind.startswith(name):
      return peak
  return None


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--config", default="configs/celeba64.py")
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--compute-dtype", default=None,
                      choices=["float32", "bfloat16"],
                      help="train.compute_dtype (default: the config's)")
  parser.add_argument("--set", nargs="*", default=[],
                      help="overrides like render.num_samples=32")
  args = parser.parse_args()

  config = runpy.run_path(args.config)["get_config"]()
  config.train.batch_size = args.batch_size
  if args.compute_dtype:
    config.train.compute_dtype = args.compute_dtype
  for item in args.set:
    key, value = item.split("=", 1)
    section, name = key.split(".")
    config[section][name] = type(config[section][name])(eval(value))  # pylint: disable=eval-used

  mesh = sharding.make_mesh(config)
  e2 = None
  if identity_branch.needs_e2(config):
    # The config's E2 if it exists (after `make demo`), else a random one of
    # the demo's architecture: speed does not depend on its weights.
    e2, _ = bench_reconstruct.identity_encoder(config, seed=0)
  state, state_sh = train.create_sharded_state(config, mesh, e2)
  step_fn = train.make_step_fn(config, state_sh, mesh)
  size = config.data.image_size
  images = np.random.RandomState(0).randint(
      0, 256, (args.batch_size, size, size, 3)).astype(np.uint8)
  batch = {"image": images}
  if input_pipeline.wants_pose_labels(config):
    # Camera labels for Q's real-pose term (loss.real_pose_weight).
    batch.update(yaw=np.zeros(args.batch_size, np.float32),
                 pitch=np.zeros(args.batch_size, np.float32))
  batch = sharding.global_batch(batch, mesh)
  rng = jax.random.key(0)

  t0 = time.perf_counter()
  hparams = train_step.config_hparams(config)
  compiled = step_fn.lower(state, batch, rng, hparams).compile()
  compile_s = time.perf_counter() - t0
  for _ in range(args.warmup):
    state, metrics = compiled(state, batch, rng, hparams)
  jax.block_until_ready(metrics)
  t0 = time.perf_counter()
  for _ in range(args.steps):
    state, metrics = compiled(state, batch, rng, hparams)
  jax.block_until_ready(metrics)
  elapsed = time.perf_counter() - t0

  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # one entry per computation
    cost = cost[0] if cost else {}
  flops = float((cost or {}).get("flops", 0.0))
  stats = jax.devices()[0].memory_stats() or {}
  tflops = flops / 1e12 * args.steps / elapsed
  peak = peak_tflops(jax.devices()[0].device_kind)
  result = dict(
      benchmark="train_step",
      config=args.config,
      overrides=args.set,
      batch_size=args.batch_size,
      image_size=size,
      images_per_sec=round(args.steps * args.batch_size / elapsed, 3),
      sec_per_step=round(elapsed / args.steps, 4),
      compile_sec=round(compile_s, 2),
      gflop_per_step=round(flops / 1e9, 2),
      gflop_per_image=round(flops / 1e9 / args.batch_size, 3),
      compute_dtype=config.train.compute_dtype,
      achieved_gflops=round(flops / 1e9 * args.steps / elapsed, 1),
      achieved_tflops=round(tflops, 4),
      # cost_analysis counts the per-device (partitioned) program.
      mfu=None if peak is None else round(tflops / peak, 4),
      peak_host_rss_gb=round(
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
      peak_device_gb=round(stats.get("peak_bytes_in_use", 0) / 2**30, 3),
      g_params=layers.count_params(state.g_params),
      d_params=layers.count_params(state.d_params),
      devices=f"{jax.device_count()}x{jax.devices()[0].device_kind}",
      host=platform.processor() or platform.machine(),
      loss_finite=bool(metrics["finite"]),
  )
  print(json.dumps(result))


if __name__ == "__main__":
  main()
