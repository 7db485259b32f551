"""Tests for the GAN losses and the R1 penalty (jaxface.losses)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from jaxface import camera as camera_lib
from jaxface import discriminator
from jaxface import losses
from jaxface import structs


def _softplus(x):
  x = np.asarray(x, np.float64)
  return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


class GanLossTest(parameterized.TestCase):

  def test_generator_loss(self):
    logits = np.array([-3.0, -0.5, 0.0, 0.7, 4.0], np.float32)
    expected = np.mean(np.log(1.0 + np.exp(-logits.astype(np.float64))))
    np.testing.assert_allclose(
        losses.generator_gan_loss(logits), expected, rtol=1e-6
    )

  def test_discriminator_loss(self):
    real = np.array([2.0, -1.0, 0.3], np.float32)
    fake = np.array([-2.5, 0.1, 1.2], np.float32)
    real64, fake64 = real.astype(np.float64), fake.astype(np.float64)
    expected = np.mean(np.log(1.0 + np.exp(-real64))) + np.mean(
        np.log(1.0 + np.exp(fake64))
    )
    np.testing.assert_allclose(
        losses.discriminator_gan_loss(real, fake), expected, rtol=1e-6
    )

  def test_large_logits_are_stable(self):
    logits = np.array([-200.0, 200.0], np.float32)
    np.testing.assert_allclose(
        losses.generator_gan_loss(logits),
        np.mean(_softplus(-logits)),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.discriminator_gan_loss(logits, logits),
        np.mean(_softplus(-logits)) + np.mean(_softplus(logits)),
        rtol=1e-6,
    )

  def test_losses_point_the_right_way(self):
    # D gains from scoring reals higher and fakes lower; G from fakes higher.
    grad_g = jax.grad(losses.generator_gan_loss)(jnp.zeros(3))
    self.assertTrue(np.all(grad_g < 0))
    grad_real, grad_fake = jax.grad(
        losses.discriminator_gan_loss, argnums=(0, 1)
    )(jnp.zeros(3), jnp.zeros(3))
    self.assertTrue(np.all(grad_real < 0))
    self.assertTrue(np.all(grad_fake > 0))
    self.assertAlmostEqual(
        float(losses.discriminator_gan_loss(jnp.zeros(4), jnp.zeros(4))),
        2.0 * np.log(2.0),
        places=6,
    )


class R1PenaltyTest(parameterized.TestCase):

  def test_linear_discriminator(self):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 4, 3)).astype(np.float32)
    images = rng.uniform(-1, 1, (5, 4, 4, 3)).astype(np.float32)

    def disc(x):
      return jnp.sum(w * x, axis=(1, 2, 3))

    penalty, logits = losses.r1_penalty(disc, images)
    chex.assert_shape(penalty, ())
    chex.assert_shape(logits, (5,))
    np.testing.assert_allclose(
        penalty, np.sum(w.astype(np.float64) ** 2), rtol=1e-5
    )
    np.testing.assert_allclose(logits, disc(images), rtol=1e-6)

  def test_nonlinear_discriminator_analytic(self):
    # D(x) = sum(tanh(a * x)): dD/dx = a * (1 - tanh(a x)^2) per pixel.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3, 3))
    images = rng.uniform(-1, 1, (4, 3, 3, 3))

    def disc(x):
      return jnp.sum(jnp.tanh(a.astype(np.float32) * x), axis=(1, 2, 3))

    penalty, _ = losses.r1_penalty(disc, images.astype(np.float32))
    grads = a * (1.0 - np.tanh(a * images) ** 2)
    expected = np.mean(np.sum(grads.reshape(4, -1) ** 2, axis=-1))
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)

  def test_matches_per_sample_gradients_of_real_discriminator(self):
    disc = nnx.eval_shape(
        lambda: discriminator.DCGANDiscriminator(
            image_size=16, num_features=16, rngs=nnx.Rngs(0)
        )
    )
    graphdef, state = nnx.split(disc)
    rng = np.random.default_rng(2)
    # Random parameters drawn in numpy: nothing to compile for the init.
    state = jax.tree.map(
        lambda leaf: jnp.asarray(
            rng.normal(scale=0.2, size=leaf.shape), leaf.dtype
        ),
        state,
    )
    images = rng.uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32)

    @jax.jit
    def penalty_and_reference(state, images):
      disc = nnx.merge(graphdef, state)
      penalty, logits = losses.r1_penalty(disc, images)
      grads = jax.vmap(jax.grad(lambda x: disc(x[None])[0]))(images)
      return penalty, logits, disc(images), grads

    penalty, logits, direct, grads = penalty_and_reference(state, images)
    np.testing.assert_allclose(logits, direct, atol=1e-6)
    norms = np.sum(np.asarray(grads, np.float64).reshape(3, -1) ** 2, axis=-1)
    self.assertGreater(norms.min(), 0.0)
    np.testing.assert_allclose(penalty, np.mean(norms), rtol=1e-4)

  def test_finite_differences(self):
    # D(x) = sum(x^2) * c per sample: ||grad||^2 = 4 c^2 ||x||^2.
    rng = np.random.default_rng(3)
    images = rng.uniform(-1, 1, (2, 2, 2, 3))
    c = 0.7

    def disc(x):
      return c * jnp.sum(x**2, axis=(1, 2, 3))

    penalty, _ = losses.r1_penalty(disc, images.astype(np.float32))
    eps = 1e-4
    fd_norms = []
    for x in images:
      flat = x.reshape(-1)
      grad = np.zeros_like(flat)
      for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = eps
        grad[i] = (
            c * np.sum((flat + step) ** 2) - c * np.sum((flat - step) ** 2)
        ) / (2 * eps)
      fd_norms.append(np.sum(grad**2))
    np.testing.assert_allclose(penalty, np.mean(fd_norms), rtol=1e-5)
    np.testing.assert_allclose(
        np.mean(fd_norms),
        np.mean(4 * c**2 * np.sum(images.reshape(2, -1) ** 2, axis=-1)),
        rtol=1e-6,
    )


class PoseRegressionTest(absltest.TestCase):

  def test_pitch_weight_scales_only_the_pitch_error(self):
    guess = structs.Encoding(mean=None, logvar=None,
                             yaw=jnp.array([0.3, -0.1]),
                             pitch=jnp.array([0.05, 0.0]))
    truth = camera_lib.make_camera(jnp.array([0.1, -0.1]),
                                   jnp.array([0.0, 0.02]), 2.7, 10.0)
    yaw2 = np.array([0.2**2, 0.0])
    pitch2 = np.array([0.05**2, 0.02**2])
    np.testing.assert_allclose(losses.pose_regression(guess, truth),
                               yaw2 + pitch2, rtol=1e-5)
    np.testing.assert_allclose(losses.pose_regression(guess, truth, 50.0),
                               yaw2 + 50.0 * pitch2, rtol=1e-5)


class RawRgbTest(absltest.TestCase):

  def test_box_downsample_takes_block_means(self):
    images = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    want = np.zeros((2, 4, 4, 3), np.float32)
    for i in range(4):
      for j in range(4):
        want[:, i, j] = images[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(
            axis=(1, 2))
    np.testing.assert_allclose(losses.box_downsample(jnp.asarray(images), 4),
                               want, rtol=1e-6)

  def test_only_the_first_three_channels_are_scored(self):
    rng = np.random.default_rng(1)
    target = rng.random((2, 8, 8, 3)).astype(np.float32)
    features = rng.random((2, 4, 4, 5)).astype(np.float32)
    features[..., :3] = losses.box_downsample(jnp.asarray(target), 4)
    np.testing.assert_allclose(
        losses.raw_rgb_distance(jnp.asarray(features), target), 0.0,
        atol=1e-7)
    features[0, 1, 2, 1] += 0.48  # one value of 16 * 3 in the first image
    np.testing.assert_allclose(
        losses.raw_rgb_distance(jnp.asarray(features), target),
        [0.48 / 48, 0.0], atol=1e-6)


if __name__ == "__main__":
  absltest.main()
