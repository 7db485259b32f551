"""Stage 4: volume rendering by alpha compositing along each ray."""

import jax
import jax.numpy as jnp

from jaxface import structs

DENSITY_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
}


def sample_intervals(depths: jax.Array, far) -> jax.Array:
  """Lengths of the ray segments represented by each sample.

  Args:
    depths: [..., samples] sorted sample distances.
    far: scalar or [...] end of the sampled interval.

  Returns:
    [..., samples] non-negative segment lengths; the last sample's segment
    runs to ``far`` (but is at least the mean spacing, so a jittered last
    sample keeps its weight).
  """
  diffs = depths[..., 1:] - depths[..., :-1]
  far = jnp.broadcast_to(jnp.asarray(far, depths.dtype), depths.shape[:-1])
  mean_step = (far - depths[..., 0]) / depths.shape[-1]
  last = jnp.maximum(far - depths[..., -1], mean_step)
  return jnp.concatenate([diffs, last[..., None]], axis=-1)


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
  # more stable than a cumulative product of (1 - alpha).
  accumulated = jnp.cumsum(optical, axis=-1) - optical
  return alpha * jnp.exp(-accumulated)


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
  weights = compositing_weights(density, intervals)
  opacity = jnp.sum(weights, axis=-1)
  rendered = jnp.einsum("brs,brsc->brc", weights, features)
  if background is not None:
    rendered = rendered + (1.0 - opacity)[..., None] * background
  far = jnp.broadcast_to(jnp.asarray(far, depths.dtype), opacity.shape)
  matter_depth = jnp.sum(weights * depths, axis=-1)
  ray_depth = matter_depth + (1.0 - opacity) * far
  surface_depth = matter_depth / jnp.maximum(opacity, 1e-6)
  return structs.Renderings(rendered, ray_depth * rays.z_scale, opacity,
                            surface_depth * rays.z_scale)
