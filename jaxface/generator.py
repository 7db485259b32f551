"""The generator: composes stages 1-5 (rays, field, compositing, upsampling).

It adds no maths of its own: it casts rays for the cameras, samples depths,
evaluates the object's feature field (and the background), composites a
low-resolution feature image and upsamples it with the neural renderer.
``density`` is the object's density as the renderer sees it, for meshing.

The choices that tell GIRAFFE and jaxface apart are config entries (see
``configs/celeba64.py``): where the yaw turns (the object or the camera),
the field's frame and encoding scale, the background (a volumetric field, a
map of ray direction, or none), depth sampling, density noise, the pixel
grid and the renderer's blur.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import errors
from jaxface import field
from jaxface import layers
from jaxface import neural_renderer
from jaxface import rays as rays_lib
from jaxface import structs
from jaxface import volume_render

# Points on the padded box's faces sit at |p| = 1 + box_padding up to float
# rounding; ``density`` keeps them inside rather than zeroing a random subset.
_BOX_TOLERANCE = 1e-5

FIELD_KINDS = ("mlp", "triplane")
BACKGROUNDS = ("volume", "direction", "none")
YAW_MODES = ("object", "camera")


def sample_latents(key: jax.Array, batch: int, config) -> structs.Latents:
  """Draws codes from the standard Gaussian prior (``config.field`` dims)."""
  keys = jax.random.split(key, 4)
  dims = (config.z_shape_dim, config.z_app_dim, config.z_bg_shape_dim,
          config.z_bg_app_dim)
  return structs.Latents(*[jax.random.normal(k, (batch, d))
                           for k, d in zip(keys, dims)])


def _check(name: str, value, allowed):
  # A config error, not a bug: the command line reports it in one line.
  if value not in allowed:
    raise errors.ConfigError(
        f"unknown {name} {value!r}; one of {list(allowed)}")


def _scatter(values: jax.Array, index: jax.Array, size: int) -> jax.Array:
  """[b, r, w, ...] values at sample ``index`` [b, r, w] of ``size`` zeros."""
  b, r, _ = index.shape
  full = jnp.zeros((b, r, size) + values.shape[3:], values.dtype)
  return full.at[jnp.arange(b)[:, None, None], jnp.arange(r)[None, :, None],
                 index].set(values)


class Generator(nnx.Module):
  """(latents, cameras) -> images, feature image, depth and opacity."""

  def __init__(self, config, *, rngs: nnx.Rngs):
    fc, rc = config.field, config.render
    for name, value, allowed in (
        ("field.kind", fc.kind, FIELD_KINDS),
        ("field.background", fc.background, BACKGROUNDS),
        ("field.frame", fc.frame, camera_lib.FIELD_FRAMES),
        ("field.plane_upsample", fc.plane_upsample, field.PLANE_UPSAMPLES),
        ("field.plane_conditioning", fc.plane_conditioning,
         field.PLANE_CONDITIONINGS),
        ("field.appearance", fc.appearance, field.APPEARANCES),
        ("neural_renderer.upsample", config.neural_renderer.upsample,
         tuple(layers.UPSAMPLES)),
        ("render.yaw", rc.yaw, YAW_MODES),
        ("render.depth_sampling", rc.depth_sampling,
         rays_lib.DEPTH_SAMPLINGS),
        ("render.pixel_grid", rc.pixel_grid, rays_lib.PIXEL_GRIDS)):
      _check(name, value, allowed)
    if rc.sample_in_box and (rc.depth_sampling != "bins"
                             or fc.background == "volume"):
      raise errors.ConfigError(
          "render.sample_in_box needs render.depth_sampling='bins' and no "
          "volumetric background (it samples only inside the object's box)")
    self.feature_size = rc.feature_size
    self.num_samples = rc.num_samples
    self.near = float(rc.near)
    self.far = float(rc.far)
    self.object_scale = float(rc.object_scale)
    self.box_padding = float(rc.box_padding)
    self.half_size = rays_lib.box_half_size(rc)
    self.sample_in_box = bool(rc.sample_in_box)
    self.depth_sampling = rc.depth_sampling
    self.pixel_grid = rc.pixel_grid
    self.yaw_mode = rc.yaw
    self.frame = fc.frame
    self.density_noise = float(rc.density_noise)
    self.pixel_jitter = bool(rc.pixel_jitter)
    self.density_activation = rc.density_activation
    self.density_scale = float(rc.density_scale)
    # With samples over all of [near, far], only a window of them can meet
    # the object box (``rays.box_window``); None evaluates every sample.
    self.window = None
    if rc.skip_empty_samples and not self.sample_in_box:
      self.window = rays_lib.box_window(self.half_size, self.near, self.far,
                                        self.num_samples, self.depth_sampling)
    if fc.kind == "mlp":
      self.field = field.FeatureField(
          hidden=fc.hidden, num_layers=fc.num_layers, skips=tuple(fc.skips),
          pos_freqs=fc.pos_freqs, view_freqs=fc.view_freqs,
          z_shape_dim=fc.z_shape_dim, z_app_dim=fc.z_app_dim,
          feature_dim=fc.feature_dim, downscale=fc.downscale, rngs=rngs)
    else:
      self.field = field.TriPlaneField(
          plane_size=fc.plane_size, plane_channels=fc.plane_channels,
          plane_width=fc.plane_width, hidden=fc.hidden,
          view_freqs=fc.view_freqs, z_shape_dim=fc.z_shape_dim,
          z_app_dim=fc.z_app_dim, feature_dim=fc.feature_dim,
          plane_upsample=fc.plane_upsample,
          plane_conditioning=fc.plane_conditioning,
          appearance=fc.appearance, rngs=rngs)
    self.background_kind = fc.background
    self.background = nnx.data(None)
    if fc.background == "volume":
      self.background = field.FeatureField(
          hidden=fc.bg_hidden, num_layers=fc.bg_num_layers, skips=(),
          pos_freqs=fc.bg_pos_freqs, view_freqs=fc.bg_view_freqs,
          z_shape_dim=fc.z_bg_shape_dim, z_app_dim=fc.z_bg_app_dim,
          feature_dim=fc.feature_dim, downscale=fc.bg_downscale, rngs=rngs)
    elif fc.background == "direction":
      self.background = field.BackgroundField(
          hidden=fc.bg_hidden, num_layers=fc.bg_num_layers,
          view_freqs=fc.bg_view_freqs, z_shape_dim=fc.z_bg_shape_dim,
          z_app_dim=fc.z_bg_app_dim, feature_dim=fc.feature_dim, rngs=rngs)
    nc = config.neural_renderer
    self.renderer = neural_renderer.NeuralRenderer(
        feature_dim=fc.feature_dim, num_features=nc.num_features,
        min_features=nc.min_features, input_size=rc.feature_size,
        output_size=config.data.image_size, use_blur=nc.blur,
        upsample=nc.upsample, rngs=rngs)

  def _object(self, points, directions, latents, noise=None,
              tolerance=0.0):
    """Activated object density and hidden features; zero outside the box.

    Args:
      points: [batch, ..., 3] points in the object's frame, world units.
      directions: unit view directions in that frame (``field.hidden``), or
        None.
      latents: codes of batch ``batch``.
      noise: [batch, ...] training noise added to the raw density, or None.
      tolerance: slack on the box test.

    Returns:
      (density [batch, ...], hidden [batch, ..., hidden]), hidden as
      ``field.FeatureField.hidden``.
    """
    normalised = points / self.object_scale
    raw, hidden = self.field.hidden(normalised, directions, latents.z_shape,
                                    latents.z_app)
    if noise is not None:
      raw = raw + noise
    density = self.density_scale * volume_render.DENSITY_ACTIVATIONS[
        self.density_activation](raw)
    # GIRAFFE: the object exists only inside its (padded) bounding box.
    inside = jnp.all(
        jnp.abs(normalised) <= 1.0 + self.box_padding + tolerance, axis=-1)
    return jnp.where(inside, density, 0.0), hidden

  def density(self, points: jax.Array, latents: structs.Latents) -> jax.Array:
    """The object's density at world points, as the renderer sees it.

    Args:
      points: [batch, n, 3] world positions (the frame of cameras at their
        own yaw: y up, the face looking along +z).
      latents: codes of batch ``batch``.

    Returns:
      [batch, n] non-negative densities, zero outside the padded box.
    """
    frame = jnp.asarray(camera_lib.FIELD_FRAMES[self.frame][0])
    # Density depends on position and shape code only: no directions.
    density, _ = self._object(points @ frame.T, None, latents,
                              tolerance=_BOX_TOLERANCE)
    return density

  def _depths(self, rays, key):
    """(distances [b, r, samples], intervals alike, far) of the rays."""
    batch, num_rays = rays.z_scale.shape
    if self.depth_sampling == "giraffe":
      depths = rays_lib.giraffe_depths(key, self.near, self.far, rays.z_scale,
                                       self.num_samples)
      intervals = volume_render.sample_intervals(depths, self.far, "infinite")
      # Where transparent rays end, in distance along each ray.
      return depths, intervals, self.far / rays.z_scale
    near, far = self.near, self.far
    if self.sample_in_box:
      near, far, _ = rays_lib.ray_box_interval(rays, self.half_size, near,
                                               far)
    depths = rays_lib.stratified_depths(key, near, far, (batch, num_rays),
                                        self.num_samples,
                                        jitter=key is not None)
    return depths, volume_render.sample_intervals(depths, far), far

  def _noise(self, key, shape):
    """GIRAFFE's training noise on raw densities (None when off)."""
    if key is None or self.density_noise <= 0:
      return None
    return self.density_noise * jax.random.normal(key, shape)

  def __call__(self, latents: structs.Latents, camera: structs.Camera,
               key=None) -> structs.GeneratorOutput:
    """Renders the scenes.

    Args:
      latents: codes with batch size ``batch``.
      camera: cameras with batch size ``batch``.
      key: PRNG key of training's randomness (depth jitter, density noise);
        None renders in evaluation mode (fixed depths, no noise).

    Returns:
      A ``structs.GeneratorOutput``.
    """
    batch = latents.z_shape.shape[0]
    size = self.feature_size
    k_depth = k_noise = k_bg_noise = k_pixel = None
    if key is not None:
      k_depth = key
      k_noise = jax.random.fold_in(key, 1)
      k_bg_noise = jax.random.fold_in(key, 2)
      if self.pixel_jitter:
        k_pixel = jax.random.fold_in(key, 3)
    # "object": the camera stays at yaw 0 and the object turns by the yaw.
    if self.yaw_mode == "object":
      view = camera_lib.make_camera(jnp.zeros_like(camera.yaw), camera.pitch,
                                    camera.radius, camera.fov)
      to_object = camera_lib.object_rotation(camera.yaw, self.frame)
    else:
      view = camera
      to_object = jnp.broadcast_to(
          jnp.asarray(camera_lib.FIELD_FRAMES[self.frame][0]), (batch, 3, 3))
    world_rays = rays_lib.pixel_rays(view, size, size, self.pixel_grid,
                                     k_pixel)
    # A rotation about the box centre keeps distances: one set of depths.
    object_rays = rays_lib.rotate(world_rays, to_object)
    depths, intervals, far = self._depths(object_rays, k_depth)
    noise = self._noise(k_noise, depths.shape)

    # The object, on the window of samples that can meet its box: the
    # others have zero density and add nothing (identical result,
    # num_samples / window times less object-field work).
    obj_depths, obj_intervals, index = depths, intervals, None
    if self.window is not None:
      t_enter, _, _ = rays_lib.ray_box_interval(
          object_rays, self.half_size, self.near,
          far if self.depth_sampling == "bins" else jnp.inf)
      index = rays_lib.window_indices(
          t_enter, object_rays.z_scale, self.near, self.far,
          self.num_samples, self.window, self.depth_sampling)
      take = lambda x: jnp.take_along_axis(x, index, axis=-1)
      obj_depths, obj_intervals = take(depths), take(intervals)
      noise = None if noise is None else take(noise)
    density, hidden = self._object(
        rays_lib.points_along(object_rays, obj_depths),
        object_rays.directions, latents, noise)
    depth, opacity, surface_depth = volume_render.coverage(
        density, obj_depths, obj_intervals, world_rays, far)
    if self.background_kind == "volume":
      feature_image = self._with_volume_background(
          latents, world_rays, depths, intervals, density, hidden, index,
          k_bg_noise)
    else:
      weights = volume_render.compositing_weights(density, obj_intervals)
      feature_image = self.field.composite(weights, hidden)
      if self.background_kind == "direction":
        behind = self.background(world_rays.directions, latents.z_bg_shape,
                                 latents.z_bg_app)
        feature_image += (1.0 - jnp.sum(weights, -1))[..., None] * behind
    feature_image = feature_image.reshape(batch, size, size, -1)
    as_image = lambda x: x.reshape(batch, size, size)
    return structs.GeneratorOutput(
        images=self.renderer(feature_image),
        features=feature_image,
        depth=as_image(depth),
        opacity=as_image(opacity),
        surface_depth=as_image(surface_depth))

  def _with_volume_background(self, latents, world_rays, depths, intervals,
                              density, hidden, index, noise_key):
    """GIRAFFE's composite of the object and its volumetric background.

    The background is a second field at every sample, in world coordinates
    (GIRAFFE's world frame, no scale, no box), mixed with the object by
    density (``volume_render.mixture_weights``).

    Args:
      latents: the codes.
      world_rays: the rays, in the world (view camera) frame.
      depths: [batch, rays, samples] distances of every sample.
      intervals: [batch, rays, samples] their segment lengths.
      density: the object's density on its window (or on every sample).
      hidden: the object field's hidden features there.
      index: [batch, rays, window] samples of the window, or None.
      noise_key: PRNG key of the background's density noise, or None.

    Returns:
      [batch, rays, feature_dim].
    """
    bg_frame = jnp.asarray(camera_lib.FIELD_FRAMES[self.frame][1])
    bg_rays = world_rays.replace(origins=world_rays.origins @ bg_frame.T,
                                 directions=world_rays.directions @ bg_frame.T)
    raw, bg_hidden = self.background.hidden(
        rays_lib.points_along(bg_rays, depths), bg_rays.directions,
        latents.z_bg_shape, latents.z_bg_app)
    noise = self._noise(noise_key, raw.shape)
    if noise is not None:
      raw = raw + noise
    bg_density = volume_render.DENSITY_ACTIVATIONS[self.density_activation](
        raw)
    obj_density = density
    if index is not None:  # the object's window among all samples
      obj_density = _scatter(density, index, self.num_samples)
    obj_weights, bg_weights = volume_render.mixture_weights(
        [obj_density, bg_density], intervals)
    if index is not None:
      obj_weights = jnp.take_along_axis(obj_weights, index, axis=-1)
    return (self.field.composite(obj_weights, hidden)
            + self.background.composite(bg_weights, bg_hidden))
