"""Are two runs' networks, or two data sets' training splits, the same?

``--runs A B``: the largest absolute difference between the two runs'
inference networks (``workdir.restore``: the EMA generator and the Q
inference reads, an EMA of Q where the run keeps one), and between Q's
last weights. ``--data A B``: how many training examples of two prepared
synthetic_faces sets (their ``<config>/<version>`` directories) are equal,
feature by feature, at the same index. One JSON line each.

  python experiments/2026-11-30_quality/same_as.py --runs runs/demo runs/demo_ids8
  python experiments/2026-11-30_quality/same_as.py --data \\
      data/synthetic_faces/ids384-test8-views8-size32-seed0/1.1.0 \\
      data/synthetic_faces/ids384-test32-views8-size32-seed0/1.1.0
"""

import argparse
import json

import jax
import numpy as np
import tensorflow_datasets as tfds

from jaxface import checkpoint as checkpoint_lib
from jaxface import workdir as workdir_lib


def max_difference(a, b) -> float:
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                             strict=True))


def last_q(workdir):
  """Q's last weights (``branch_params``), whatever inference reads."""
  config = workdir_lib.load_config(workdir)
  _, networks, step = workdir_lib.restore(workdir)
  ckpt = checkpoint_lib.Checkpointer(
      f"{workdir}/{workdir_lib.CHECKPOINT_DIR}", config.ckpt, read_only=True)
  try:
    target = {"branch_params": {"q": networks.q_params}}
    return ckpt.restore_arrays(target, step, partial=True)[
        "branch_params"]["q"]
  finally:
    ckpt.close()


def compare_runs(a, b) -> dict:
  (_, net_a, step_a), (_, net_b, step_b) = (workdir_lib.restore(a),
                                            workdir_lib.restore(b))
  return dict(runs=[str(a), str(b)], steps=[step_a, step_b],
              generator=max_difference(net_a.g_params, net_b.g_params),
              q_inference=max_difference(net_a.q_params, net_b.q_params),
              q_last=max_difference(last_q(a), last_q(b)))


def compare_data(a, b) -> dict:
  train_a, train_b = (tfds.builder_from_directory(d).as_data_source("train")
                      for d in (a, b))
  equal = sum(
      all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(
          jax.tree.leaves(train_a[i]), jax.tree.leaves(train_b[i]),
          strict=True))
      for i in range(min(len(train_a), len(train_b))))
  return dict(data=[str(a), str(b)], examples=[len(train_a), len(train_b)],
              equal_at_same_index=equal)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  group = parser.add_mutually_exclusive_group(required=True)
  group.add_argument("--runs", nargs=2, metavar="WORKDIR")
  group.add_argument("--data", nargs=2, metavar="DIR")
  args = parser.parse_args()
  row = compare_runs(*args.runs) if args.runs else compare_data(*args.data)
  print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
