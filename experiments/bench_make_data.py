"""Throughput of synthetic face generation on this machine.

Prints one JSON line per image size: the compile time of the batched
renderer, rendering throughput after warm-up (images/s, wall clock and per
CPU-second), and the end-to-end throughput of building a data set of about
``--num`` images (rendering + encoding + writing array_record files).

  python experiments/bench_make_data.py --size 64 --size 128 --num 256
"""

import argparse
import json
import os
import tempfile
import time

import jax
import numpy as np

from jaxface.data import synthetic_faces


def bench(size: int, num: int, views: int, build: bool) -> dict:
  config = synthetic_faces.make_config(
      train_identities=max(1, num // views), test_identities=0, views=views,
      size=size, seed=0)
  batch = synthetic_faces.batch_size_for(config)
  ids, view_ids = synthetic_faces.split_ids(config, "train")
  start = time.perf_counter()
  synthetic_faces.render_examples(config, ids[:batch], view_ids[:batch])
  compile_s = time.perf_counter() - start

  wall, cpu = time.perf_counter(), time.process_time()
  synthetic_faces.render_examples(config, ids, view_ids)
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  result = {
      "size": size,
      "images": len(ids),
      "batch": batch,
      "supersample": config.supersample,
      "compile_s": round(compile_s, 2),
      "render_images_per_s": round(len(ids) / wall, 2),
      "render_images_per_cpu_s": round(len(ids) / cpu, 2),
      "cpus": os.cpu_count(),
      "backend": jax.default_backend(),
  }
  if build:
    with tempfile.TemporaryDirectory() as data_dir:
      wall = time.perf_counter()
      synthetic_faces.build(
          data_dir, train_identities=config.train_identities,
          test_identities=0, views=views, size=size, seed=0, progress=False)
      wall = time.perf_counter() - wall
    result["build_images_per_s"] = round(len(ids) / wall, 2)
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--size", type=int, action="append",
                      help="image size; repeat for several (default 64)")
  parser.add_argument("--num", type=int, default=256, help="images to time")
  parser.add_argument("--views", type=int, default=8)
  parser.add_argument("--no-build", dest="build", action="store_false",
                      help="skip the end-to-end tfds build")
  args = parser.parse_args()
  for size in args.size or [64]:
    print(json.dumps(bench(size, args.num, args.views, args.build)),
          flush=True)


if __name__ == "__main__":
  np.set_printoptions(precision=3)
  main()
