"""Stage 6: discriminators over RGB images in [-1, 1].

``DCGANDiscriminator`` is GIRAFFE's: strided 4x4 convs doubling channels down
to 4x4, then a 4x4 valid conv to one logit. ``ResNetDiscriminator`` is the
residual alternative (two 3x3 convs per block, average-pool downsampling,
1x1-conv shortcut), stronger at higher resolutions. Both use ``layers.Conv``,
whose second derivatives (needed by R1) are fast.
"""

import math

import jax
from flax import nnx

from jaxface import layers


class DCGANDiscriminator(nnx.Module):
  """[batch, size, size, 3] -> [batch] logits."""

  def __init__(self, *, image_size: int, num_features: int, rngs: nnx.Rngs):
    num_layers = int(math.log2(image_size)) - 2
    channels = [3] + [num_features // 2 ** (num_layers - 1 - i)
                      for i in range(num_layers)]
    self.blocks = nnx.List([
        layers.Conv(channels[i], channels[i + 1], 4, stride=2, padding=1,
                    rngs=rngs)
        for i in range(num_layers)])
    self.conv_out = layers.Conv(channels[-1], 1, 4, rngs=rngs)

  def __call__(self, images: jax.Array) -> jax.Array:
    net = images
    for block in self.blocks:
      net = jax.nn.leaky_relu(block(net), 0.2)
    return self.conv_out(net).reshape(images.shape[0])


class ResidualBlock(nnx.Module):
  """Pre-activation residual block that halves the resolution."""

  def __init__(self, in_ch: int, out_ch: int, rngs: nnx.Rngs):
    self.conv_a = layers.Conv(in_ch, in_ch, 3, padding=1, rngs=rngs)
    self.conv_b = layers.Conv(in_ch, out_ch, 3, padding=1, rngs=rngs)
    self.shortcut = layers.Conv(in_ch, out_ch, 1, use_bias=False, rngs=rngs)

  def __call__(self, x):
    net = self.conv_a(jax.nn.leaky_relu(x, 0.2))
    net = self.conv_b(jax.nn.leaky_relu(net, 0.2))
    net = nnx.avg_pool(net, (2, 2), strides=(2, 2))
    skip = self.shortcut(nnx.avg_pool(x, (2, 2), strides=(2, 2)))
    return (net + skip) * (1.0 / math.sqrt(2.0))  # keep activations unit-scale


class ResNetDiscriminator(nnx.Module):
  """[batch, size, size, 3] -> [batch] logits."""

  def __init__(self, *, image_size: int, num_features: int, rngs: nnx.Rngs):
    num_blocks = int(math.log2(image_size)) - 2
    channels = [min(num_features, num_features // 2 ** (num_blocks - i))
                for i in range(num_blocks + 1)]
    channels = [max(c, 16) for c in channels]
    self.from_rgb = layers.Conv(3, channels[0], 1, rngs=rngs)
    self.blocks = nnx.List([
        ResidualBlock(channels[i], channels[i + 1], rngs)
        for i in range(num_blocks)])
    self.fc_out = nnx.Linear(channels[-1] * 16, 1, rngs=rngs)

  def __call__(self, images: jax.Array) -> jax.Array:
    net = self.from_rgb(images)
    for block in self.blocks:
      net = block(net)
    net = jax.nn.leaky_relu(net, 0.2).reshape(images.shape[0], -1)
    return self.fc_out(net)[:, 0]


def make_discriminator(config, image_size: int, rngs: nnx.Rngs) -> nnx.Module:
  """Builds the discriminator named by ``config.disc.kind``."""
  kinds = {"dcgan": DCGANDiscriminator, "resnet": ResNetDiscriminator}
  if config.kind not in kinds:
    raise ValueError(f"unknown disc.kind {config.kind!r}; one of {list(kinds)}")
  return kinds[config.kind](image_size=image_size,
                            num_features=config.num_features, rngs=rngs)
