"""Evaluating only the bins that can meet the object box changes nothing."""

import jax
import jax.numpy as jnp
from absl.testing import absltest
from absl.testing import parameterized
from flax import nnx

from jaxface import camera
from jaxface import generator
from tests import testing_utils


class SampleWindowTest(parameterized.TestCase):

  @parameterized.parameters(None, 3)
  def test_window_matches_full_evaluation(self, jitter_seed):
    config = testing_utils.load_config("celeba64")
    config.field.update(hidden=16, num_layers=3, skips=(1,), z_shape_dim=8,
                        z_app_dim=8, feature_dim=8, z_bg_shape_dim=4,
                        z_bg_app_dim=4)
    config.neural_renderer.update(num_features=8, min_features=8)
    config.render.feature_size = 8
    config.data.image_size = 16
    # Wide pose prior: rays enter the box at many different bins.
    config.camera.azimuth_range = (0.3, 0.7)
    model = generator.Generator(config, rngs=nnx.Rngs(0))
    self.assertIsNotNone(model.window)
    self.assertLess(model.window, config.render.num_samples // 4)
    # A dense object so that compositing weights are far from trivial.
    model.field.density_out.bias[...] = model.field.density_out.bias[...] + 3
    latents = generator.sample_latents(jax.random.key(1), 4, config.field)
    cams = camera.sample_poses(jax.random.key(2), 4, config.camera)
    key = None if jitter_seed is None else jax.random.key(jitter_seed)
    windowed = model(latents, cams, key)
    model.window = None
    full = model(latents, cams, key)
    self.assertGreater(float(full.opacity.max()), 0.3)
    for name in ("images", "features", "depth", "opacity"):
      diff = jnp.max(jnp.abs(getattr(windowed, name) - getattr(full, name)))
      self.assertLess(float(diff), 1e-6, name)


if __name__ == "__main__":
  absltest.main()
