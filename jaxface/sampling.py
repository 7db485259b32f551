"""Sample faces from a generator: multi-view grids and orbit animations.

Everything is a pure function of (params, seed), jitted, with fixed depth
samples (no jitter), so renders are bit-for-bit reproducible.
"""

import functools
import pathlib

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import generator


@functools.partial(jax.jit, static_argnums=0)
def _render_faces(graphdef, params, latents, cams):
  """Renders every face from every camera.

  Args:
    graphdef: generator graph definition (static).
    params: generator parameters.
    latents: codes of batch size ``num_faces``.
    cams: cameras of batch size ``num_views``.

  Returns:
    [num_faces, num_views, size, size, 3] images in [0, 1].
  """
  model = nnx.merge(graphdef, params)
  num_views = cams.yaw.shape[0]

  def render_face(face_latents):
    tiled = jax.tree.map(
        lambda z: jnp.broadcast_to(z, (num_views,) + z.shape), face_latents)
    return model(tiled, cams).images

  return jax.lax.map(render_face, latents)


def render_views(graphdef, params, config, *, seed: int, num_faces: int,
                 num_views: int, camera_config=None) -> np.ndarray:
  """Random faces seen from ``num_views`` yaws across the camera prior.

  Args:
    graphdef: generator graph definition.
    params: generator parameters (use the EMA weights).
    config: run config (``field``, ``camera``).
    seed: latent seed.
    num_faces: rows.
    num_views: columns, left to right.
    camera_config: overrides ``config.camera`` (e.g. a wider yaw range).

  Returns:
    uint8 [num_faces, num_views, size, size, 3].
  """
  latents = generator.sample_latents(jax.random.key(seed), num_faces,
                                     config.field)
  cams = camera_lib.orbit(num_views, camera_config or config.camera)
  return to_uint8(_render_faces(graphdef, params, latents, cams))


def to_uint8(images) -> np.ndarray:
  return np.asarray(jnp.round(jnp.clip(images, 0.0, 1.0) * 255.0), np.uint8)


def make_grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
  """[rows, cols, h, w, 3] -> one [rows*(h+pad)+pad, cols*(w+pad)+pad, 3]."""
  rows, cols, h, w, c = images.shape
  grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255,
                 np.uint8)
  for r in range(rows):
    for k in range(cols):
      y, x = pad + r * (h + pad), pad + k * (w + pad)
      grid[y:y + h, x:x + w] = images[r, k]
  return grid


def write_grid(path, images: np.ndarray, upscale: int = 1):
  grid = make_grid(images)
  if upscale > 1:
    grid = np.repeat(np.repeat(grid, upscale, axis=0), upscale, axis=1)
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  iio.imwrite(path, grid)


def write_orbit(path, graphdef, params, config, *, seed: int, num_faces: int,
                num_frames: int, upscale: int = 2):
  """An animated GIF of faces turning left-right-left through the prior."""
  views = render_views(graphdef, params, config, seed=seed,
                       num_faces=num_faces, num_views=num_frames)
  frames = [make_grid(views[:, i][None]) for i in range(num_frames)]
  frames = frames + frames[-2:0:-1]  # back and forth: seamless loop
  if upscale > 1:
    frames = [np.repeat(np.repeat(f, upscale, 0), upscale, 1) for f in frames]
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  iio.imwrite(path, np.stack(frames), duration=80, loop=0)
