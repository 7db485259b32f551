"""Is Q's pose error noise, or a bias it shares across faces?

Q estimates the pose of every view of every held-out identity (clean set,
at the run's size). For yaw and pitch, relative to the pose prior's
centre, this fits ``estimate = slope * truth + offset`` by least
squares: a slope under 1 means Q pulls poses towards the centre, an offset
is a constant turn. It also gives the mean absolute error before and after
removing that fit (what is left is per-face noise). Two JSON lines per run:
Q's own reading (``"mirror": false``), and Q's reading averaged with that of
the image flipped left to right (``"mirror": true``, the test-time
``refine.mirror_pose``).

  python experiments/2026-11-30_quality/pose_bias.py runs/demo [RUN ...]
"""

import json
import sys

import numpy as np

from jaxface import camera as camera_lib
from jaxface import reconstruct
from jaxface import workdir as workdir_lib
from jaxface.data import held_out as held_out_lib


def fit(truth: np.ndarray, estimate: np.ndarray) -> dict:
  """Least-squares line of ``estimate`` on ``truth`` (degrees) and errors."""
  slope, offset = np.polyfit(truth, estimate, 1)
  residual = estimate - (slope * truth + offset)
  return dict(slope=float(slope), offset_deg=float(offset),
              mean_abs_error_deg=float(np.mean(np.abs(estimate - truth))),
              mean_abs_error_after_fit_deg=float(np.mean(np.abs(residual))),
              truth_std_deg=float(np.std(truth)))


def main():
  for workdir in sys.argv[1:]:
    config, networks, step = workdir_lib.restore(workdir)
    held_out = held_out_lib.load(config.data, None, "clean")
    (yaw_centre, _), (pitch_centre, _) = camera_lib.pose_range(config.camera)
    views = held_out.images.shape[1]
    for mirror in (False, True):
      estimates = [reconstruct.encode(networks, held_out.images[:, v],
                                      mirror=mirror) for v in range(views)]
      row = dict(workdir=workdir, step=step, mirror=mirror,
                 images=int(held_out.images.shape[0] * views))
      for name, centre in (("yaw", yaw_centre), ("pitch", pitch_centre)):
        truth = np.degrees(np.asarray(getattr(held_out, name)) - centre)
        guess = np.degrees(np.stack(
            [np.asarray(getattr(e, name)) for e in estimates], axis=1)
                           - centre)
        row[name] = fit(truth.ravel(), guess.ravel())
      print(json.dumps(row))


if __name__ == "__main__":
  main()
