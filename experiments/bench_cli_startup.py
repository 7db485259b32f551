"""What a short `jaxface train` process costs before and after its steps.

The test suite launches `jaxface train` on the tiny config some twenty
times, and a hyperparameter grid of separate runs pays the same start-up per
run. Each run here is a fresh process training the tiny config for
``--steps`` steps on a folder of 24 small images, with the suite's compile
flags (``--xla_backend_optimization_level=0``) and a persistent compilation
cache that the first run fills: run 0 is cold, the others warm.

Prints one JSON line per run: wall seconds, and how many XLA programs the
process compiled or loaded from the cache (``JAX_LOG_COMPILES``).

  python experiments/bench_cli_startup.py --runs 3
  python experiments/bench_cli_startup.py --runs 3 --devices 8
  python experiments/bench_cli_startup.py --repo OTHER_CHECKOUT  # compare

``--repo`` runs another checkout's `jaxface` (``python -m jaxface.main`` in
that directory) with this script's settings, for before/after figures.
"""

import argparse
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]


def write_images(folder: pathlib.Path, count: int = 24, size: int = 24):
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(0)
  for i in range(count):
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(image).save(folder / f"{i:03d}.png")
  return folder


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--runs", type=int, default=3)
  parser.add_argument("--steps", type=int, default=2)
  parser.add_argument("--devices", type=int, default=1,
                      help="fake CPU devices per process (mesh over all)")
  parser.add_argument("--repo", default=str(REPO),
                      help="checkout whose jaxface runs")
  args = parser.parse_args()

  tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_cli_startup_"))
  folder = write_images(tmp / "images")
  flags = "--xla_backend_optimization_level=0"
  if args.devices > 1:
    flags += f" --xla_force_host_platform_device_count={args.devices}"
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags,
             JAX_COMPILATION_CACHE_DIR=str(tmp / "cache"),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
             JAX_LOG_COMPILES="1")
  for run in range(args.runs):
    command = [sys.executable, "-m", "jaxface.main", "train",
               "--config=configs/tiny.py", "--config.data.name=image_folder",
               f"--config.data.data_dir={folder}",
               f"--config.train.num_steps={args.steps}",
               "--workdir", str(tmp / f"run{run}")]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=args.repo, env=env,
                            capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode:
      sys.exit(f"run {run} failed:\n{result.stderr[-2000:]}")
    compiled = re.findall(r"Finished XLA compilation of (\S+) in",
                          result.stderr)
    print(json.dumps(dict(
        bench="cli_startup", repo=args.repo, run=run,
        cache="cold" if run == 0 else "warm", devices=args.devices,
        steps=args.steps, wall_s=round(wall, 2),
        programs_compiled=len(compiled),
        slice_programs=sum(c.startswith("jit(slice)") for c in compiled),
        cache_hits=result.stderr.count("Persistent compilation cache hit"),
        machine=platform.processor() or platform.machine(),
        cpus=os.cpu_count())), flush=True)


if __name__ == "__main__":
  main()
