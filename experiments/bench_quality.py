"""Reconstruction quality at a fixed training budget, as one JSON line.

Trains a config from scratch for ``--minutes`` of wall time (or ``--steps``
steps) on the built-in
synthetic faces (generated, and E2 and the identity judge pretrained, if
missing), then scores the held-out identities with ``jaxface evaluate``'s
metrics on both held-out sets, beside the copy-the-input and mean-image
baselines. Prints one JSON line: every metric, the steps and images seen,
and the machine.

  python experiments/bench_quality.py --config configs/small_cpu.py --minutes 20
  python experiments/bench_quality.py --config configs/small_cpu.py --minutes 20 \\
      --set field.downscale=2.0 --set disc.input_range='(0.0, 1.0)'
"""

import argparse
import ast
import importlib.metadata
import json
import os
import pathlib
import platform
import runpy
import time

import jax

from jaxface import checkpoint as checkpoint_lib
from jaxface import evaluate
from jaxface import export
from jaxface import identity_pretrain
from jaxface import train
from jaxface import workdir as workdir_lib
from jaxface.data import synthetic_faces

REPO = pathlib.Path(__file__).resolve().parents[1]


def _override(config, item: str):
  """``section.key=value`` (a Python literal) into ``config``."""
  key, value = item.split("=", 1)
  *sections, name = key.split(".")
  target = config
  for section in sections:
    target = target[section]
  try:
    target[name] = ast.literal_eval(value)
  except (ValueError, SyntaxError):
    target[name] = value  # a bare string


def _identity_encoder(config_name: str, data_config, cache: pathlib.Path,
                      own_identities: bool = False,
                      identities: int | None = None,
                      **overrides) -> pathlib.Path:
  """A pretrained face-ID network for the data, made once per data set.

  With ``own_identities`` it trains on the number of identities its config
  names (the judge's), not the run's; with ``identities``, on that many of
  the run's training identities (the first ones: a data set's identities do
  not depend on how many it has). Such data sets are made if missing.
  The network trains on renders at its own input size (it resizes whatever
  it reads to that size), so one network serves runs at every image size,
  and which run made the cache does not change it.
  """
  config = runpy.run_path(str(REPO / "configs" / f"{config_name}.py"))[
      "get_config"]()
  if identities is None:
    identities = (config.data.train_identities if own_identities
                  else data_config.train_identities)
  size = config.identity.input_size
  directory = cache / f"{config_name}-{identities}"
  encoder = directory / "identity_encoder"
  if not (encoder / "identity_config.json").is_file():
    synthetic_faces.build(data_config.data_dir, train_identities=identities,
                          test_identities=data_config.test_identities,
                          views=data_config.views, size=size,
                          seed=data_config.seed, progress=False)
    config.data.update(data_dir=data_config.data_dir,
                       train_identities=identities,
                       test_identities=data_config.test_identities,
                       views=data_config.views, image_size=size,
                       seed=data_config.seed)
    config.log.progress_bar = False
    for key, value in overrides.items():
      config[key].update(value)
    identity_pretrain.pretrain(config, directory)
  return encoder


def _machine() -> dict:
  cpu = platform.processor() or platform.machine()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  # Figures repeat to the last digit only on the same CPU model and
  # library versions: either can change float rounding, and a GAN's
  # trajectory drifts from there.
  versions = {name: importlib.metadata.version(name)
              for name in ("jax", "jaxlib", "flax", "numpy", "pillow")}
  return dict(cpu=cpu, cores=os.cpu_count(),
              devices=f"{jax.device_count()}x{jax.devices()[0].device_kind}",
              versions=versions)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/small_cpu.py")
  budget = parser.add_mutually_exclusive_group(required=True)
  budget.add_argument("--minutes", type=float,
                      help="training budget in wall time")
  budget.add_argument("--steps", type=int,
                      help="training budget in steps (robust to a busy "
                           "machine)")
  parser.add_argument("--set", action="append", default=[],
                      help="override, e.g. field.downscale=2.0 (repeatable)")
  parser.add_argument("--workdir", default=None,
                      help="the run (default runs/quality/<time>)")
  parser.add_argument("--data-dir", default="data")
  parser.add_argument("--cache", default="runs/quality_cache",
                      help="where E2 and the judge are pretrained once")
  parser.add_argument("--eval-identities", type=int, default=None)
  parser.add_argument("--encoder-identities", type=int, default=None,
                      help="pretrain E2 on this many training identities "
                           "(default: all of the run's), so runs on "
                           "different amounts of data can share one E2")
  parser.add_argument("--refine-steps", type=int, default=0)
  parser.add_argument("--mesh-resolution", type=int, default=64)
  args = parser.parse_args()

  config = runpy.run_path(args.config)["get_config"]()
  config.data.data_dir = str(pathlib.Path(args.data_dir).absolute())
  for item in args.set:
    _override(config, item)
  dc = config.data
  synthetic_faces.build(dc.data_dir, train_identities=dc.train_identities,
                        test_identities=dc.test_identities, views=dc.views,
                        size=dc.image_size, seed=dc.seed, progress=False)
  cache = pathlib.Path(args.cache).absolute()
  config.identity.encoder_dir = str(_identity_encoder(
      "identity_synthetic", dc, cache, identities=args.encoder_identities))
  config.identity.judge_dir = str(_identity_encoder(
      "identity_judge", dc, cache, own_identities=True))
  if args.minutes:
    config.train.update(max_minutes=args.minutes, num_steps=10 ** 9)
  else:
    config.train.update(max_minutes=0.0, num_steps=args.steps)
  config.log.progress_bar = False
  workdir = pathlib.Path(args.workdir or REPO / "runs" / "quality" /
                         time.strftime("%Y%m%d-%H%M%S"))

  # A run continued from its own checkpoint: train_sec and sec_per_step
  # then cover the steps this call ran, not the whole run.
  ckpt_dir = workdir / workdir_lib.CHECKPOINT_DIR
  resumed_from = 0
  if ckpt_dir.is_dir():
    resumed_from = checkpoint_lib.Checkpointer(
        ckpt_dir, config.ckpt, read_only=True).latest_step() or 0
  start = time.perf_counter()
  state = train.train_and_evaluate(config, workdir)
  train_s = time.perf_counter() - start
  steps = int(state.step)
  config, networks, _ = workdir_lib.restore(workdir)
  start = time.perf_counter()
  results, figures = evaluate.evaluate(
      config, networks, num_identities=args.eval_identities,
      refine_steps=args.refine_steps, judge=workdir_lib.judge(config),
      mesh_resolution=args.mesh_resolution, with_views=True)
  for name, figure in figures.items():  # truth above model, per identity
    export.write_png(workdir / "eval" / f"views_{name}.png", figure, 3)
  line = dict(bench="quality", config=args.config, overrides=args.set,
              encoder_identities=args.encoder_identities,
              minutes=args.minutes, train_sec=round(train_s, 1),
              resumed_from_step=resumed_from,
              sec_per_step=round(train_s / max(steps - resumed_from, 1), 3),
              eval_sec=round(time.perf_counter() - start, 1), steps=steps,
              images_seen=steps * config.train.batch_size,
              workdir=str(workdir), **_machine(), **results)
  print(json.dumps(line))


if __name__ == "__main__":
  main()
