"""Stage 2: pixels -> rays, depth samples, ray/box intervals, the object box.

This is the patent's "direction encoding" (unit ray directions) and
"sampling encoding" (3D sample points along each ray). Everything is
vectorized over batch, rays and samples.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxface import structs


# Where a low-resolution image's rays go through its image plane:
#   "centres": through pixel centres, ((i + 0.5) / n) * 2 - 1, as the
#     sphere tracer of the synthetic data and the renderer's bilinear
#     upsampling (half-pixel centres) assume;
#   "edges": GIRAFFE's linspace(-1, 1, n): the outermost rays on the image's
#     edges, so the rays span the field of view n / (n - 1) times wider
#     than ``fov`` says at pixel centres.
PIXEL_GRIDS = ("centres", "edges")


def pixel_ndc(size: int, grid: str = "centres") -> jax.Array:
  """[size] normalised image-plane coordinates in [-1, 1] of pixel rays."""
  index = jnp.arange(size, dtype=jnp.float32)
  if grid == "centres":
    return (index + 0.5) / size * 2.0 - 1.0
  if grid == "edges":
    return index / max(size - 1, 1) * 2.0 - 1.0
  raise ValueError(f"unknown pixel grid {grid!r}; one of {PIXEL_GRIDS}")


def pixel_rays(camera: structs.Camera, height: int, width: int,
               grid: str = "centres", jitter_key=None) -> structs.Rays:
  """Casts one ray through every pixel (see ``PIXEL_GRIDS``).

  Pixel (row 0, col 0) is the top-left corner of the image.

  Args:
    camera: cameras with batch size ``batch``.
    height: image rows.
    width: image columns.
    grid: where the rays cross the image plane (``PIXEL_GRIDS``).
    jitter_key: if given, each ray goes through a uniform random point of
      its pixel instead of the grid point (training: the field is then
      constrained between the rays of the fixed grid too).

  Returns:
    ``structs.Rays`` with [batch, height * width, 3] origins and unit
    directions, rays ordered row-major.
  """
  xs = pixel_ndc(width, grid)
  ys = -pixel_ndc(height, grid)  # image row 0 is at the top (+y)
  grid_x, grid_y = jnp.meshgrid(xs, ys)  # [height, width]
  grid_x, grid_y = grid_x.reshape(1, -1), grid_y.reshape(1, -1)
  if jitter_key is not None:
    # Up to half the spacing of the grid's rays either way.
    batch = camera.fov.shape[0]
    offset = jax.random.uniform(jitter_key, (2, batch, height * width),
                                minval=-0.5, maxval=0.5)
    spacing = lambda n: 2.0 / (n - 1 if grid == "edges" and n > 1 else n)
    grid_x = grid_x + offset[0] * spacing(width)
    grid_y = grid_y + offset[1] * spacing(height)
  tan_half = jnp.tan(0.5 * camera.fov)[:, None]  # [batch, 1]
  aspect = width / height
  dirs_cam = jnp.stack(
      jnp.broadcast_arrays(
          grid_x * tan_half * aspect,
          grid_y * tan_half,
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


def rotate(rays: structs.Rays, rotation: jax.Array) -> structs.Rays:
  """Rays in another frame: [batch, 3, 3] rotations applied to each batch."""
  return rays.replace(
      origins=jnp.einsum("bij,brj->bri", rotation, rays.origins),
      directions=jnp.einsum("bij,brj->bri", rotation, rays.directions))


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


def box_half_size(render_config) -> float:
  """Half edge of the padded object box in world units.

  The object has density only inside this box; meshes and depth maps span
  it.

  Args:
    render_config: the ``render`` ConfigDict (``object_scale``,
      ``box_padding``).

  Returns:
    ``object_scale * (1 + box_padding)``.
  """
  return float(render_config.object_scale) * (
      1.0 + float(render_config.box_padding))


# How samples are spread along a ray:
#   "bins": num_samples equal bins of distance along the ray over
#     [near, far]; bin centres, or one uniform sample per bin (stratified)
#     in training.
#   "giraffe": GIRAFFE's linspace(near, far, num_samples) of camera-axis
#     depth, end points included; in training each sample is uniform within
#     the midpoints to its neighbours (half intervals at the ends).
DEPTH_SAMPLINGS = ("bins", "giraffe")


def giraffe_depths(key, near: float, far: float, z_scale: jax.Array,
                   num_samples: int) -> jax.Array:
  """GIRAFFE's samples, as distances along the rays.

  Args:
    key: PRNG key for the training jitter, or None (evaluation).
    near: first camera-axis depth.
    far: last camera-axis depth.
    z_scale: [...] each ray's cosine to the optical axis.
    num_samples: samples per ray.

  Returns:
    [..., num_samples] sorted distances (camera-axis depth / z_scale).
  """
  depth = near + (far - near) * jnp.linspace(0.0, 1.0, num_samples)
  depth = jnp.broadcast_to(depth, z_scale.shape + (num_samples,))
  if key is not None:
    middle = 0.5 * (depth[..., 1:] + depth[..., :-1])
    upper = jnp.concatenate([middle, depth[..., -1:]], -1)
    lower = jnp.concatenate([depth[..., :1], middle], -1)
    depth = lower + (upper - lower) * jax.random.uniform(key, depth.shape)
  return depth / z_scale[..., None]


def _bins(sampling: str, near: float, far: float, num_samples: int):
  """(start of bin 0, bin width) of the bins samples are drawn in.

  In distance along the ray for "bins", in camera-axis depth for
  "giraffe" (whose bins are centred on its samples).
  """
  if sampling == "bins":
    return near, (far - near) / num_samples
  width = (far - near) / (num_samples - 1)
  return near - 0.5 * width, width


def box_window(half_size: float, near: float, far: float, num_samples: int,
               sampling: str = "bins") -> int | None:
  """Most of a ray's sample bins that can meet a box (None if that is all).

  A ray's segment inside the box is at most its diagonal long, in distance
  and in camera-axis depth alike, so it meets at most
  ``ceil(diagonal / bin) + 1`` consecutive bins.

  Args:
    half_size: half edge of the box.
    near: start of the sampled interval.
    far: its end.
    num_samples: samples per ray.
    sampling: a ``DEPTH_SAMPLINGS`` name.

  Returns:
    The window length, or None if it saves nothing.
  """
  diagonal = 2.0 * np.sqrt(3.0) * half_size
  _, bin_width = _bins(sampling, near, far, num_samples)
  window = int(np.ceil(diagonal / bin_width)) + 1
  return window if window < num_samples else None


def window_indices(t_enter: jax.Array, z_scale: jax.Array, near: float,
                   far: float, num_samples: int, window: int,
                   sampling: str = "bins") -> jax.Array:
  """The ``window`` consecutive samples from the bin a ray enters the box in.

  Args:
    t_enter: [...] distance at which each ray enters the box (``far`` for a
      ray that misses it).
    z_scale: [...] each ray's cosine to the optical axis.
    near: start of the sampled interval.
    far: its end.
    num_samples: samples per ray.
    window: samples to keep (``box_window``).
    sampling: a ``DEPTH_SAMPLINGS`` name.

  Returns:
    int32 [..., window] sample indices, within [0, num_samples).
  """
  start, bin_width = _bins(sampling, near, far, num_samples)
  enter = t_enter if sampling == "bins" else t_enter * z_scale
  first = jnp.clip(jnp.floor((enter - start) / bin_width), 0,
                   num_samples - window).astype(jnp.int32)
  return first[..., None] + jnp.arange(window)
