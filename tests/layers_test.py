"""layers.conv2d equals lax convolution in value, gradient and R1 gradient."""

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from absl.testing import parameterized
from jax import lax

from jaxface import layers


def _reference(x, kernel, stride, padding):
  return lax.conv_general_dilated(
      x, kernel, (stride, stride), ((padding, padding), (padding, padding)),
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


class Conv2dTest(parameterized.TestCase):

  @parameterized.parameters(
      (4, 2, 1, 8),  # DCGAN down-sampling block
      (4, 2, 1, 7),  # odd input size
      (4, 1, 0, 4),  # DCGAN output conv
      (3, 1, 1, 6),  # ResNet block conv
      (1, 1, 0, 5),  # 1x1 shortcut
  )
  def test_matches_lax(self, k, stride, padding, size):
    kx, kk, kv = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (2, size, size, 3))
    kernel = jax.random.normal(kk, (k, k, 3, 5))
    ours = layers.conv2d(x, kernel, stride=stride, padding=padding)
    ref = _reference(x, kernel, stride, padding)
    self.assertEqual(ours.shape, ref.shape)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)

    # First-order gradients w.r.t. both arguments.
    cot = jax.random.normal(kv, ref.shape)
    f = lambda fn: lambda x, w: jnp.sum(fn(x, w) * cot)
    ours_g = jax.grad(f(lambda x, w: layers.conv2d(
        x, w, stride=stride, padding=padding)), argnums=(0, 1))(x, kernel)
    ref_g = jax.grad(f(lambda x, w: _reference(x, w, stride, padding)),
                     argnums=(0, 1))(x, kernel)
    for a, b in zip(ours_g, ref_g):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)

    # Second order, as R1 uses it: d/dw ||d/dx sum(tanh(conv(x, w)))||^2.
    def r1(fn):
      def penalty(w):
        gx = jax.grad(lambda x: jnp.sum(jnp.tanh(fn(x, w))))(x)
        return jnp.sum(gx ** 2)
      return jax.grad(penalty)(kernel)
    ours_r1 = r1(lambda x, w: layers.conv2d(x, w, stride=stride,
                                            padding=padding))
    ref_r1 = r1(lambda x, w: _reference(x, w, stride, padding))
    scale = float(jnp.max(jnp.abs(ref_r1)))
    self.assertGreater(scale, 0.0)
    np.testing.assert_allclose(ours_r1 / scale, ref_r1 / scale, atol=1e-4)

  def test_odd_kernel_stride_two_rejected(self):
    with self.assertRaises(ValueError):
      layers.conv2d(jnp.zeros((1, 8, 8, 1)), jnp.zeros((3, 3, 1, 1)),
                    stride=2)


if __name__ == "__main__":
  absltest.main()
