"""Stage 4: volume rendering by alpha compositing along each ray."""

import jax
import jax.numpy as jnp

from jaxface import structs

DENSITY_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
}
# GIRAFFE's length of the last sample's interval: whatever density the last
# sample has closes the ray.
INFINITE_INTERVAL = 1e10


def sample_intervals(depths: jax.Array, far, last: str = "to_far"):
  """Lengths of the ray segments represented by each sample.

  Args:
    depths: [..., samples] sorted sample distances.
    far: scalar or [...] end of the sampled interval.
    last: the last sample's segment: "to_far" runs to ``far`` (but is at
      least the mean spacing, so a jittered last sample keeps its weight);
      "infinite" is GIRAFFE's ``INFINITE_INTERVAL``.

  Returns:
    [..., samples] non-negative segment lengths.
  """
  diffs = depths[..., 1:] - depths[..., :-1]
  if last == "infinite":
    end = jnp.full(depths.shape[:-1], INFINITE_INTERVAL, depths.dtype)
  else:
    far = jnp.broadcast_to(jnp.asarray(far, depths.dtype), depths.shape[:-1])
    mean_step = (far - depths[..., 0]) / depths.shape[-1]
    end = jnp.maximum(far - depths[..., -1], mean_step)
  return jnp.concatenate([diffs, end[..., None]], axis=-1)


def compositing_weights(density: jax.Array, intervals: jax.Array) -> jax.Array:
  """Per-sample weights ``w_i = T_i * alpha_i`` of the quadrature.

  Args:
    density: [..., samples] non-negative densities.
    intervals: [..., samples] segment lengths.

  Returns:
    [..., samples] weights in [0, 1] whose sum is at most 1.
  """
  optical = density * intervals
  alpha = 1.0 - jnp.exp(-optical)
  # Transmittance before each sample: exp of the exclusive cumulative sum is
  # more stable than a cumulative product of (1 - alpha). Shifted rather
  # than ``cumsum - optical``, which cancels to 0 after an infinite last
  # interval.
  accumulated = jnp.cumsum(optical[..., :-1], axis=-1)
  accumulated = jnp.concatenate(
      [jnp.zeros_like(optical[..., :1]), accumulated], axis=-1)
  return alpha * jnp.exp(-accumulated)


def mixture_weights(densities, intervals) -> list[jax.Array]:
  """GIRAFFE's composition of fields sharing samples, as per-field weights.

  The fields' densities add, and each sample's feature is the density-
  weighted mean of the fields' features (0 where every density is 0). So
  the composited feature is ``sum_i sum_s c_i[s] f_i[s]`` with these
  ``c_i = w * density_i / sum_j density_j``, ``w`` the compositing weights
  of the summed density: no mixed feature array is ever formed.

  Args:
    densities: sequence of [..., samples] non-negative densities.
    intervals: [..., samples] segment lengths.

  Returns:
    One [..., samples] weight array per field.
  """
  total = sum(densities)
  # GIRAFFE replaces a zero denominator by 1e-4.
  scale = compositing_weights(total, intervals) / jnp.where(
      total == 0.0, 1e-4, total)
  return [scale * density for density in densities]


def composite_features(density, features, intervals,
                       background=None) -> jax.Array:
  """Alpha-composited features, [batch, rays, channels].

  Args:
    density: [batch, rays, samples] non-negative densities.
    features: [batch, rays, samples, channels].
    intervals: [batch, rays, samples] segment lengths.
    background: [batch, rays, channels] features behind the samples, seen
      through what they leave transparent; None for none (zero).
  """
  weights = compositing_weights(density, intervals)
  rendered = jnp.einsum("brs,brsc->brc", weights, features)
  if background is not None:
    opacity = jnp.sum(weights, axis=-1)
    rendered = rendered + (1.0 - opacity)[..., None] * background
  return rendered


def coverage(density, depths, intervals, rays: structs.Rays, far):
  """Opacity and depths of what ``density`` puts along each ray.

  Args:
    density: [batch, rays, samples] non-negative densities.
    depths: [batch, rays, samples] sorted distances along the rays.
    intervals: [batch, rays, samples] segment lengths.
    rays: the rays (for the camera-axis depth factor).
    far: scalar or [batch, rays]; transparent rays get this depth.

  Returns:
    (depth, opacity, surface_depth), each [batch, rays]: expected
    camera-axis depth (the transparent remainder counts at ``far``), opacity
    in [0, 1], and the expected depth of the matter alone.
  """
  weights = compositing_weights(density, intervals)
  opacity = jnp.sum(weights, axis=-1)
  far = jnp.broadcast_to(jnp.asarray(far, depths.dtype), opacity.shape)
  matter_depth = jnp.sum(weights * depths, axis=-1)
  depth = matter_depth + (1.0 - opacity) * far
  surface_depth = matter_depth / jnp.maximum(opacity, 1e-6)
  return depth * rays.z_scale, opacity, surface_depth * rays.z_scale


def composite(density, features, depths, rays: structs.Rays, far,
              background=None, intervals=None) -> structs.Renderings:
  """Alpha-composites samples along rays into per-ray features.

  Args:
    density: [batch, rays, samples] non-negative densities.
    features: [batch, rays, samples, channels] features per sample.
    depths: [batch, rays, samples] sorted distances along the rays.
    rays: the rays (for the camera-axis depth factor).
    far: scalar or [batch, rays]; end of the sampled interval. Transparent
      rays get this depth.
    background: [batch, rays, channels] features behind the object, or None
      for a zero (black) background.
    intervals: [batch, rays, samples] segment lengths; derived from
      ``depths`` and ``far`` if None.

  Returns:
    ``structs.Renderings`` with [batch, rays, channels] features,
    [batch, rays] camera-axis depth, opacity and surface depth.
  """
  if intervals is None:
    intervals = sample_intervals(depths, far)
  depth, opacity, surface_depth = coverage(density, depths, intervals, rays,
                                           far)
  rendered = composite_features(density, features, intervals, background)
  return structs.Renderings(rendered, depth, opacity, surface_depth)
