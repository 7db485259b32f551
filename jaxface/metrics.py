"""Reconstruction quality metrics.

Per-image metrics take batches (numpy or JAX arrays), return one value per
image as a JAX array, and are pure, so they also run under ``jax.jit``.
``summarize`` and ``format_table`` turn them into the numbers a report shows.

Conventions:
  * Images are [batch, h, w, c] floats in [0, max_value].
  * Depths are [batch, h, w] positive distances with a [batch, h, w] bool
    mask of the pixels to score; an image whose mask is empty scores NaN,
    which ``summarize`` skips.
  * Angles are given in radians (like ``jaxface.camera``) and errors are
    returned in degrees, which is how people read them.
"""

import math
from typing import Mapping

import dm_pix
import jax.numpy as jnp
import numpy as np

from jaxface import camera

# SSIM window: Wang et al. 2004's Gaussian, also skimage's gaussian_weights
# setting (sigma 1.5, truncated at 3.5 sigma -> 11 taps).
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5


def _float(x):
  """As a JAX float array; integers (uint8 images) become float32."""
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  return x


def psnr(a, b, max_value: float = 1.0):
  """Peak signal-to-noise ratio.

  Args:
    a: [batch, h, w, c] images in [0, max_value].
    b: [batch, h, w, c] images in [0, max_value].
    max_value: the largest possible pixel value (255 for uint8 images).

  Returns:
    [batch] PSNR in dB; +inf for identical images.
  """
  a, b = _float(a), _float(b)
  mse = jnp.mean(jnp.square(a - b), axis=tuple(range(1, a.ndim)))
  # mse == 0 divides to inf and log10(inf) = inf: the right limit.
  return 10.0 * jnp.log10(max_value ** 2 / mse)


def ssim(a, b, max_value: float = 1.0):
  """Structural similarity (Wang et al. 2004), averaged over pixels.

  Local statistics use an 11x11 Gaussian window with sigma 1.5, evaluated
  only where the window fits inside the image (no padding), with the usual
  constants k1 = 0.01, k2 = 0.03. Colour channels are scored separately and
  averaged. This equals skimage's ``structural_similarity`` with
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``.

  Args:
    a: [batch, h, w, c] images in [0, max_value], h and w at least 11.
    b: [batch, h, w, c] images in [0, max_value].
    max_value: the largest possible pixel value.

  Returns:
    [batch] SSIM in [-1, 1]; 1 for identical images.

  Raises:
    ValueError: images smaller than the window, or shapes that differ.
  """
  a, b = _float(a), _float(b)
  if a.shape != b.shape or a.ndim != 4:
    raise ValueError(f"ssim needs two [batch, h, w, c] arrays of one shape, "
                     f"got {a.shape} and {b.shape}")
  if min(a.shape[1:3]) < SSIM_FILTER_SIZE:
    # The valid-mode window would leave no pixels and the mean would be NaN.
    raise ValueError(f"ssim needs images of at least {SSIM_FILTER_SIZE}x"
                     f"{SSIM_FILTER_SIZE} pixels, got {a.shape[1:3]}")
  return dm_pix.ssim(a, b, max_val=max_value, filter_size=SSIM_FILTER_SIZE,
                     filter_sigma=SSIM_FILTER_SIGMA)


def psnr_masked(a, b, mask, max_value: float = 1.0):
  """PSNR over the pixels of ``mask`` only (all channels).

  Args:
    a: [batch, h, w, c] images in [0, max_value].
    b: [batch, h, w, c] images in [0, max_value].
    mask: [batch, h, w] bool, e.g. the head's pixels.
    max_value: the largest possible pixel value.

  Returns:
    [batch] PSNR in dB; +inf where the masked pixels agree, NaN where the
    mask is empty.
  """
  a, b = _float(a), _float(b)
  mse = masked_mean(jnp.mean(jnp.square(a - b), axis=-1), mask)
  return 10.0 * jnp.log10(max_value ** 2 / mse)


def ssim_masked(a, b, mask, max_value: float = 1.0):
  """SSIM averaged over the pixels of ``mask`` (``ssim``'s window and constants).

  The SSIM map exists where the 11x11 window fits in the image; a masked
  pixel counts when the window centred on it fits.

  Args:
    a: [batch, h, w, c] images in [0, max_value].
    b: [batch, h, w, c] images in [0, max_value].
    mask: [batch, h, w] bool.
    max_value: the largest possible pixel value.

  Returns:
    [batch] mean SSIM over the mask; NaN where no masked pixel counts.
  """
  a, b = _float(a), _float(b)
  ssim(a[:1], b[:1], max_value)  # the same shape checks
  ssim_map = jnp.mean(dm_pix.ssim(
      a, b, max_val=max_value, filter_size=SSIM_FILTER_SIZE,
      filter_sigma=SSIM_FILTER_SIGMA, return_map=True), axis=-1)
  border = SSIM_FILTER_SIZE // 2
  inner = jnp.asarray(mask, bool)[:, border:-border, border:-border]
  return masked_mean(ssim_map, inner)


def masked_mean(values, mask):
  """Mean of [batch, h, w] ``values`` over ``mask``; NaN where it is empty."""
  count = jnp.sum(mask, axis=(1, 2))
  total = jnp.sum(jnp.where(mask, values, 0.0), axis=(1, 2))
  return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def depth_errors(pred, gt, mask, head_size: float) -> dict:
  """Depth errors inside a mask, per image.

  Pixels outside the mask may hold anything (zeros, NaN, background depths):
  they are replaced before any arithmetic, so they cannot leak into the
  result. Depths inside the mask must be positive for ``abs_rel`` and
  ``scale_invariant``.

  Args:
    pred: [batch, h, w] predicted depths.
    gt: [batch, h, w] true depths.
    mask: [batch, h, w] bool, the pixels to score (e.g. the head).
    head_size: a length in depth units (scalar or [batch]), e.g. the head's
      diameter, so ``abs_rel_head`` reads as a fraction of the head.

  Returns:
    Dict of [batch] arrays, NaN for images with an empty mask:
      * ``abs_rel_head``: mean |pred - gt| / head_size.
      * ``abs_rel_head_offset``: the same after the best single offset of
        pred along the camera axis (the median of gt - pred), so that a
        shape in the wrong place shows here as right.
      * ``abs_rel``: mean |pred - gt| / gt.
      * ``scale_invariant``: Eigen et al. 2014's scale-invariant log error
        (their lambda = 1), returned as its square root, i.e. the standard
        deviation of d = log pred - log gt over the mask:
        sqrt(mean d^2 - (mean d)^2). It is 0 when pred is gt times any
        positive constant.
  """
  mask = jnp.asarray(mask, bool)
  pred, gt = _float(pred), _float(gt)
  # Safe stand-ins outside the mask keep log and division finite there, so
  # their gradients and NaN-propagation stay harmless too.
  pred = jnp.where(mask, pred, 1.0)
  gt = jnp.where(mask, gt, 1.0)
  abs_diff = jnp.abs(pred - gt)
  log_ratio = jnp.log(pred) - jnp.log(gt)
  mean_d = masked_mean(log_ratio, mask)
  # Two passes, mean((d - mean d)^2): the one-pass mean(d^2) - (mean d)^2
  # cancels catastrophically in float32 when pred is a scaled gt, leaving
  # errors of ~1e-4 where the answer is 0.
  variance = masked_mean(jnp.square(log_ratio - mean_d[:, None, None]), mask)
  head_size = jnp.asarray(head_size, abs_diff.dtype)
  # The best single offset for an L1 error is the median difference: what
  # is left is the error of the shape, not of its placement along the ray.
  offset = jnp.nanmedian(jnp.where(mask, gt - pred, jnp.nan), axis=(1, 2))
  shifted = jnp.abs(pred + offset[:, None, None] - gt)
  return {
      "abs_rel_head": masked_mean(abs_diff, mask) / head_size,
      "abs_rel_head_offset": masked_mean(shifted, mask) / head_size,
      "abs_rel": masked_mean(abs_diff / gt, mask),
      "scale_invariant": jnp.sqrt(variance),
  }


def _angle_degrees(u, v):
  """Angle between [..., 3] vectors, in degrees."""
  # atan2(|u x v|, u . v) stays accurate for tiny angles, where arccos of a
  # dot product near 1 loses most of its digits.
  cross = jnp.linalg.norm(jnp.cross(u, v), axis=-1)
  dot = jnp.sum(u * v, axis=-1)
  return jnp.degrees(jnp.arctan2(cross, dot))


def pose_error_degrees(yaw_a, pitch_a, yaw_b, pitch_b):
  """Angle between two viewing directions.

  Each pose is the unit vector from the head's centre to the camera,
  ``camera.camera_position(yaw, pitch, 1)``; the error is the angle between
  the two, so it ignores yaw differences at the poles and wraps yaw around.

  Args:
    yaw_a: [batch] radians.
    pitch_a: [batch] radians.
    yaw_b: [batch] radians.
    pitch_b: [batch] radians.

  Returns:
    [batch] angles in degrees, in [0, 180].
  """
  dir_a = camera.camera_position(_float(yaw_a), _float(pitch_a), 1.0)
  dir_b = camera.camera_position(_float(yaw_b), _float(pitch_b), 1.0)
  return _angle_degrees(dir_a, dir_b)


def yaw_pitch_errors_degrees(yaw_a, pitch_a, yaw_b, pitch_b):
  """Absolute yaw and pitch differences.

  Args:
    yaw_a: [batch] radians.
    pitch_a: [batch] radians.
    yaw_b: [batch] radians.
    pitch_b: [batch] radians.

  Returns:
    ``(yaw_error, pitch_error)``, each [batch] degrees. Yaw is compared
    around the circle (179 and -179 degrees are 2 apart), so it lies in
    [0, 180].
  """
  turn = jnp.remainder(_float(yaw_a) - _float(yaw_b), 2.0 * jnp.pi)
  yaw_error = jnp.minimum(turn, 2.0 * jnp.pi - turn)
  pitch_error = jnp.abs(_float(pitch_a) - _float(pitch_b))
  return jnp.degrees(yaw_error), jnp.degrees(pitch_error)


def cosine(a, b, eps: float = 1e-12):
  """Row-wise cosine similarity.

  Args:
    a: [batch, d] vectors (e.g. identity embeddings).
    b: [batch, d] vectors.
    eps: floor on the product of the norms, so a zero vector scores 0
      instead of NaN.

  Returns:
    [batch] similarities in [-1, 1].
  """
  a, b = _float(a), _float(b)
  norms = jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1)
  return jnp.sum(a * b, axis=-1) / jnp.maximum(norms, eps)


def summarize(per_image: Mapping[str, object]) -> dict[str, float]:
  """Means over images, skipping NaN (images a metric could not score).

  Infinite values are kept: the PSNR of a perfect reconstruction is +inf,
  and so is any mean that includes it.

  Args:
    per_image: metric name -> [batch] values (any array-like).

  Returns:
    Metric name -> mean as a Python float; NaN if every value is NaN.
  """
  summary = {}
  for name, values in per_image.items():
    values = np.asarray(values, np.float64).ravel()
    scored = values[~np.isnan(values)]
    # Checked by hand: np.nanmean would warn on all-NaN input, which is an
    # expected case here (e.g. no image had a face mask).
    summary[name] = float(np.mean(scored)) if scored.size else math.nan
  return summary


def format_table(results: Mapping[str, float], digits: int = 4) -> str:
  """A two-column plain-text table: names left-aligned, values right-aligned.

  Args:
    results: metric name -> value, e.g. from ``summarize``; printed in the
      given order.
    digits: decimals printed for each value.

  Returns:
    The table, one metric per line after a header, without a trailing
    newline.
  """
  names = ["metric"] + [str(name) for name in results]
  values = ["value"] + [f"{float(v):.{digits}f}" for v in results.values()]
  name_width = max(len(n) for n in names)
  value_width = max(len(v) for v in values)
  lines = [f"{n:<{name_width}}  {v:>{value_width}}"
           for n, v in zip(names, values)]
  lines.insert(1, "-" * (name_width + 2 + value_width))
  return "\n".join(lines)
