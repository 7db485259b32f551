"""Tests for reconstruction metrics (jaxface.metrics) against references."""

import math

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np
from skimage import filters
from skimage import metrics as skmetrics

from jaxface import metrics


def _smooth_images(seed, batch=3, size=32):
  """[batch, size, size, 3] float32 in [0, 1] with image-like structure."""
  rng = np.random.default_rng(seed)
  noise = rng.uniform(0, 1, (batch, size, size, 3))
  smooth = np.stack([filters.gaussian(n, sigma=2, channel_axis=-1)
                     for n in noise])
  # Stretch back to roughly the full range: blurring shrinks the contrast.
  smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
  return smooth.astype(np.float32)


class PsnrTest(absltest.TestCase):

  def test_identical_images_are_infinite(self):
    a = _smooth_images(0)
    np.testing.assert_array_equal(metrics.psnr(a, a), np.inf)

  def test_constant_offset(self):
    a = np.full((2, 8, 8, 3), 0.5, np.float32)
    # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB.
    np.testing.assert_allclose(metrics.psnr(a, a + 0.1), [20.0, 20.0],
                               rtol=1e-5)

  def test_matches_skimage_per_image(self):
    a, b = _smooth_images(1), _smooth_images(2)
    ours = np.asarray(metrics.psnr(a, b))
    for i in range(len(a)):
      self.assertAlmostEqual(
          ours[i], skmetrics.peak_signal_noise_ratio(a[i], b[i], data_range=1),
          places=3)

  def test_uint8_with_max_value(self):
    a = np.zeros((1, 4, 4, 3), np.uint8)
    b = np.full((1, 4, 4, 3), 255, np.uint8)  # wraps around if kept uint8
    np.testing.assert_allclose(metrics.psnr(a, b, max_value=255), [0.0],
                               atol=1e-6)


class SsimTest(parameterized.TestCase):

  def test_identical_images_are_one(self):
    a = _smooth_images(3)
    np.testing.assert_allclose(metrics.ssim(a, a), 1.0, atol=1e-5)

  @parameterized.parameters(0.05, 0.3, 1.0)
  def test_matches_skimage(self, noise):
    a = _smooth_images(4)
    b = np.clip(a + noise * (_smooth_images(5) - 0.5), 0, 1)
    ours = np.asarray(metrics.ssim(a, b))
    for i in range(len(a)):
      reference = skmetrics.structural_similarity(
          a[i], b[i], gaussian_weights=True, sigma=1.5,
          use_sample_covariance=False, data_range=1, channel_axis=-1)
      self.assertAlmostEqual(ours[i], reference, delta=1e-3)

  def test_less_similar_images_score_lower(self):
    a = _smooth_images(6)
    noise = _smooth_images(7) - 0.5
    close = metrics.ssim(a, np.clip(a + 0.1 * noise, 0, 1))
    far = metrics.ssim(a, np.clip(a + 0.8 * noise, 0, 1))
    self.assertTrue(np.all(np.asarray(close) > np.asarray(far)))

  def test_rejects_images_smaller_than_the_window(self):
    a = np.zeros((1, 8, 8, 3), np.float32)
    with self.assertRaisesRegex(ValueError, "11x11"):
      metrics.ssim(a, a)


class DepthErrorsTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(8)
    self.gt = rng.uniform(1.0, 3.0, (2, 16, 16)).astype(np.float32)
    self.mask = np.zeros((2, 16, 16), bool)
    self.mask[:, 4:12, 3:13] = True

  def test_scale_invariance(self):
    errs = metrics.depth_errors(2.0 * self.gt, self.gt, self.mask, 1.0)
    np.testing.assert_allclose(errs["scale_invariant"], 0.0, atol=1e-5)
    # ... while the scale-dependent errors see the factor 2.
    np.testing.assert_allclose(errs["abs_rel"], 1.0, rtol=1e-5)

  def test_scale_invariant_is_positive_otherwise(self):
    noise = np.random.default_rng(9).uniform(0.8, 1.2, self.gt.shape)
    pred = (self.gt * noise).astype(np.float32)
    errs = metrics.depth_errors(pred, self.gt, self.mask, 1.0)
    # Independent reference: the std of the log ratio over the mask.
    for i in range(2):
      d = np.log(pred[i][self.mask[i]]) - np.log(self.gt[i][self.mask[i]])
      self.assertGreater(errs["scale_invariant"][i], 0.01)
      self.assertAlmostEqual(errs["scale_invariant"][i], np.std(d), places=4)

  def test_constant_offset(self):
    errs = metrics.depth_errors(self.gt + 0.05, self.gt, self.mask,
                                head_size=0.25)
    np.testing.assert_allclose(errs["abs_rel_head"], 0.05 / 0.25, rtol=1e-4)
    for i in range(2):
      expected = np.mean(0.05 / self.gt[i][self.mask[i]])
      self.assertAlmostEqual(errs["abs_rel"][i], expected, places=5)

  def test_pixels_outside_the_mask_do_not_matter(self):
    pred = self.gt * 1.1
    clean = metrics.depth_errors(pred, self.gt, self.mask, 0.3)
    garbage = np.where(self.mask, pred, np.nan)
    garbage_gt = np.where(self.mask, self.gt, -5.0)  # log of it is NaN
    garbage_gt[:, 0, 0] = 0.0  # and division by it is infinite
    dirty = metrics.depth_errors(garbage, garbage_gt, self.mask, 0.3)
    for name in clean:
      np.testing.assert_allclose(dirty[name], clean[name], rtol=1e-6)
      self.assertTrue(np.all(np.isfinite(np.asarray(dirty[name]))))

  def test_empty_mask_is_nan_for_that_image_only(self):
    mask = self.mask.copy()
    mask[1] = False
    errs = metrics.depth_errors(self.gt * 1.1, self.gt, mask, 0.3)
    for name, values in errs.items():
      values = np.asarray(values)
      self.assertEqual(values.shape, (2,), name)
      self.assertTrue(np.isfinite(values[0]), name)
      self.assertTrue(np.isnan(values[1]), name)

  def test_jit(self):
    errs = jax.jit(metrics.depth_errors)(self.gt + 0.05, self.gt, self.mask,
                                         0.25)
    np.testing.assert_allclose(errs["abs_rel_head"], 0.2, rtol=1e-4)


class PoseErrorTest(parameterized.TestCase):

  def test_same_pose_is_zero(self):
    yaw = np.array([0.0, 0.3, -1.2, 3.0])
    pitch = np.array([0.0, -0.2, 0.5, 1.0])
    np.testing.assert_allclose(
        metrics.pose_error_degrees(yaw, pitch, yaw, pitch), 0.0, atol=1e-3)

  def test_yaw_at_the_equator(self):
    err = metrics.pose_error_degrees([0.0], [0.0], [np.radians(30)], [0.0])
    np.testing.assert_allclose(err, [30.0], atol=1e-4)

  @parameterized.parameters(-60.0, 0.0, 20.0, 45.0)
  def test_from_the_pole(self, pitch_degrees):
    # From straight above, every yaw is the same distance away.
    yaw = np.radians([0.0, 40.0, 170.0, -100.0])
    pitch = np.full(4, np.radians(pitch_degrees))
    top = np.full(4, np.radians(90.0))
    err = metrics.pose_error_degrees(np.zeros(4), top, yaw, pitch)
    np.testing.assert_allclose(err, 90.0 - pitch_degrees, atol=1e-3)

  def test_symmetric_and_matches_arccos_reference(self):
    rng = np.random.default_rng(10)
    yaw_a, yaw_b = rng.uniform(-np.pi, np.pi, (2, 32))
    pitch_a, pitch_b = rng.uniform(-1.4, 1.4, (2, 32))
    ab = np.asarray(metrics.pose_error_degrees(yaw_a, pitch_a, yaw_b, pitch_b))
    ba = np.asarray(metrics.pose_error_degrees(yaw_b, pitch_b, yaw_a, pitch_a))
    np.testing.assert_allclose(ab, ba, atol=1e-4)

    def direction(yaw, pitch):
      return np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch),
                       np.cos(yaw) * np.cos(pitch)], -1)

    dot = np.sum(direction(yaw_a, pitch_a) * direction(yaw_b, pitch_b), -1)
    np.testing.assert_allclose(ab, np.degrees(np.arccos(dot)), atol=1e-3)

  def test_yaw_pitch_errors(self):
    yaw_err, pitch_err = metrics.yaw_pitch_errors_degrees(
        np.radians([10.0, 179.0, -30.0]), np.radians([5.0, 0.0, -20.0]),
        np.radians([-20.0, -179.0, -30.0]), np.radians([-5.0, 0.0, 10.0]))
    np.testing.assert_allclose(yaw_err, [30.0, 2.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(pitch_err, [10.0, 0.0, 30.0], atol=1e-3)


class CosineTest(absltest.TestCase):

  def test_parallel_orthogonal_opposite(self):
    a = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [0.5, -1.0, 2.0]])
    b = np.array([[2.0, 4.0, 6.0], [0.0, 3.0, 0.0], [-1.0, 2.0, -4.0]])
    np.testing.assert_allclose(metrics.cosine(a, b), [1.0, 0.0, -1.0],
                               atol=1e-6)

  def test_matches_reference_and_handles_zero_vectors(self):
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(2, 5, 16))
    expected = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1)
                                    * np.linalg.norm(b, axis=-1))
    np.testing.assert_allclose(metrics.cosine(a, b), expected, atol=1e-5)
    np.testing.assert_array_equal(metrics.cosine(np.zeros((1, 4)), b[:1, :4]),
                                  [0.0])


class ReportTest(absltest.TestCase):

  def test_summarize_skips_nan(self):
    summary = metrics.summarize({
        "psnr": np.array([20.0, 30.0]),
        "abs_rel": np.array([0.1, np.nan, 0.3]),
        "none": np.array([np.nan, np.nan]),
        "perfect": np.array([np.inf, 10.0]),
    })
    self.assertEqual(summary["psnr"], 25.0)
    self.assertAlmostEqual(summary["abs_rel"], 0.2)
    self.assertTrue(math.isnan(summary["none"]))
    self.assertEqual(summary["perfect"], math.inf)
    for value in summary.values():
      self.assertIsInstance(value, float)

  def test_summarize_accepts_jax_arrays(self):
    summary = metrics.summarize(
        {"cos": metrics.cosine(np.eye(3), np.eye(3))})
    self.assertAlmostEqual(summary["cos"], 1.0, places=6)

  def test_format_table(self):
    table = metrics.format_table(
        {"psnr": 23.456789, "ssim": 0.9, "scale_invariant": math.nan})
    lines = table.split("\n")
    self.assertLen(lines, 5)
    self.assertEqual(lines[0].split(), ["metric", "value"])
    self.assertEqual(set(lines[1]), {"-"})
    self.assertEqual(lines[2].split(), ["psnr", "23.4568"])
    self.assertEqual(lines[3].split(), ["ssim", "0.9000"])
    self.assertEqual(lines[4].split(), ["scale_invariant", "nan"])
    # Aligned: every row has the same width, values end in one column.
    self.assertLen({len(line) for line in lines}, 1)
    self.assertEqual(lines[2].index("psnr"), 0)


if __name__ == "__main__":
  absltest.main()
