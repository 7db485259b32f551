"""Stage 5: the neural renderer, a 2D upsampler from features to RGB.

GIRAFFE's design: each block doubles the resolution with nearest-neighbour
upsampling and a 3x3 conv, halving channels; an RGB image is accumulated
through bilinear-upsampled (and, in GIRAFFE, blurred) skip connections from
every block, and a sigmoid maps it to [0, 1].

``upsample="bilinear"`` (jaxface's option) doubles the feature maps by
interpolation instead: with nearest doubling the renderer can keep the
feature image's pixels as visible blocks (a plaid with the period of the
feature pixels in the 64x64 renders made from 16x16 features).
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxface import layers


def blur(x: jax.Array) -> jax.Array:
  """GIRAFFE's ``Blur``: a [1, 2, 1] x [1, 2, 1] / 16 filter per channel.

  The image is reflect-padded (mirrored without repeating the edge), so
  the result keeps its size and a constant image stays constant.

  Args:
    x: [batch, h, w, c].

  Returns:
    [batch, h, w, c].
  """
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  # Separable: [1, 2, 1] / 4 along rows, then along columns.
  rows = 0.25 * (padded[:, :-2] + 2.0 * padded[:, 1:-1] + padded[:, 2:])
  return 0.25 * (rows[:, :, :-2] + 2.0 * rows[:, :, 1:-1] + rows[:, :, 2:])


class NeuralRenderer(nnx.Module):
  """Feature image [batch, h, w, feature_dim] -> RGB [batch, H, W, 3]."""

  def __init__(self, *, feature_dim: int, num_features: int, min_features: int,
               input_size: int, output_size: int, use_blur: bool = False,
               upsample: str = "nearest", rngs: nnx.Rngs):
    num_blocks = int(math.log2(max(output_size // input_size, 1)))
    if output_size < input_size or input_size * 2 ** num_blocks != output_size:
      raise ValueError(
          f"output_size {output_size} is not input_size {input_size} times a "
          "power of two")
    if upsample not in layers.UPSAMPLES:
      raise ValueError(f"unknown neural_renderer.upsample {upsample!r}; "
                       f"one of {list(layers.UPSAMPLES)}")
    # How the feature maps are doubled (the RGB skips are always bilinear).
    self.upsample = upsample
    # GIRAFFE blurs the RGB image after each bilinear upsampling.
    self.use_blur = bool(use_blur)
    self.conv_in = nnx.data(
        nnx.Conv(feature_dim, num_features, (1, 1), rngs=rngs)
        if feature_dim != num_features else None)
    channels = [num_features] + [max(num_features // 2 ** i, min_features)
                                 for i in range(1, num_blocks + 1)]
    self.blocks = nnx.List([
        nnx.Conv(channels[i], channels[i + 1], (3, 3), rngs=rngs)
        for i in range(num_blocks)])
    self.to_rgb = nnx.List(
        [nnx.Conv(feature_dim, 3, (3, 3), rngs=rngs)]
        + [nnx.Conv(channels[i + 1], 3, (3, 3), rngs=rngs)
           for i in range(num_blocks)])

  def __call__(self, features: jax.Array) -> jax.Array:
    """Renders RGB.

    Args:
      features: [batch, h, w, feature_dim] feature image.

    Returns:
      [batch, h * 2^k, w * 2^k, 3] image in [0, 1].
    """
    # Computed in the parameters' dtype; the image leaves in float32.
    features = features.astype(self.to_rgb[0].kernel.dtype)
    net = features if self.conv_in is None else self.conv_in(features)
    rgb = self.to_rgb[0](features)
    for i, block in enumerate(self.blocks):
      rgb = layers.upsample_bilinear(rgb)
      if self.use_blur:
        rgb = blur(rgb)
      net = layers.UPSAMPLES[self.upsample](net)
      net = jax.nn.leaky_relu(block(net), 0.2)
      rgb = rgb + self.to_rgb[i + 1](net)
    return jax.nn.sigmoid(rgb.astype(jnp.float32))
