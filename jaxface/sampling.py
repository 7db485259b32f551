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
from jaxface import rays as rays_lib


@functools.partial(jax.jit, static_argnums=0)
def render_faces(graphdef, params, latents, cams):
  """Renders every face from every camera.

  Args:
    graphdef: generator graph definition (static).
    params: generator parameters.
    latents: codes of batch size ``num_faces``.
    cams: cameras of batch size ``num_views``.

  Returns:
    ``structs.GeneratorOutput`` whose fields have two leading axes
    [num_faces, num_views].
  """
  model = nnx.merge(graphdef, params)
  num_views = cams.yaw.shape[0]

  def render_face(face_latents):
    tiled = jax.tree.map(
        lambda z: jnp.broadcast_to(z, (num_views,) + z.shape), face_latents)
    return model(tiled, cams)

  return jax.lax.map(render_face, latents)


def sample_views(graphdef, params, config, *, seed: int, num_faces: int,
                 num_views: int, camera_config=None):
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
    ``structs.GeneratorOutput`` with leading axes [num_faces, num_views].
  """
  # One small program, not some thirty op-by-op ones (each compiled anew in
  # every process: too small for the persistent cache).
  latents, cams = jax.jit(lambda: (
      generator.sample_latents(jax.random.key(seed), num_faces, config.field),
      camera_lib.orbit(num_views, camera_config or config.camera)))()
  return render_faces(graphdef, params, latents, cams)


def depth_to_uint8(depth, opacity, config, size: int) -> np.ndarray:
  """Depth maps as grey images: near is bright, empty space is black.

  The grey ramp spans the object box seen from the mean camera radius, so
  maps from different runs and views are comparable.

  Args:
    depth: [..., h, w] camera-axis depth.
    opacity: [..., h, w] foreground opacity.
    config: run config (``camera``, ``render``).
    size: output side (nearest-neighbour upsampling of the h x w maps).

  Returns:
    uint8 [..., size, size, 3].
  """
  radius = 0.5 * sum(config.camera.radius_range)
  half = rays_lib.box_half_size(config.render)
  near, far = radius - half, radius + half
  grey = np.clip((far - np.asarray(depth)) / (far - near), 0.0, 1.0)
  grey = grey * np.clip(np.asarray(opacity), 0.0, 1.0)
  scale = size // grey.shape[-1]
  grey = np.repeat(np.repeat(grey, scale, axis=-2), scale, axis=-1)
  return np.repeat(np.round(grey * 255).astype(np.uint8)[..., None], 3, -1)


def render_views(graphdef, params, config, *, seed: int, num_faces: int,
                 num_views: int, camera_config=None) -> np.ndarray:
  """``sample_views`` (same arguments) as uint8 RGB.

  Returns:
    uint8 [num_faces, num_views, size, size, 3].
  """
  out = sample_views(graphdef, params, config, seed=seed,
                     num_faces=num_faces, num_views=num_views,
                     camera_config=camera_config)
  return to_uint8(out.images)


def to_uint8(images) -> np.ndarray:
  """Images in [0, 1] (any float array) -> uint8, rounded to nearest."""
  images = np.asarray(images, np.float32)
  return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


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


def write_gif(path, views: np.ndarray, upscale: int = 2):
  """An animated GIF of faces turning left-right-left.

  Args:
    path: output ``.gif``.
    views: uint8 [num_faces, num_frames, h, w, 3], frames ordered by yaw
      (e.g. from ``render_views``).
    upscale: nearest-neighbour magnification.
  """
  frames = [make_grid(views[:, i][None]) for i in range(views.shape[1])]
  frames = frames + frames[-2:0:-1]  # back and forth: seamless loop
  if upscale > 1:
    frames = [np.repeat(np.repeat(f, upscale, 0), upscale, 1) for f in frames]
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  iio.imwrite(path, np.stack(frames), duration=80, loop=0)


def _upscale(config) -> int:
  """Magnification that shows small images at about 128 pixels."""
  return max(1, 128 // config.data.image_size)


def write_sample_views(path_prefix, graphdef, params, config, *, seed: int,
                       num_faces: int, num_views: int) -> dict:
  """``<prefix>grid.png`` (RGB) and ``<prefix>depth.png`` of random faces.

  Every process must call this (the parameters may span hosts); only
  process 0 writes.

  Returns:
    {"grid": path, "depth": path}.
  """
  out = sample_views(graphdef, params, config, seed=seed,
                     num_faces=num_faces, num_views=num_views)
  paths = dict(grid=f"{path_prefix}grid.png", depth=f"{path_prefix}depth.png")
  images = to_uint8(out.images)
  depth = depth_to_uint8(out.depth, out.opacity, config,
                         config.data.image_size)
  if jax.process_index() == 0:
    write_grid(paths["grid"], images, upscale=_upscale(config))
    write_grid(paths["depth"], depth, upscale=_upscale(config))
  return paths


def write_sample_orbit(path, graphdef, params, config, *, seed: int,
                       num_faces: int, num_frames: int = 16) -> str:
  """Orbit GIF of random faces; every process calls, process 0 writes."""
  views = render_views(graphdef, params, config, seed=seed,
                       num_faces=num_faces, num_views=num_frames)
  if jax.process_index() == 0:
    write_gif(path, views, upscale=_upscale(config))
  return str(path)
