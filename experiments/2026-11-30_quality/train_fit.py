"""Does a run fit its training faces better than held-out ones?

Scores a run's feed-forward reconstructions (Q's codes of view 0, rendered
at every view's true camera, as ``jaxface evaluate``) on the first
``--identities`` training identities and on as many held-out identities of
the "wild" set as it has (at most that many), which is made the way the
training set is (each view with its own light, expression and background).
A training face was seen
in training, a held-out one never: if both fit the input view alike, the
model is underfitting, not failing to generalise. One JSON line per set.

  python experiments/2026-11-30_quality/train_fit.py \\
      --workdir runs/quality/H64_kl1e-4 [--identities 8]
"""

import argparse
import json

from jaxface import evaluate as evaluate_lib
from jaxface import workdir as workdir_lib
from jaxface.data import held_out as held_out_lib

_KEYS = ("psnr_head_input", "psnr_head_novel", "psnr_head_copy_novel",
         "psnr_head_mean_novel", "psnr_input", "pose_error_deg",
         "opacity_head_novel")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--identities", type=int, default=8)
  args = parser.parse_args()
  # The training split read like a held-out one: its examples carry the
  # same pose, depth and mask fields.
  held_out_lib.SETS["train"] = "train"
  config, networks, step = workdir_lib.restore(args.workdir)
  results = evaluate_lib.evaluate(config, networks,
                                  num_identities=args.identities,
                                  sets=("wild", "train"))
  counts = dict(train=min(args.identities, config.data.train_identities),
                wild=min(args.identities, config.data.test_identities))
  for name in ("train", "wild"):
    line = dict(workdir=args.workdir, step=int(step), set=name,
                identities=counts[name])
    line.update({k: round(float(results[f"{name}/{k}"]), 3) for k in _KEYS
                 if f"{name}/{k}" in results})
    print(json.dumps(line))


if __name__ == "__main__":
  main()
