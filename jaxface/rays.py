"""Stage 2: pixels -> rays, stratified depth samples, ray/box intervals.

This is the patent's "direction encoding" (unit ray directions) and
"sampling encoding" (3D sample points along each ray). Everything is
vectorized over batch, rays and samples.
"""

import jax
import jax.numpy as jnp

from jaxface import structs


def pixel_rays(camera: structs.Camera, height: int, width: int) -> structs.Rays:
  """Casts one ray through the centre of every pixel.

  Pixel (row 0, col 0) is the top-left corner of the image.

  Args:
    camera: cameras with batch size ``batch``.
    height: image rows.
    width: image columns.

  Returns:
    ``structs.Rays`` with [batch, height * width, 3] origins and unit
    directions, rays ordered row-major.
  """
  # Normalised image-plane coordinates in [-1, 1] at pixel centres.
  xs = (jnp.arange(width, dtype=jnp.float32) + 0.5) / width * 2.0 - 1.0
  ys = 1.0 - (jnp.arange(height, dtype=jnp.float32) + 0.5) / height * 2.0
  grid_x, grid_y = jnp.meshgrid(xs, ys)  # [height, width]
  tan_half = jnp.tan(0.5 * camera.fov)[:, None]  # [batch, 1]
  aspect = width / height
  dirs_cam = jnp.stack(
      jnp.broadcast_arrays(
          grid_x.reshape(1, -1) * tan_half * aspect,
          grid_y.reshape(1, -1) * tan_half,
          -jnp.ones((1, height * width)),
      ),
      axis=-1,
  )  # [batch, rays, 3]
  z_scale = 1.0 / jnp.linalg.norm(dirs_cam, axis=-1)  # cos to optical axis
  dirs_cam = dirs_cam * z_scale[..., None]
  rotation = camera.cam2world[:, :3, :3]
  directions = jnp.einsum("bij,brj->bri", rotation, dirs_cam)
  origins = jnp.broadcast_to(
      camera.cam2world[:, None, :3, 3], directions.shape)
  return structs.Rays(origins, directions, z_scale)


def stratified_depths(key, near, far, shape, num_samples: int, jitter: bool):
  """Depths of ``num_samples`` points per ray between ``near`` and ``far``.

  The interval is split into equal bins; with ``jitter`` one uniform sample is
  drawn per bin (stratified sampling), otherwise bin centres are used.

  Args:
    key: PRNG key (unused when ``jitter`` is False).
    near: scalar or array broadcastable to ``shape``: interval start.
    far: same, interval end (>= near).
    shape: leading shape, e.g. (batch, rays).
    num_samples: samples per ray.
    jitter: whether to jitter inside bins.

  Returns:
    [*shape, num_samples] sorted depths in [near, far].
  """
  near = jnp.broadcast_to(jnp.asarray(near, jnp.float32), shape)[..., None]
  far = jnp.broadcast_to(jnp.asarray(far, jnp.float32), shape)[..., None]
  offsets = jnp.arange(num_samples, dtype=jnp.float32)
  if jitter:
    offsets = offsets + jax.random.uniform(key, (*shape, num_samples))
  else:
    offsets = offsets + 0.5
  return near + (far - near) * offsets / num_samples


def ray_box_interval(rays: structs.Rays, half_size: float, near, far):
  """Intersects rays with the axis-aligned box [-half_size, half_size]^3.

  Args:
    rays: rays with [batch, rays, 3] fields.
    half_size: half the edge length of the box centred at the origin.
    near: global near plane (scalar).
    far: global far plane (scalar).

  Returns:
    (t_enter, t_exit, hit): [batch, rays] arrays; the interval is clipped to
    [near, far]. Rays that miss get ``t_enter == t_exit == far`` and
    ``hit == False``.
  """
  safe_dirs = jnp.where(
      jnp.abs(rays.directions) < 1e-9, 1e-9, rays.directions)
  t0 = (-half_size - rays.origins) / safe_dirs
  t1 = (half_size - rays.origins) / safe_dirs
  t_enter = jnp.max(jnp.minimum(t0, t1), axis=-1)
  t_exit = jnp.min(jnp.maximum(t0, t1), axis=-1)
  t_enter = jnp.maximum(t_enter, near)
  t_exit = jnp.minimum(t_exit, far)
  hit = t_exit > t_enter
  t_enter = jnp.where(hit, t_enter, far)
  t_exit = jnp.where(hit, t_exit, far)
  return t_enter, t_exit, hit


def points_along(rays: structs.Rays, depths):
  """3D sample points.

  Args:
    rays: [batch, rays, 3] origins and directions.
    depths: [batch, rays, samples] distances along each ray.

  Returns:
    [batch, rays, samples, 3] world-space points.
  """
  return (rays.origins[..., None, :]
          + depths[..., None] * rays.directions[..., None, :])
