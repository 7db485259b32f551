"""A K-member sweep as one vmapped step against K sequential runs.

Two measurements, one JSON line per K each:

* ``step``: seconds per step of the compiled K-member step against K steps
  of a plain run (K x one run's step), the speedup, images/s per member,
  and the compiled step's memory (XLA's ``memory_analysis``: arguments,
  outputs and temporaries). Random uint8 images stand in for data.
* ``--end-to-end N``: wall time of ``jaxface sweep`` over K learning rates
  for N steps against K ``jaxface train`` commands one after the other,
  each a fresh process as a user runs them (start-up, data, compilation,
  logging and checkpoints included).

  python experiments/bench_sweep.py --config configs/tiny.py --members 1 2 4 8
  python experiments/bench_sweep.py --config configs/tiny.py --members 4 \
      --end-to-end 200
"""

import argparse
import json
import os
import pathlib
import platform
import runpy
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from PIL import Image
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import bench_reconstruct  # same directory: its E2 helper

from jaxface import identity_branch
from jaxface import sharding
from jaxface import sweep
from jaxface import train
from jaxface import train_step
from jaxface import train_state as train_state_lib


def _time(fn, state, args, steps, warmup):
  for _ in range(warmup):
    state, *rest = fn(state, *args)
  jax.block_until_ready(rest)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, *rest = fn(state, *args)
  jax.block_until_ready(rest)
  return (time.perf_counter() - t0) / steps


def _memory_gb(compiled) -> float:
  m = compiled.memory_analysis()
  if m is None:
    return float("nan")
  total = (m.argument_size_in_bytes + m.output_size_in_bytes
           + m.temp_size_in_bytes - m.alias_size_in_bytes)
  return round(total / 2**30, 4)


REPO = pathlib.Path(__file__).resolve().parents[1]


def _end_to_end(config_path: str, k: int, steps: int) -> dict:
  """Wall seconds: K `jaxface train` one after another, one `jaxface sweep`."""
  lrs = [f"{lr:.3g}" for lr in np.geomspace(1e-5, 1e-3, k)]
  common = [f"--config={config_path}", f"--config.train.num_steps={steps}",
            "--config.ckpt.every_steps=50", "--config.log.every_steps=10",
            "--config.log.progress_bar=False"]
  cli = [sys.executable, "-m", "jaxface.main"]
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  with tempfile.TemporaryDirectory() as tmp:
    # Random images: data is not what is measured.
    folder = pathlib.Path(tmp) / "images"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for i in range(64):
      Image.fromarray(rng.randint(0, 256, (32, 32, 3), np.uint8)).save(
          folder / f"{i}.png")
    common += ["--config.data.name=image_folder",
               f"--config.data.data_dir={folder}"]
    t0 = time.perf_counter()
    for i, lr in enumerate(lrs):
      subprocess.run(cli + ["train", *common, f"--config.optim.g_lr={lr}",
                            "--workdir", f"{tmp}/run{i}"], check=True,
                     cwd=REPO, env=env, capture_output=True)
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(cli + ["sweep", *common, "--grid",
                          "optim.g_lr=" + ",".join(lrs), "--workdir",
                          f"{tmp}/sweep"], check=True, cwd=REPO, env=env,
                   capture_output=True)
    swept = time.perf_counter() - t0
  return dict(sequential_runs_sec=round(sequential, 1),
              sweep_sec=round(swept, 1),
              speedup=round(sequential / swept, 3))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--config", default="configs/tiny.py")
  parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 4, 8])
  parser.add_argument("--batch-size", type=int, default=None)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--members-in", default="auto",
                      choices=["auto", "vmap", "unroll"])
  parser.add_argument("--end-to-end", type=int, default=0, metavar="STEPS",
                      help="also time the commands for this many steps")
  args = parser.parse_args()

  config_path = str(pathlib.Path(args.config).resolve())
  config = runpy.run_path(config_path)["get_config"]()
  if args.batch_size:
    config.train.batch_size = args.batch_size
  config.mesh.data = 1
  config.sweep = dict(members_in=args.members_in)
  e2 = None
  if identity_branch.needs_e2(config):
    e2, _ = bench_reconstruct.identity_encoder(config, seed=0)
  size, batch_size = config.data.image_size, config.train.batch_size
  images = np.random.RandomState(0).randint(
      0, 256, (batch_size, size, size, 3)).astype(np.uint8)
  rng = jax.random.key(0)

  # One plain run's step: K sequential runs cost K of these.
  mesh = sharding.make_mesh(config)
  state, state_sh = train.create_sharded_state(config, mesh, e2)
  plain = train.make_step_fn(config, state_sh, mesh)
  batch = sharding.global_batch({"image": images}, mesh)
  hparams = train_step.config_hparams(config)
  plain_compiled = plain.lower(state, batch, rng, hparams).compile()
  plain_s = _time(plain_compiled, state, (batch, rng, hparams), args.steps,
                  args.warmup)
  plain_gb = _memory_gb(plain_compiled)

  for k in args.members:
    grid = {"optim.g_lr": list(np.geomspace(1e-5, 1e-3, k))}
    members = sweep.members_of(grid)
    structure = sweep.structure_config(config, members)
    sweep_mesh = sweep.make_mesh(structure, k)
    one = train_state_lib.create_train_state(structure, e2)
    step_fn, state_sharding, batch_sharding = sweep.make_step_fn(
        structure, one, sweep_mesh)
    stacked = jax.device_put(sweep._stack([one] * k), state_sharding)  # pylint: disable=protected-access
    by_member = NamedSharding(sweep_mesh, P("member"))
    hparams = jax.device_put(sweep._hparams(members), by_member)  # pylint: disable=protected-access
    active = jax.device_put(np.ones(k, bool), by_member)
    batch = jax.device_put({"image": images}, batch_sharding)
    compiled = step_fn.lower(stacked, batch, rng, hparams, active).compile()
    sweep_s = _time(compiled, stacked, (batch, rng, hparams, active),
                    args.steps, args.warmup)
    print(json.dumps(dict(
        benchmark="sweep_step", config=args.config, members=k,
        members_in=args.members_in,
        batch_size=batch_size, image_size=size,
        sweep_sec_per_step=round(sweep_s, 4),
        sequential_sec_per_step=round(k * plain_s, 4),
        speedup=round(k * plain_s / sweep_s, 3),
        images_per_sec_per_member=round(batch_size / sweep_s, 2),
        plain_images_per_sec=round(batch_size / plain_s, 2),
        sweep_step_memory_gb=_memory_gb(compiled),
        plain_step_memory_gb=plain_gb,
        devices=f"{jax.device_count()}x{jax.devices()[0].device_kind}",
        host=platform.processor() or platform.machine())), flush=True)
    if args.end_to_end:
      print(json.dumps(dict(
          benchmark="sweep_end_to_end", config=args.config, members=k,
          steps=args.end_to_end,
          **_end_to_end(config_path, k, args.end_to_end))), flush=True)


if __name__ == "__main__":
  main()
