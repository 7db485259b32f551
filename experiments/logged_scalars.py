"""Scalars a run logged, as JSON lines: the curves behind a note's figures.

  python experiments/logged_scalars.py --workdir runs/quality/K4_density_scale \
      --tag eval/clean/opacity_head_novel --tag eval/clean/psnr_head_novel

prints one line per logged step, {"workdir", "step", <tag>: value, ...},
from the run's TensorBoard event files (``WORKDIR/tb``).
"""

import argparse
import json
import pathlib
import sys

from jaxface import summary


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--tag", action="append", required=True,
                      help="a logged tag, exactly; repeat for more")
  args = parser.parse_args()
  tb = pathlib.Path(args.workdir) / "tb"
  scalars = summary.read_scalars(tb)
  missing = [tag for tag in args.tag if tag not in scalars]
  if missing:
    sys.exit(f"error: {tb} has no {', '.join(missing)}")
  steps = sorted({step for tag in args.tag for step, _ in scalars[tag]})
  for step in steps:
    row = {"workdir": args.workdir, "step": step}
    for tag in args.tag:
      row.update({tag: value for s, value in scalars[tag] if s == step})
    print(json.dumps(row))


if __name__ == "__main__":
  main()
