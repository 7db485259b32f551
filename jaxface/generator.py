"""The generator: composes stages 1-5 (rays, field, compositing, upsampling).

It adds no maths of its own: it casts rays for the cameras, samples depths,
evaluates the feature field (and background), composites a low-resolution
feature image and upsamples it with the neural renderer. ``density`` is the
field's density as the renderer sees it, for meshing.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from jaxface import field
from jaxface import neural_renderer
from jaxface import rays as rays_lib
from jaxface import structs
from jaxface import volume_render

# Points on the padded box's faces sit at |p| = 1 + box_padding up to float
# rounding; ``density`` keeps them inside rather than zeroing a random subset.
_BOX_TOLERANCE = 1e-5


def sample_latents(key: jax.Array, batch: int, config) -> structs.Latents:
  """Draws codes from the standard Gaussian prior (``config.field`` dims)."""
  keys = jax.random.split(key, 4)
  dims = (config.z_shape_dim, config.z_app_dim, config.z_bg_shape_dim,
          config.z_bg_app_dim)
  return structs.Latents(*[jax.random.normal(k, (batch, d))
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
    self.half_size = rays_lib.box_half_size(rc)
    self.sample_in_box = bool(rc.sample_in_box)
    # With samples over all of [near, far], only a window of bins can meet
    # the object box (``rays.box_window``); None evaluates every bin.
    self.window = None
    if rc.skip_empty_samples and not self.sample_in_box:
      self.window = rays_lib.box_window(self.half_size, self.near, self.far,
                                        self.num_samples)
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

  def _object(self, points, directions, latents, tolerance=0.0):
    """Activated density and features at world points; zero outside the box.

    Args:
      points: [batch, n, 3] world positions.
      directions: [batch, n, 3] unit view directions.
      latents: codes of batch ``batch``.
      tolerance: slack on the box test.

    Returns:
      (density [batch, n], features [batch, n, feature_dim]).
    """
    normalised = points / self.object_scale
    raw, features = self.field(normalised, directions, latents.z_shape,
                               latents.z_app)
    density = volume_render.DENSITY_ACTIVATIONS[self.density_activation](raw)
    # GIRAFFE: the object exists only inside its (padded) bounding box.
    inside = jnp.all(
        jnp.abs(normalised) <= 1.0 + self.box_padding + tolerance, axis=-1)
    return jnp.where(inside, density, 0.0), features

  def density(self, points: jax.Array, latents: structs.Latents) -> jax.Array:
    """The object's density at world points, as the renderer sees it.

    Args:
      points: [batch, n, 3] world positions.
      latents: codes of batch ``batch``.

    Returns:
      [batch, n] non-negative densities, zero outside the padded box.
    """
    # Density depends on position and shape code only; any direction will do.
    directions = jnp.broadcast_to(
        jnp.asarray([0.0, 0.0, -1.0], points.dtype), points.shape)
    density, _ = self._object(points, directions, latents, _BOX_TOLERANCE)
    return density

  def __call__(self, latents: structs.Latents, camera: structs.Camera,
               depth_key=None) -> structs.GeneratorOutput:
    """Renders the scenes.

    Args:
      latents: codes with batch size ``batch``.
      camera: cameras with batch size ``batch``.
      depth_key: PRNG key for stratified jitter; None for bin centres
        (evaluation).

    Returns:
      A ``structs.GeneratorOutput``.
    """
    batch = latents.z_shape.shape[0]
    size = self.feature_size
    rays = rays_lib.pixel_rays(camera, size, size)
    if self.sample_in_box:
      near, far, _ = rays_lib.ray_box_interval(rays, self.half_size,
                                               self.near, self.far)
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
      t_enter, _, _ = rays_lib.ray_box_interval(rays, self.half_size, near,
                                                far)
      index = rays_lib.window_indices(t_enter, near, far, self.num_samples,
                                      self.window)
      depths = jnp.take_along_axis(depths, index, axis=-1)
      intervals = jnp.take_along_axis(intervals, index, axis=-1)
    points = rays_lib.points_along(rays, depths)
    directions = jnp.broadcast_to(rays.directions[:, :, None], points.shape)
    density, features = self._object(points.reshape(batch, -1, 3),
                                     directions.reshape(batch, -1, 3),
                                     latents)
    density = density.reshape(depths.shape)
    features = features.reshape(*depths.shape, -1)
    background = None
    if self.background is not None:
      background = self.background(
          rays.directions, latents.z_bg_shape, latents.z_bg_app)
    renderings = volume_render.composite(
        density, features, depths, rays, far, background, intervals)
    feature_image = renderings.features.reshape(batch, size, size, -1)
    as_image = lambda x: x.reshape(batch, size, size)
    return structs.GeneratorOutput(
        images=self.renderer(feature_image),
        features=feature_image,
        depth=as_image(renderings.depth),
        opacity=as_image(renderings.opacity),
        surface_depth=as_image(renderings.surface_depth))
