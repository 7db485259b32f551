"""Tests for the 2D neural renderer (jaxface.neural_renderer)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
from flax import nnx
import numpy as np

from jaxface import neural_renderer
from tests import testing_utils


def _renderer(input_size, output_size, feature_dim=8, num_features=16,
              upsample="nearest"):
  """A renderer with random parameters drawn in numpy.

  The properties tested hold for any parameters; filling the abstract module
  avoids compiling the initialisers for every layer shape.
  """
  return testing_utils.random_module(
      lambda: neural_renderer.NeuralRenderer(
          feature_dim=feature_dim,
          num_features=num_features,
          min_features=8,
          input_size=input_size,
          output_size=output_size,
          upsample=upsample,
          rngs=nnx.Rngs(0),
      ),
      seed=0,
  )


@nnx.jit
def _render(renderer, features):
  return renderer(features)


def _features(height, width, feature_dim=8, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(scale=3.0, size=(batch, height, width, feature_dim)).astype(
      np.float32
  )


class NeuralRendererTest(parameterized.TestCase):

  @parameterized.parameters(
      (16, 32, 8), (16, 64, 8), (8, 32, 16), (4, 4, 8), (4, 16, 16)
  )
  def test_output_size_and_range(self, input_size, output_size, feature_dim):
    renderer = _renderer(input_size, output_size, feature_dim)
    images = np.asarray(
        _render(renderer, _features(input_size, input_size, feature_dim))
    )
    chex.assert_shape(images, (2, output_size, output_size, 3))
    self.assertTrue(np.all((images >= 0.0) & (images <= 1.0)))
    self.assertGreater(images.std(), 0.0)

  def test_non_square_input(self):
    renderer = _renderer(4, 16)
    images = _render(renderer, _features(4, 6))
    chex.assert_shape(images, (2, 16, 24, 3))

  def test_extreme_features_stay_in_range(self):
    renderer = _renderer(4, 8)
    images = np.asarray(_render(renderer, 1e3 * _features(4, 4)))
    self.assertTrue(np.all((images >= 0.0) & (images <= 1.0)))
    chex.assert_tree_all_finite(images)

  def test_samples_are_independent(self):
    renderer = _renderer(4, 8)
    features = _features(4, 4)
    images = np.asarray(_render(renderer, features))
    features[1] += 1.0
    changed = np.asarray(_render(renderer, features))
    np.testing.assert_allclose(changed[0], images[0], atol=1e-6)
    self.assertGreater(np.abs(changed[1] - images[1]).max(), 1e-4)

  @parameterized.parameters((16, 48), (16, 24), (16, 20), (8, 40))
  def test_invalid_ratio_raises(self, input_size, output_size):
    with self.assertRaisesRegex(ValueError, "power of two"):
      neural_renderer.NeuralRenderer(
          feature_dim=8,
          num_features=16,
          min_features=8,
          input_size=input_size,
          output_size=output_size,
          rngs=nnx.Rngs(0),
      )

  def test_output_smaller_than_input_raises(self):
    with self.assertRaises(ValueError):
      neural_renderer.NeuralRenderer(
          feature_dim=8,
          num_features=16,
          min_features=8,
          input_size=16,
          output_size=8,
          rngs=nnx.Rngs(0),
      )

  def test_feature_upsampling_is_the_only_difference(self):
    nearest = _renderer(4, 16)
    bilinear = _renderer(4, 16, upsample="bilinear")
    # Same parameters, so one checkpoint serves both.
    chex.assert_trees_all_equal(nnx.state(nearest, nnx.Param),
                                nnx.state(bilinear, nnx.Param))
    # A constant feature image doubles to the same maps either way (one
    # block: after a zero-padded conv the maps are no longer constant).
    constant = np.ones((2, 4, 4, 8), np.float32)
    np.testing.assert_allclose(
        _render(_renderer(4, 8, upsample="bilinear"), constant),
        _render(_renderer(4, 8), constant), atol=1e-6)
    varied = _features(4, 4)
    self.assertGreater(
        np.abs(np.asarray(_render(bilinear, varied))
               - np.asarray(_render(nearest, varied))).max(), 1e-3)
    with self.assertRaisesRegex(ValueError, "neural_renderer.upsample 'cubic'"):
      _renderer(4, 16, upsample="cubic")


if __name__ == "__main__":
  absltest.main()
