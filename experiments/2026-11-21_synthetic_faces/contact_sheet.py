"""Contact sheet of the synthetic face data set.

Rows 1-8: eight identities seen from yaw -90, -45, 0, +45, +90 degrees
(profile to profile, wider than the training prior) with a neutral
expression. Last row: identity 0 with four expressions (neutral, smile,
open mouth, raised brows and closing eyes) at yaw 0, plus its depth map.

  python experiments/2026-11-21_synthetic_faces/contact_sheet.py \
      [--size 96] [--seed 0] [--out PATH]
"""

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxface import camera
from jaxface.data import head_model
from jaxface.data import sphere_tracer
from jaxface.data import synthetic_faces

_HERE = os.path.dirname(os.path.abspath(__file__))
_YAWS_DEG = (-90.0, -45.0, 0.0, 45.0, 90.0)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--size", type=int, default=96)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--identities", type=int, default=8)
  parser.add_argument("--out", default=os.path.join(_HERE, "contact_sheet.png"))
  args = parser.parse_args()
  size, num_ids, num_views = args.size, args.identities, len(_YAWS_DEG)

  ids = jnp.arange(num_ids)
  shape, colors = synthetic_faces.identity_params(args.seed, ids)
  e = head_model.NUM_EXPRESSION_PARAMS
  # Identity rows, then the expression row (identity 0).
  expressions = np.zeros((num_ids * num_views + 4, e), np.float32)
  names = head_model.EXPRESSION_NAMES
  expressions[-3, names.index("smile")] = 1.0
  expressions[-2, names.index("mouth_open")] = 0.8
  expressions[-2, names.index("smile")] = 0.3
  expressions[-1, names.index("brow_raise")] = 1.0
  expressions[-1, names.index("eye_close")] = 0.6
  shape_all = jnp.concatenate([jnp.repeat(shape, num_views, 0),
                               jnp.repeat(shape[:1], 4, 0)])
  colors_all = jnp.concatenate([jnp.repeat(colors, num_views, 0),
                                jnp.repeat(colors[:1], 4, 0)])
  yaws = np.concatenate([np.tile(np.deg2rad(_YAWS_DEG), num_ids),
                         np.zeros(4)]).astype(np.float32)
  batch = len(yaws)
  cams = camera.make_camera(yaws, np.deg2rad(5.0), 2.732, np.deg2rad(10.0))
  light = sphere_tracer.sample_lighting(jax.random.PRNGKey(args.seed), batch)
  render = jax.jit(synthetic_faces.render_heads, static_argnums=(5,))
  out = render(shape_all, jnp.asarray(expressions), colors_all, cams, light,
               size)
  rgb = np.asarray(out["rgb"])
  depth = np.asarray(out["depth"])

  sheet = np.ones(((num_ids + 1) * size, num_views * size, 3), np.float32)
  faces = rgb[:num_ids * num_views].reshape(num_ids, num_views, size, size, 3)
  sheet[:num_ids * size] = faces.transpose(0, 2, 1, 3, 4).reshape(
      num_ids * size, num_views * size, 3)
  last = rgb[num_ids * num_views:]
  for i in range(4):
    sheet[num_ids * size:, i * size:(i + 1) * size] = last[i]
  d = depth[num_ids * num_views]
  fg = d > 0
  near, far = d[fg].min(), d[fg].max()
  gray = np.where(fg, 1.0 - 0.8 * (d - near) / (far - near + 1e-6), 0.0)
  sheet[num_ids * size:, 4 * size:] = gray[..., None]
  Image.fromarray(np.round(sheet * 255).astype(np.uint8)).save(
      args.out, optimize=True)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
