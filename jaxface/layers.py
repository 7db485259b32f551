"""Building blocks shared by the networks: convs, residual trunks, norms.

``UPSAMPLES`` names the two ways the generator's 2D stacks (the tri-plane
generator and the neural renderer) double their feature maps.

``Conv`` is a conv layer whose second derivatives are fast (for the R1
penalty); ``ResidualDownBlock`` and ``ResidualTrunk`` build the residual
discriminator and the encoders E1 and Q from it.

R1 differentiates the discriminator's input-gradient with respect to its
weights. Under default autodiff, XLA:CPU lowers that second-order term of a
convolution to a slow generic kernel (~10x slower than the rest of the
discriminator). Here the input-gradient is written explicitly as an ordinary
convolution with the flipped kernel, so its own derivative is a standard
weight-gradient convolution. Strided convs go through space-to-depth, so only
stride-1 VALID convolutions are ever emitted. The maths is unchanged: tests
compare values, gradients and R1 gradients with ``lax.conv_general_dilated``.
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

_DIMS = ("NHWC", "HWIO", "NHWC")


def _conv(x, kernel):
  return lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                  dimension_numbers=_DIMS)


@jax.custom_vjp
def valid_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID convolution, [b, h, w, i] x [kh, kw, i, o]."""
  return _conv(x, kernel)


def _valid_conv_fwd(x, kernel):
  return _conv(x, kernel), (x, kernel)


def _valid_conv_bwd(residuals, grad_out):
  x, kernel = residuals
  kh, kw = kernel.shape[:2]
  padded = jnp.pad(grad_out, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1),
                              (0, 0)))
  grad_x = _conv(padded, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
  _, kernel_vjp = jax.vjp(lambda k: _conv(x, k), kernel)
  return grad_x, kernel_vjp(grad_out)[0]


valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


def space_to_depth(x: jax.Array) -> jax.Array:
  """[b, 2h, 2w, c] -> [b, h, w, 4c] (2x2 blocks, row-major within block)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h // 2, w // 2, 4 * c)


def kernel_to_depth(kernel: jax.Array) -> jax.Array:
  """[2k, 2k, i, o] -> [k, k, 4i, o], matching ``space_to_depth``."""
  kh, kw, i, o = kernel.shape
  kernel = kernel.reshape(kh // 2, 2, kw // 2, 2, i, o)
  return kernel.transpose(0, 2, 1, 3, 4, 5).reshape(kh // 2, kw // 2, 4 * i, o)


def conv2d(x, kernel, *, stride: int = 1, padding: int = 0):
  """Convolution with symmetric zero padding and stride 1 or 2.

  Args:
    x: [batch, h, w, in] images.
    kernel: [kh, kw, in, out]; even kh, kw when ``stride == 2``.
    stride: 1 or 2.
    padding: zero padding on each side.

  Returns:
    [batch, h', w', out], as ``lax.conv_general_dilated`` would give.
  """
  if padding:
    x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  if stride == 2:
    kh, kw = kernel.shape[:2]
    if kh % 2 or kw % 2:
      raise ValueError("stride-2 conv needs an even kernel size")
    # Crop to the rows/cols a strided conv reads, keeping an even size.
    h_out = (x.shape[1] - kh) // 2 + 1
    w_out = (x.shape[2] - kw) // 2 + 1
    x = x[:, :2 * h_out + kh - 2, :2 * w_out + kw - 2]
    return valid_conv(space_to_depth(x), kernel_to_depth(kernel))
  if stride != 1:
    raise ValueError(f"stride {stride} not supported")
  return valid_conv(x, kernel)


class Conv(nnx.Module):
  """A conv layer with nnx.Conv's parameters (``kernel`` HWIO, ``bias``)."""

  def __init__(self, in_features: int, out_features: int, kernel_size: int,
               *, stride: int = 1, padding: int = 0, use_bias: bool = True,
               rngs: nnx.Rngs):
    init = nnx.initializers.lecun_normal()
    self.kernel = nnx.Param(init(
        rngs.params(), (kernel_size, kernel_size, in_features, out_features)))
    # A key for the (zero) bias too, as nnx.Conv draws one: the same Rngs
    # give the same kernels whichever of the two a network uses.
    self.bias = nnx.data(
        nnx.Param(nnx.initializers.zeros(rngs.params(), (out_features,)))
        if use_bias else None)
    self.stride = stride
    self.padding = padding

  def __call__(self, x: jax.Array) -> jax.Array:
    y = conv2d(x, self.kernel[...], stride=self.stride, padding=self.padding)
    return y if self.bias is None else y + self.bias[...]


class ResidualDownBlock(nnx.Module):
  """Pre-activation residual block that halves the resolution.

  [b, h, w, in_ch] -> [b, h/2, w/2, out_ch]: two 3x3 convs and an average
  pool, beside a pooled 1x1-conv shortcut.
  """

  def __init__(self, in_ch: int, out_ch: int, *, rngs: nnx.Rngs):
    self.conv_a = Conv(in_ch, in_ch, 3, padding=1, rngs=rngs)
    self.conv_b = Conv(in_ch, out_ch, 3, padding=1, rngs=rngs)
    self.shortcut = Conv(in_ch, out_ch, 1, use_bias=False, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    net = self.conv_a(jax.nn.leaky_relu(x, 0.2))
    net = self.conv_b(jax.nn.leaky_relu(net, 0.2))
    net = nnx.avg_pool(net, (2, 2), strides=(2, 2))
    skip = self.shortcut(nnx.avg_pool(x, (2, 2), strides=(2, 2)))
    return (net + skip) * (1.0 / math.sqrt(2.0))  # keep activations unit-scale


class ResidualTrunk(nnx.Module):
  """[b, size, size, in_ch] -> [b, 4 * 4 * channels[-1]] flattened features.

  A stem conv to ``channels[0]``, then one ``ResidualDownBlock`` per further
  entry of ``channels``, each halving the resolution; ``size / 4`` must be
  ``2 ** (len(channels) - 1)``.
  """

  def __init__(self, in_ch: int, channels, *, stem_kernel: int = 3,
               rngs: nnx.Rngs):
    channels = list(channels)
    self.stem = Conv(in_ch, channels[0], stem_kernel,
                     padding=stem_kernel // 2, rngs=rngs)
    self.blocks = nnx.List([
        ResidualDownBlock(channels[i], channels[i + 1], rngs=rngs)
        for i in range(len(channels) - 1)])
    self.out_dim = 16 * channels[-1]

  def __call__(self, x: jax.Array) -> jax.Array:
    net = self.stem(x)
    for block in self.blocks:
      net = block(net)
    return jax.nn.leaky_relu(net, 0.2).reshape(x.shape[0], -1)


def num_down_blocks(size: int) -> int:
  """Halvings from a ``size`` x ``size`` input down to 4x4."""
  if size < 4 or size & (size - 1):
    raise ValueError(f"network input size must be a power of two >= 4, got "
                     f"{size}")
  return int(math.log2(size)) - 2


def upsample_nearest(x: jax.Array) -> jax.Array:
  """[batch, h, w, c] -> [batch, 2h, 2w, c], each pixel repeated 2x2."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def upsample_bilinear(x: jax.Array) -> jax.Array:
  """[batch, h, w, c] -> [batch, 2h, 2w, c], interpolated.

  New pixels at the old grid's quarter points (half-pixel centres, as
  PyTorch's ``align_corners=False``); borders repeat the edge value.
  """
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, 2 * h, 2 * w, c), method="bilinear")


UPSAMPLES = {"nearest": upsample_nearest, "bilinear": upsample_bilinear}


def l2_normalize(x: jax.Array, axis: int = -1,
                 eps: float = 1e-12) -> jax.Array:
  """``x`` scaled to unit length along ``axis`` (zero stays zero)."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), eps)


def count_params(tree) -> int:
  """Number of scalars in a pytree of arrays (or of shape structs)."""
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))
