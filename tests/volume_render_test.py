"""Tests for alpha compositing (jaxface.volume_render)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import numpy as np

from jaxface import rays as rays_lib
from jaxface import structs
from jaxface import volume_render

_BATCH, _RAYS, _SAMPLES, _CHANNELS = 2, 6, 8, 3
_NEAR, _FAR = 0.5, 4.0
# One compiled program per signature costs less than op-by-op dispatch.
_composite = jax.jit(volume_render.composite)
_weights = jax.jit(volume_render.compositing_weights)
_intervals = jax.jit(volume_render.sample_intervals)
_stratified_depths = jax.jit(
    lambda key, near, far: rays_lib.stratified_depths(
        key, near, far, (_BATCH, _RAYS), _SAMPLES, True
    )
)


def _inputs(seed, density_scale=2.0):
  rng = np.random.default_rng(seed)
  shape = (_BATCH, _RAYS, _SAMPLES)
  # Some rays nearly empty, some nearly opaque.
  density = rng.exponential(density_scale, shape)
  density *= rng.choice([0.0, 0.1, 1.0, 10.0], (_BATCH, _RAYS, 1))
  depths = _stratified_depths(jax.random.key(seed), _NEAR, _FAR)
  features = rng.uniform(size=shape + (_CHANNELS,))
  background = rng.uniform(size=(_BATCH, _RAYS, _CHANNELS))
  z_scale = rng.uniform(0.8, 1.0, (_BATCH, _RAYS))
  rays = structs.Rays(
      np.zeros((_BATCH, _RAYS, 3), np.float32),
      np.zeros((_BATCH, _RAYS, 3), np.float32),
      z_scale.astype(np.float32),
  )
  return (
      density.astype(np.float32),
      features.astype(np.float32),
      np.asarray(depths),
      rays,
      background.astype(np.float32),
  )


def _composite_reference(density, features, depths, z_scale, far, background):
  """Front-to-back loop over samples, in float64."""
  batch, num_rays, num = density.shape
  out = np.zeros((batch, num_rays, features.shape[-1]))
  depth = np.zeros((batch, num_rays))
  opacity = np.zeros((batch, num_rays))
  far = np.broadcast_to(far, (batch, num_rays))
  for b in range(batch):
    for r in range(num_rays):
      t = depths[b, r].astype(np.float64)
      transmittance = 1.0
      for i in range(num):
        if i + 1 < num:
          delta = t[i + 1] - t[i]
        else:
          delta = max(far[b, r] - t[i], (far[b, r] - t[0]) / num)
        alpha = 1.0 - np.exp(-density[b, r, i] * delta)
        weight = transmittance * alpha
        out[b, r] += weight * features[b, r, i]
        depth[b, r] += weight * t[i]
        opacity[b, r] += weight
        transmittance *= 1.0 - alpha
      out[b, r] += transmittance * background[b, r]
      depth[b, r] += transmittance * far[b, r]
  return out, depth * z_scale, opacity


class SampleIntervalsTest(absltest.TestCase):

  def test_non_negative_and_cover_interval(self):
    # Bins of a jittered set of samples, through the same compiled program.
    depths = np.asarray(_stratified_depths(jax.random.key(0), _NEAR, _FAR))
    intervals = np.asarray(_intervals(depths, _FAR))
    chex.assert_shape(intervals, (_BATCH, _RAYS, _SAMPLES))
    self.assertTrue(np.all(intervals >= 0))
    np.testing.assert_allclose(
        intervals[..., :-1], np.diff(depths, axis=-1), atol=1e-6
    )
    # Segments reach at least from the first sample to `far`.
    self.assertTrue(np.all(intervals.sum(-1) >= _FAR - depths[..., 0] - 1e-5))

  def test_last_interval_at_least_mean_step(self):
    depths = np.array([[1.0, 2.0, 2.9]], np.float32)
    intervals = _intervals(depths, 3.0)
    np.testing.assert_allclose(intervals, [[1.0, 0.9, 2.0 / 3.0]], rtol=1e-6)

  def test_empty_interval_has_zero_length(self):
    depths = np.full((1, 2, 4), 3.0, np.float32)
    intervals = _intervals(depths, np.full((1, 2), 3.0))
    np.testing.assert_array_equal(intervals, 0.0)


class CompositeTest(parameterized.TestCase):

  @parameterized.parameters(0, 1, 2)
  def test_weights_in_unit_interval(self, seed):
    density, _, depths, _, _ = _inputs(seed, density_scale=50.0)
    intervals = _intervals(depths, _FAR)
    weights = np.asarray(_weights(density, intervals))
    chex.assert_shape(weights, density.shape)
    self.assertTrue(np.all((weights >= 0) & (weights <= 1)))
    self.assertTrue(np.all(weights.sum(-1) <= 1 + 1e-6))

  def test_weights_match_transmittance_product(self):
    density, _, depths, _, _ = _inputs(3)
    intervals = np.asarray(_intervals(depths, _FAR))
    weights = _weights(density, intervals)
    alpha = 1.0 - np.exp(-density.astype(np.float64) * intervals)
    transmittance = np.cumprod(
        np.concatenate(
            [np.ones_like(alpha[..., :1]), 1 - alpha[..., :-1]], axis=-1
        ),
        axis=-1,
    )
    np.testing.assert_allclose(weights, transmittance * alpha, atol=1e-6)

  @parameterized.parameters(0, 1, 2)
  def test_matches_loop_reference(self, seed):
    density, features, depths, rays, background = _inputs(seed)
    out = _composite(density, features, depths, rays, _FAR, background)
    chex.assert_shape(out.features, (_BATCH, _RAYS, _CHANNELS))
    chex.assert_shape([out.depth, out.opacity], (_BATCH, _RAYS))
    ref_features, ref_depth, ref_opacity = _composite_reference(
        density, features, depths, np.asarray(rays.z_scale), _FAR, background
    )
    np.testing.assert_allclose(out.features, ref_features, atol=1e-5)
    np.testing.assert_allclose(out.depth, ref_depth, atol=1e-5)
    np.testing.assert_allclose(out.opacity, ref_opacity, atol=1e-5)

  def test_matches_loop_reference_per_ray_far(self):
    density, features, depths, rays, _ = _inputs(4)
    far = np.asarray(depths[..., -1] + 0.3, np.float32)
    out = _composite(density, features, depths, rays, far)
    ref_features, ref_depth, ref_opacity = _composite_reference(
        density,
        features,
        depths,
        np.asarray(rays.z_scale),
        far,
        np.zeros((_BATCH, _RAYS, _CHANNELS)),
    )
    np.testing.assert_allclose(out.features, ref_features, atol=1e-5)
    np.testing.assert_allclose(out.depth, ref_depth, atol=1e-5)
    np.testing.assert_allclose(out.opacity, ref_opacity, atol=1e-5)

  def test_zero_density_shows_background_exactly(self):
    _, features, depths, rays, background = _inputs(5)
    density = np.zeros(depths.shape, np.float32)
    intervals = _intervals(depths, _FAR)
    np.testing.assert_array_equal(_weights(density, intervals), 0.0)
    out = _composite(density, features, depths, rays, _FAR, background)
    np.testing.assert_array_equal(out.features, background)
    np.testing.assert_array_equal(out.opacity, 0.0)
    np.testing.assert_allclose(out.depth, _FAR * rays.z_scale, rtol=1e-6)
    # Without a background the empty ray is black.
    out = _composite(density, features, depths, rays, _FAR)
    np.testing.assert_array_equal(out.features, 0.0)

  @parameterized.parameters(0, 3, 7)
  def test_single_dense_sample(self, index):
    _, features, depths, rays, background = _inputs(6)
    density = np.zeros(depths.shape, np.float32)
    density[..., index] = 1e4
    out = _composite(density, features, depths, rays, _FAR, background)
    np.testing.assert_allclose(out.opacity, 1.0, atol=1e-5)
    np.testing.assert_allclose(
        out.depth, depths[..., index] * rays.z_scale, rtol=1e-5
    )
    np.testing.assert_allclose(out.features, features[..., index, :], atol=1e-5)

  def test_front_sample_occludes(self):
    # Two opaque samples: the nearer one wins.
    _, features, depths, rays, _ = _inputs(7)
    density = np.zeros(depths.shape, np.float32)
    density[..., 2] = 1e4
    density[..., 5] = 1e4
    out = _composite(density, features, depths, rays, _FAR)
    np.testing.assert_allclose(out.features, features[..., 2, :], atol=1e-5)

  @parameterized.parameters(0, 1)
  def test_depth_within_near_far(self, seed):
    density, features, depths, rays, background = _inputs(
        seed, density_scale=20.0
    )
    out = _composite(density, features, depths, rays, _FAR, background)
    z = np.asarray(rays.z_scale)
    depth = np.asarray(out.depth)
    self.assertTrue(np.all(depth >= _NEAR * z - 1e-5))
    self.assertTrue(np.all(depth <= _FAR * z + 1e-5))
    self.assertTrue(np.all((out.opacity >= 0) & (out.opacity <= 1 + 1e-6)))

  def test_opacity_grows_with_density(self):
    _, features, depths, rays, _ = _inputs(8)
    # Thin enough that no ray saturates at opacity 1.
    density = np.random.default_rng(8).uniform(0.01, 0.2, depths.shape)
    density = density.astype(np.float32)
    opacities = [
        np.asarray(
            _composite(density * s, features, depths, rays, _FAR).opacity
        )
        for s in (0.5, 1.0, 2.0)
    ]
    self.assertTrue(np.all(opacities[1] > opacities[0]))
    self.assertTrue(np.all(opacities[2] > opacities[1]))

  def test_density_activations(self):
    x = np.array([-3.0, 0.0, 2.0], np.float32)
    np.testing.assert_allclose(
        volume_render.DENSITY_ACTIVATIONS["relu"](x), [0, 0, 2]
    )
    np.testing.assert_allclose(
        volume_render.DENSITY_ACTIVATIONS["softplus"](x),
        np.log1p(np.exp(x)),
        rtol=1e-6,
    )


if __name__ == "__main__":
  absltest.main()
