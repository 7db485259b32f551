"""Throughput of E2 pretraining steps (``identity_pretrain.make_train_step``).

Times the jitted margin-loss step (forward, backward, optimiser, BatchNorm
statistics, augmentation) of each architecture in ``--archs``:

* ``config``: the E2 of ``--config`` (the demo's reduced IResNet on 32x32
  synthetic faces) at the config's batch size and ``data.train_identities``
  classes;
* ``lightcnn29v2``: the public LightCNN-29 v2 at 128x128 grayscale;
* ``iresnet50``: the public ArcFace IResNet-50 at 112x112;

the public forms at ``--batch-size`` with ``--num-classes`` classes
(CASIA-WebFace's 10,575 by default). Loss and optimiser are the config's.
Random uint8 images and labels stand in for data: only speed is measured.

Each architecture runs in its own process, so ``peak_rss_gb`` is its own.
One JSON line per architecture.

  python experiments/bench_identity_pretrain.py \
      --archs config,lightcnn29v2,iresnet50 --batch-size 8 --steps 3
"""

import argparse
import json
import multiprocessing
import resource
import runpy
import time

import jax
import numpy as np
from flax import nnx

from jaxface import identity
from jaxface import identity_pretrain
from jaxface import layers

# CASIA-WebFace, the usual public training set at this scale.
_CASIA_IDENTITIES = 10575
_PUBLIC = {
    "lightcnn29v2": identity.default_config("lightcnn29v2"),
    "iresnet50": identity.default_config("iresnet"),
}


def run_one(args, arch: str):
  """Builds, compiles and times one architecture; prints its line."""
  config = runpy.run_path(args.config)["get_config"]()
  if arch == "config":
    e2_config = config.identity
    batch = args.config_batch_size or config.train.batch_size
    num_classes = config.data.train_identities
  else:
    e2_config = _PUBLIC[arch]
    batch, num_classes = args.batch_size, args.num_classes
  # As in identity_pretrain.pretrain: BatchNorm on batch statistics.
  model = identity.make_identity_encoder(e2_config, nnx.Rngs(0))
  model.train()
  graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  dim = identity.embedding_dim(model)
  rng = np.random.default_rng(0)
  params = {"encoder": nnx.to_pure_dict(params),
            "weights": 0.01 * rng.standard_normal(
                (dim, num_classes)).astype(np.float32)}
  stats = nnx.to_pure_dict(stats)
  # The optimiser pretrain builds (its cosine schedule needs the step count).
  tx = identity_pretrain._optimizer(  # pylint: disable=protected-access
      config.optim, config.train.num_steps)
  opt_state = tx.init(params)
  step_fn = identity_pretrain.make_train_step(graphdef, tx, config.loss,
                                              augment=True)
  size = model.input_size
  images = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
  labels = rng.integers(0, num_classes, batch).astype(np.int32)
  key = jax.random.key(0)

  t0 = time.perf_counter()
  compiled = step_fn.lower(params, stats, opt_state, images, labels,
                           key).compile()
  compile_s = time.perf_counter() - t0
  # The step donates params, stats and opt_state: always feed its outputs.
  for _ in range(args.warmup):
    params, stats, opt_state, metrics = compiled(params, stats, opt_state,
                                                 images, labels, key)
  jax.block_until_ready(metrics)
  t0 = time.perf_counter()
  for _ in range(args.steps):
    params, stats, opt_state, metrics = compiled(params, stats, opt_state,
                                                 images, labels, key)
  jax.block_until_ready((params, metrics))
  elapsed = time.perf_counter() - t0

  print(json.dumps(dict(
      bench="identity_pretrain",
      arch=arch,
      kind=e2_config.kind,
      config=args.config if arch == "config" else "identity.default_config",
      input_size=size,
      batch=batch,
      num_classes=num_classes,
      steps=args.steps,
      images_per_sec=round(args.steps * batch / elapsed, 2),
      ms_per_step=round(1000 * elapsed / args.steps, 1),
      compile_s=round(compile_s, 2),
      params=layers.count_params(nnx.state(model, nnx.Param)),
      class_weights=dim * num_classes,
      peak_rss_gb=round(
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
      loss_finite=bool(np.isfinite(metrics["loss"])),
      device=jax.devices()[0].device_kind,
  )), flush=True)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--config", default="configs/identity_synthetic.py")
  parser.add_argument("--archs", default="config,lightcnn29v2,iresnet50",
                      help=f"comma-separated: config, {', '.join(_PUBLIC)}")
  parser.add_argument("--batch-size", type=int, default=8,
                      help="batch of the public architectures")
  parser.add_argument("--config-batch-size", type=int, default=0,
                      help="batch of the config's E2 (0: train.batch_size)")
  parser.add_argument("--num-classes", type=int, default=_CASIA_IDENTITIES,
                      help="classes of the public architectures")
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=1)
  args = parser.parse_args()
  archs = [a for a in args.archs.split(",") if a]
  for arch in archs:
    if arch != "config" and arch not in _PUBLIC:
      parser.error(f"unknown arch {arch!r}")
  # A fresh process per architecture: its peak RSS is then its own, and a
  # large model's buffers cannot slow the next one down.
  context = multiprocessing.get_context("spawn")
  for arch in archs:
    process = context.Process(target=run_one, args=(args, arch))
    process.start()
    process.join()
    if process.exitcode:
      raise SystemExit(f"{arch} failed with exit code {process.exitcode}")


if __name__ == "__main__":
  main()
