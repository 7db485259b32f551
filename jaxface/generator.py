"""The generator: composes stages 1-5 (rays, field, compositing, upsampling).

It adds no maths of its own: it casts rays for the cameras, samples depths,
evaluates the feature field (and background), composites a low-resolution
feature image and upsamples it with the neural renderer.
"""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import field
from jaxface import neural_renderer
from jaxface import rays as rays_lib
from jaxface import structs
from jaxface import volume_render


@flax.struct.dataclass
class Latents:
  """Latent codes, each [batch, dim]."""

  z_shape: jax.Array
  z_app: jax.Array
  z_bg_shape: jax.Array
  z_bg_app: jax.Array


@flax.struct.dataclass
class GeneratorOutput:
  """What one render produces.

  Attributes:
    images: [batch, size, size, 3] RGB in [0, 1].
    features: [batch, h, w, feature_dim] volume-rendered feature image.
    depth: [batch, h, w] expected depth along the camera axis (the
      transparent remainder of a ray counts at its far end, as in GIRAFFE).
    opacity: [batch, h, w] foreground opacity.
    surface_depth: [batch, h, w] expected camera-axis depth of the visible
      matter alone (``depth`` without the far-end remainder, divided by
      the opacity); where the renderer sees the surface. Meaningless where
      the opacity is near 0.
  """

  images: jax.Array
  features: jax.Array
  depth: jax.Array
  opacity: jax.Array
  surface_depth: jax.Array


def sample_latents(key: jax.Array, batch: int, config) -> Latents:
  """Draws codes from the standard Gaussian prior (``config.field`` dims)."""
  keys = jax.random.split(key, 4)
  dims = (config.z_shape_dim, config.z_app_dim, config.z_bg_shape_dim,
          config.z_bg_app_dim)
  return Latents(*[jax.random.normal(k, (batch, d))
                   for k, d in zip(keys, dims)])


class Generator(nnx.Module):
  """(latents, cameras) -> images, feature image, depth and opacity."""

  def __init__(self, config, *, rngs: nnx.Rngs):
    fc, rc = config.field, config.render
    self.feature_size = rc.feature_size
    self.num_samples = rc.num_samples
    self.near = float(rc.near)
    self.far = float(rc.far)
    self.object_scale = float(rc.object_scale)
    self.box_padding = float(rc.box_padding)
    self.sample_in_box = bool(rc.sample_in_box)
    self.window = self._box_window(rc) if rc.skip_empty_samples else None
    self.density_activation = rc.density_activation
    self.field = field.FeatureField(
        hidden=fc.hidden, num_layers=fc.num_layers, skips=tuple(fc.skips),
        pos_freqs=fc.pos_freqs, view_freqs=fc.view_freqs,
        z_shape_dim=fc.z_shape_dim, z_app_dim=fc.z_app_dim,
        feature_dim=fc.feature_dim, rngs=rngs)
    self.background = nnx.data(None)
    if fc.background:
      self.background = field.BackgroundField(
          hidden=fc.bg_hidden, num_layers=fc.bg_num_layers,
          view_freqs=fc.bg_view_freqs, z_shape_dim=fc.z_bg_shape_dim,
          z_app_dim=fc.z_bg_app_dim, feature_dim=fc.feature_dim, rngs=rngs)
    nc = config.neural_renderer
    self.renderer = neural_renderer.NeuralRenderer(
        feature_dim=fc.feature_dim, num_features=nc.num_features,
        min_features=nc.min_features, input_size=rc.feature_size,
        output_size=config.data.image_size, rngs=rngs)

  def _box_window(self, rc):
    """Most bins of [near, far] a ray can have inside the object box.

    A ray's segment inside the box is at most its diagonal long, so it meets
    at most ``ceil(diagonal / bin) + 1`` consecutive bins. None if no saving.
    """
    if rc.sample_in_box:
      return None
    diagonal = 2.0 * np.sqrt(3.0) * self.object_scale * (1 + self.box_padding)
    bin_width = (self.far - self.near) / self.num_samples
    window = int(np.ceil(diagonal / bin_width)) + 1
    return window if window < self.num_samples else None

  def __call__(self, latents: Latents, camera: structs.Camera,
               depth_key=None) -> GeneratorOutput:
    """Renders the scenes.

    Args:
      latents: codes with batch size ``batch``.
      camera: cameras with batch size ``batch``.
      depth_key: PRNG key for stratified jitter; None for bin centres
        (evaluation).

    Returns:
      A ``GeneratorOutput``.
    """
    batch = latents.z_shape.shape[0]
    size = self.feature_size
    rays = rays_lib.pixel_rays(camera, size, size)
    half = self.object_scale * (1.0 + self.box_padding)
    if self.sample_in_box:
      near, far, _ = rays_lib.ray_box_interval(rays, half, self.near, self.far)
    else:
      near, far = self.near, self.far
    depths = rays_lib.stratified_depths(
        depth_key, near, far, (batch, size * size), self.num_samples,
        jitter=depth_key is not None)
    intervals = volume_render.sample_intervals(depths, far)
    if self.window is not None:
      # Samples outside the box have zero density and add nothing: evaluate
      # only the window of bins that starts at the box entry. Identical
      # result, num_samples / window times less field work.
      t_enter, _, _ = rays_lib.ray_box_interval(rays, half, near, far)
      bin_width = (far - near) / self.num_samples
      first = jnp.clip(jnp.floor((t_enter - near) / bin_width),
                       0, self.num_samples - self.window).astype(jnp.int32)
      index = first[..., None] + jnp.arange(self.window)
      depths = jnp.take_along_axis(depths, index, axis=-1)
      intervals = jnp.take_along_axis(intervals, index, axis=-1)
    points = rays_lib.points_along(rays, depths) / self.object_scale
    directions = jnp.broadcast_to(rays.directions[:, :, None], points.shape)
    raw_density, features = self.field(
        points.reshape(batch, -1, 3), directions.reshape(batch, -1, 3),
        latents.z_shape, latents.z_app)
    density = volume_render.DENSITY_ACTIVATIONS[self.density_activation](
        raw_density).reshape(depths.shape)
    # GIRAFFE: the object exists only inside its (padded) bounding box.
    inside = jnp.all(jnp.abs(points) <= 1.0 + self.box_padding, axis=-1)
    density = jnp.where(inside, density, 0.0)
    features = features.reshape(*depths.shape, -1)
    background = None
    if self.background is not None:
      background = self.background(
          rays.directions, latents.z_bg_shape, latents.z_bg_app)
    renderings = volume_render.composite(
        density, features, depths, rays, far, background, intervals)
    feature_image = renderings.features.reshape(batch, size, size, -1)
    images = self.renderer(feature_image)
    far_depth = far * rays.z_scale  # camera-axis depth of each ray's end
    matter_depth = renderings.depth - (1.0 - renderings.opacity) * far_depth
    surface_depth = matter_depth / jnp.maximum(renderings.opacity, 1e-6)
    return GeneratorOutput(
        images=images,
        features=feature_image,
        depth=renderings.depth.reshape(batch, size, size),
        opacity=renderings.opacity.reshape(batch, size, size),
        surface_depth=surface_depth.reshape(batch, size, size))
