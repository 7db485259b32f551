"""Stage 7 encoders: E1 (rendered features -> identity) and Q (image -> codes).

* ``FeatureEncoder`` is E1, the trainable "first encoder": it maps the
  volume-rendered feature image of a generated face into the embedding space
  of the frozen face-recognition network E2 (``jaxface.identity``), so the
  identity loss can compare a generated face with the real photo it
  reconstructs.
* ``LatentPoseEncoder`` is Q, the multi-task encoder that pairs a real image
  with its own generator inputs: a shared conv trunk, Gaussian heads (mean and
  log-variance) for every latent code, and a head for the camera pose. With Q,
  single-image reconstruction is one forward pass.

Both are plain residual conv nets that halve the resolution down to 4x4.
"""

import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import generator
from jaxface import structs

# Q's pose head may reach slightly past the prior so that the boundary of the
# prior is not where tanh saturates.
POSE_RANGE_MARGIN = 1.1


class DownBlock(nnx.Module):
  """Pre-activation residual block that halves the resolution.

  [b, h, w, in_ch] -> [b, h/2, w/2, out_ch].
  """

  def __init__(self, in_ch: int, out_ch: int, *, rngs: nnx.Rngs):
    self.conv_a = nnx.Conv(in_ch, in_ch, (3, 3), rngs=rngs)
    self.conv_b = nnx.Conv(in_ch, out_ch, (3, 3), rngs=rngs)
    self.shortcut = nnx.Conv(in_ch, out_ch, (1, 1), use_bias=False, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    net = self.conv_a(jax.nn.leaky_relu(x, 0.2))
    net = self.conv_b(jax.nn.leaky_relu(net, 0.2))
    net = nnx.avg_pool(net, (2, 2), strides=(2, 2))
    skip = self.shortcut(nnx.avg_pool(x, (2, 2), strides=(2, 2)))
    return (net + skip) * (1.0 / math.sqrt(2.0))  # keep activations unit-scale


class ConvTrunk(nnx.Module):
  """[b, size, size, in_ch] -> [b, 4 * 4 * channels] flattened features.

  A 3x3 stem, then ``log2(size / 4)`` down blocks doubling the channels from
  ``width`` up to ``max_width``.
  """

  def __init__(self, in_ch: int, size: int, width: int, max_width: int, *,
               rngs: nnx.Rngs):
    if size < 4 or size & (size - 1):
      raise ValueError(f"encoder input size must be a power of two >= 4, "
                       f"got {size}")
    num_blocks = int(math.log2(size)) - 2
    channels = [min(width * 2**i, max_width) for i in range(num_blocks + 1)]
    self.stem = nnx.Conv(in_ch, channels[0], (3, 3), rngs=rngs)
    self.blocks = nnx.List([DownBlock(channels[i], channels[i + 1], rngs=rngs)
                            for i in range(num_blocks)])
    self.out_dim = 16 * channels[-1]

  def __call__(self, x: jax.Array) -> jax.Array:
    net = self.stem(x)
    for block in self.blocks:
      net = block(net)
    return jax.nn.leaky_relu(net, 0.2).reshape(x.shape[0], -1)


class FeatureEncoder(nnx.Module):
  """E1: [b, h, h, feature_dim] feature image -> [b, embedding_dim] unit rows.

  The output is L2-normalised like E2's embeddings, so the identity loss
  (squared distance) is ``2 - 2 cos`` and cannot be lowered by scale alone.
  """

  def __init__(self, *, feature_dim: int, feature_size: int, width: int,
               embedding_dim: int, rngs: nnx.Rngs):
    self.trunk = ConvTrunk(feature_dim, feature_size, width, 8 * width,
                           rngs=rngs)
    self.head = nnx.Linear(self.trunk.out_dim, embedding_dim, rngs=rngs)

  def __call__(self, features: jax.Array) -> jax.Array:
    embedding = self.head(self.trunk(features))
    return embedding * jax.lax.rsqrt(
        jnp.sum(embedding**2, -1, keepdims=True) + 1e-12)


@flax.struct.dataclass
class Encoding:
  """Q's output for a batch of images.

  Attributes:
    mean: ``generator.Latents`` of posterior means, each [b, dim].
    logvar: ``generator.Latents`` of posterior log-variances, each [b, dim].
    yaw: [b] radians.
    pitch: [b] radians.
  """

  mean: generator.Latents
  logvar: generator.Latents
  yaw: jax.Array
  pitch: jax.Array


def pose_range(camera_config) -> tuple[tuple[float, float], tuple[float, float]]:
  """((yaw_centre, yaw_half), (pitch_centre, pitch_half)) of the prior."""
  yaws = [float(camera_lib.fraction_to_yaw(u))
          for u in camera_config.azimuth_range]
  pitches = [float(camera_lib.fraction_to_pitch(v))
             for v in camera_config.elevation_range]
  return ((0.5 * (yaws[0] + yaws[1]), 0.5 * abs(yaws[1] - yaws[0])),
          (0.5 * (pitches[0] + pitches[1]), 0.5 * abs(pitches[1] - pitches[0])))


class LatentPoseEncoder(nnx.Module):
  """Q: [b, s, s, 3] images in [-1, 1] -> ``Encoding``.

  One trunk, one hidden layer, then linear heads: mean and log-variance for
  each latent code, and yaw/pitch squashed by tanh into the prior's range
  (widened by ``POSE_RANGE_MARGIN``), so every predicted pose is one the
  generator was trained to render.
  """

  def __init__(self, config, *, rngs: nnx.Rngs):
    fc, ic = config.field, config.identity
    self.trunk = ConvTrunk(3, config.data.image_size, ic.q_width,
                           8 * ic.q_width, rngs=rngs)
    self.hidden = nnx.Linear(self.trunk.out_dim, ic.q_hidden, rngs=rngs)
    self.dims = (fc.z_shape_dim, fc.z_app_dim, fc.z_bg_shape_dim,
                 fc.z_bg_app_dim)
    self.codes = nnx.Linear(ic.q_hidden, 2 * sum(self.dims), rngs=rngs)
    self.pose = nnx.Linear(ic.q_hidden, 2, rngs=rngs)
    (self.yaw_centre, yaw_half), (self.pitch_centre, pitch_half) = pose_range(
        config.camera)
    self.yaw_half = POSE_RANGE_MARGIN * yaw_half
    self.pitch_half = POSE_RANGE_MARGIN * pitch_half

  def __call__(self, images: jax.Array) -> Encoding:
    net = jax.nn.leaky_relu(self.hidden(self.trunk(images)), 0.2)
    splits = np.cumsum(self.dims)[:-1]
    mean, logvar = jnp.split(self.codes(net), 2, axis=-1)
    pose = jnp.tanh(self.pose(net))
    return Encoding(
        mean=generator.Latents(*jnp.split(mean, splits, axis=-1)),
        logvar=generator.Latents(*jnp.split(logvar, splits, axis=-1)),
        yaw=self.yaw_centre + self.yaw_half * pose[:, 0],
        pitch=self.pitch_centre + self.pitch_half * pose[:, 1])


def sample_codes(key: jax.Array, encoding: Encoding) -> generator.Latents:
  """Reparameterised draw ``mean + exp(logvar / 2) * eps`` of every code."""
  keys = jax.random.split(key, 4)
  return jax.tree.map(
      lambda k, m, lv: m + jnp.exp(0.5 * lv) * jax.random.normal(k, m.shape),
      generator.Latents(*keys), encoding.mean, encoding.logvar)


def kl_to_prior(encoding: Encoding) -> jax.Array:
  """KL(N(mean, exp(logvar)) || N(0, I)) summed over all codes, [b]."""
  terms = jax.tree.map(
      lambda m, lv: 0.5 * jnp.sum(jnp.exp(lv) + m**2 - 1.0 - lv, axis=-1),
      encoding.mean, encoding.logvar)
  return sum(jax.tree.leaves(terms))


def encoding_camera(yaw: jax.Array, pitch: jax.Array,
                    camera_config) -> structs.Camera:
  """Cameras at Q's pose, at the prior's mean radius and field of view."""
  return camera_lib.make_camera(
      yaw, pitch, 0.5 * sum(camera_config.radius_range),
      np.deg2rad(camera_config.fov_degrees))
