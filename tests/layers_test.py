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


def _upsample_reference(maps):
  """Bilinear 2x along both axes of [r, r, c], written out in float64.

  New texel 2k sits a quarter texel before old texel k, 2k + 1 a quarter
  after: weights 3/4 on texel k and 1/4 on its neighbour, the neighbour
  clamped at the edges.
  """
  def along_rows(m):
    r = m.shape[0]
    out = np.empty((2 * r,) + m.shape[1:])
    for k in range(r):
      out[2 * k] = 0.75 * m[k] + 0.25 * m[max(k - 1, 0)]
      out[2 * k + 1] = 0.75 * m[k] + 0.25 * m[min(k + 1, r - 1)]
    return out
  return along_rows(along_rows(maps).swapaxes(0, 1)).swapaxes(0, 1)


class UpsampleTest(absltest.TestCase):

  def test_bilinear_against_a_written_out_reference(self):
    maps = np.random.default_rng(4).normal(size=(2, 5, 5, 3))
    bilinear = np.asarray(layers.upsample_bilinear(
        jnp.asarray(maps, jnp.float32)))
    for b in range(2):
      np.testing.assert_allclose(bilinear[b], _upsample_reference(maps[b]),
                                 atol=1e-5)
    # A linear ramp stays the same ramp, read at the new pixel centres: no
    # steps, which nearest-neighbour doubling leaves at every pixel pair.
    ramp = np.broadcast_to(np.arange(6.0)[None, :, None, None],
                           (1, 6, 6, 1))
    up = np.asarray(layers.upsample_bilinear(
        jnp.asarray(ramp, jnp.float32)))[0, 1:-1, 0, 0]
    np.testing.assert_allclose(np.diff(up), 0.5, atol=1e-5)

  def test_nearest_repeats_each_pixel(self):
    x = np.random.default_rng(5).normal(size=(2, 2, 3, 4)).astype(np.float32)
    near = np.asarray(layers.upsample_nearest(x))
    self.assertEqual(near.shape, (2, 4, 6, 4))
    for dr in (0, 1):
      for dc in (0, 1):
        np.testing.assert_array_equal(near[:, dr::2, dc::2], x)

  def test_table_names_both(self):
    x = np.random.default_rng(6).normal(size=(1, 3, 3, 2)).astype(np.float32)
    for name, upsample in (("nearest", layers.upsample_nearest),
                           ("bilinear", layers.upsample_bilinear)):
      np.testing.assert_array_equal(layers.UPSAMPLES[name](x), upsample(x))


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
