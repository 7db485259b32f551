"""Tests for the discriminators (jaxface.discriminator)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
from flax import nnx
import ml_collections
import numpy as np

from jaxface import discriminator
from tests import testing_utils


def _disc_config(kind, num_features=32, use_bias=True):
  return ml_collections.ConfigDict(dict(kind=kind, num_features=num_features,
                                        use_bias=use_bias))


def _make(kind, size, seed=0):
  """A discriminator with random parameters drawn in numpy.

  The properties tested hold for any parameters; filling the abstract module
  avoids compiling the initialisers for every layer shape.
  """
  return testing_utils.random_module(
      lambda: discriminator.make_discriminator(
          _disc_config(kind), size, nnx.Rngs(0)
      ),
      seed=seed,
  )


@nnx.jit
def _logits(disc, images):
  return disc(images)


def _images(batch, size, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)


class DiscriminatorTest(parameterized.TestCase):

  @parameterized.product(kind=("dcgan", "resnet"), size=(32, 64))
  def test_logit_per_image(self, kind, size):
    logits = _logits(_make(kind, size), _images(3, size))
    chex.assert_shape(logits, (3,))
    chex.assert_tree_all_finite(logits)
    self.assertGreater(float(np.std(logits)), 0.0)

  def test_make_discriminator_builds_named_kind(self):
    for kind, cls in (
        ("dcgan", discriminator.DCGANDiscriminator),
        ("resnet", discriminator.ResNetDiscriminator),
    ):
      disc = nnx.eval_shape(
          lambda k=kind: discriminator.make_discriminator(
              _disc_config(k), 16, nnx.Rngs(0)
          )
      )
      self.assertIsInstance(disc, cls)

  def test_unknown_kind_raises(self):
    with self.assertRaisesRegex(ValueError, "stylegan"):
      discriminator.make_discriminator(
          _disc_config("stylegan"), 32, nnx.Rngs(0)
      )

  @parameterized.parameters("dcgan", "resnet")
  def test_samples_are_independent(self, kind):
    disc = _make(kind, 16, seed=1)
    images = _images(4, 16)
    logits = np.asarray(_logits(disc, images))
    images[2] = _images(1, 16, seed=1)[0]
    changed = np.asarray(_logits(disc, images))
    np.testing.assert_allclose(changed[[0, 1, 3]], logits[[0, 1, 3]], atol=1e-5)
    self.assertGreater(abs(changed[2] - logits[2]), 1e-5)


if __name__ == "__main__":
  absltest.main()
