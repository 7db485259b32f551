"""Stage 6: discriminators over RGB images in [-1, 1].

``DCGANDiscriminator`` is GIRAFFE's: strided 4x4 convs doubling channels down
to 4x4, then a 4x4 valid conv to one logit. ``ResNetDiscriminator`` is the
residual alternative (``layers.ResidualTrunk``: two 3x3 convs per block,
average-pool downsampling, 1x1-conv shortcut), stronger at higher
resolutions. Both use ``layers.Conv``, whose second derivatives (needed by
R1) are fast.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from jaxface import layers


class DCGANDiscriminator(nnx.Module):
  """[batch, size, size, 3] -> [batch] logits."""

  def __init__(self, *, image_size: int, num_features: int,
               use_bias: bool = True, rngs: nnx.Rngs):
    num_layers = layers.num_down_blocks(image_size)
    channels = [3] + [num_features // 2 ** (num_layers - 1 - i)
                      for i in range(num_layers)]
    self.blocks = nnx.List([
        layers.Conv(channels[i], channels[i + 1], 4, stride=2, padding=1,
                    use_bias=use_bias, rngs=rngs)
        for i in range(num_layers)])
    self.conv_out = layers.Conv(channels[-1], 1, 4, use_bias=use_bias,
                                rngs=rngs)

  def __call__(self, images: jax.Array) -> jax.Array:
    # Computed in the parameters' dtype; logits leave in float32.
    net = images.astype(self.conv_out.kernel.dtype)
    for block in self.blocks:
      net = jax.nn.leaky_relu(block(net), 0.2)
    return self.conv_out(net).reshape(images.shape[0]).astype(jnp.float32)


class ResNetDiscriminator(nnx.Module):
  """[batch, size, size, 3] -> [batch] logits."""

  def __init__(self, *, image_size: int, num_features: int, rngs: nnx.Rngs):
    num_blocks = layers.num_down_blocks(image_size)
    # Channels double block by block up to num_features (at least 16).
    channels = [max(min(num_features, num_features // 2 ** (num_blocks - i)),
                    16) for i in range(num_blocks + 1)]
    self.trunk = layers.ResidualTrunk(3, channels, stem_kernel=1, rngs=rngs)
    self.fc_out = nnx.Linear(self.trunk.out_dim, 1, rngs=rngs)

  def __call__(self, images: jax.Array) -> jax.Array:
    net = self.trunk(images.astype(self.fc_out.kernel.dtype))
    return self.fc_out(net)[:, 0].astype(jnp.float32)


def make_discriminator(config, image_size: int, rngs: nnx.Rngs) -> nnx.Module:
  """Builds the discriminator named by ``config.disc.kind``."""
  if config.kind == "dcgan":
    # GIRAFFE's convs have no bias (disc.use_bias False).
    return DCGANDiscriminator(image_size=image_size,
                              num_features=config.num_features,
                              use_bias=config.use_bias,
                              rngs=rngs)
  if config.kind == "resnet":
    return ResNetDiscriminator(image_size=image_size,
                               num_features=config.num_features, rngs=rngs)
  raise ValueError(f"unknown disc.kind {config.kind!r}; one of ['dcgan', "
                   "'resnet']")
