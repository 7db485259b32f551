"""Per-identity feed-forward scores: how noisy is a mean over 8 identities?

Each run's Q encodes view 0 of every held-out identity (as ``evaluate``
does) and each identity's novel views are scored with ``evaluate``'s
per-view metrics; so is copying the input view. Prints one JSON line per
(run, set): the mean over identities of the novel-view PSNR inside the
head, of the gain over copying and of how far the novel views turn from
the input (mean |yaw difference|), their standard deviations and errors
over identities, and the means over the first 8 identities (the runs' own held-out set)
beside those over the rest. Given two or more runs, also the paired
difference of each run from the first, with its standard error: the
noise a comparison of two runs on these identities carries.

  python experiments/2026-11-30_quality/per_identity.py \\
      --test-identities 32 RUN [RUN ...] >> rows.jsonl
"""

import argparse
import json

import numpy as np

import multiview_fit  # same directory: its Scorer

from jaxface import workdir as workdir_lib
from jaxface.data import held_out as held_out_lib

OWN = 8  # the runs' own held-out identities: the first of any larger set


def novel_per_identity(workdir, test_identities, held_out_set):
  """({name: [n]} per-identity novel-view means, the run's step)."""
  config, networks, step = workdir_lib.restore(workdir)
  if test_identities:
    held_out_lib.widen(config, test_identities)
  held_out = held_out_lib.load(config.data, None, held_out_set)
  _, per_view = multiview_fit.Scorer(config, networks,
                                     held_out).feed_forward()
  novel = lambda name: np.mean(per_view[name][:, 1:], axis=1)
  # How far the novel views turn from the input: what copying it depends on.
  turn = np.degrees(np.mean(np.abs(held_out.yaw[:, 1:] - held_out.yaw[:, :1]),
                            axis=1))
  return dict(psnr=novel("psnr_head"), copy=novel("psnr_head_copy"),
              yaw_difference_deg=turn), step


def stats(values):
  """Mean, standard deviation and standard error over identities, and the
  means over the runs' own identities and over the rest."""
  values = np.asarray(values, np.float64)
  sd = float(values.std(ddof=1))
  return dict(mean=float(values.mean()), sd=sd,
              se=sd / np.sqrt(len(values)),
              own=float(values[:OWN].mean()),
              rest=float(values[OWN:].mean()) if len(values) > OWN else None)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdirs", nargs="+")
  parser.add_argument("--test-identities", type=int, default=None,
                      help="score the data built with this many (as "
                      "`evaluate --test-identities`)")
  parser.add_argument("--sets", default="clean,wild")
  args = parser.parse_args()
  for held_out_set in args.sets.split(","):
    first = None
    for workdir in args.workdirs:
      scores, step = novel_per_identity(workdir, args.test_identities,
                                        held_out_set)
      row = dict(workdir=workdir, step=step, set=held_out_set,
                 identities=len(scores["psnr"]),
                 psnr_head_novel=stats(scores["psnr"]),
                 gain_copy=stats(scores["psnr"] - scores["copy"]),
                 copy=stats(scores["copy"]),
                 yaw_difference_deg=stats(scores["yaw_difference_deg"]))
      if first is None:
        first = scores
      else:
        row["minus_first"] = stats(scores["psnr"] - first["psnr"])
      print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
