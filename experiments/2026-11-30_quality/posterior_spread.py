"""How noisy are the codes Q's reconstruction terms render?

For each code, on the demo photos (``runs/demo/photos/*.png``, made by
``make demo``): Q's posterior standard deviation (mean of exp(logvar / 2))
beside the spread of its means across the photos (standard deviation over
photos, averaged over dimensions). One JSON line per code.

  python experiments/2026-11-30_quality/posterior_spread.py \\
      runs/quality/A7_triplane [PHOTO_DIR]
"""

import json
import pathlib
import sys

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import encoders
from jaxface import image_io
from jaxface import workdir as workdir_lib


def main():
  workdir = sys.argv[1]
  photos = pathlib.Path(sys.argv[2] if len(sys.argv) > 2
                        else "runs/demo/photos")
  config, networks, step = workdir_lib.restore(workdir)
  q = nnx.merge(networks.q_graphdef, networks.q_params)
  size = config.data.image_size
  images = np.stack([image_io.load_image(p, size)
                     for p in sorted(photos.glob("*.png"))])
  encoding = q(encoders.to_model_range(jnp.asarray(images)))
  for name in ("z_shape", "z_app", "z_bg_shape", "z_bg_app"):
    logvar, mean = getattr(encoding.logvar, name), getattr(encoding.mean, name)
    print(json.dumps(dict(
        workdir=workdir, step=step, code=name, photos=len(images),
        posterior_std=float(jnp.mean(jnp.exp(0.5 * logvar))),
        spread_of_means=float(jnp.mean(jnp.std(mean, axis=0))))))


if __name__ == "__main__":
  main()
