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

Both are residual conv nets (``layers.ResidualTrunk``) that halve the
resolution down to 4x4.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import errors
from jaxface import layers
from jaxface import losses
from jaxface import structs

# Q's pose head may reach slightly past the prior so that the boundary of the
# prior is not where tanh saturates.
POSE_RANGE_MARGIN = 1.1
# Q's log-variances are squashed softly into (-LOGVAR_BOUND, LOGVAR_BOUND).
# Unbounded, exp(logvar) in the KL term and the reparameterised draw can
# overflow: one run (strong pixel terms with four encoding octaves) sent the
# branch's gradient norm from 4 to 451 in eight steps and the KL to infinity.
# exp(+-6) spans 0.0025..400 times the prior's variance, far wider than any
# posterior a trained Q reaches, so the bound only acts on runaway values.
LOGVAR_BOUND = 6.0


def to_model_range(images_uint8: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1], the range Q and D read images in."""
  return images_uint8.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def q_input_size(config) -> int:
  """The side Q reads images at: ``identity.q_image_size``, 0 for the data's.

  Raises:
    errors.ConfigError: the size is not a power of two that divides the
      data's image size.
  """
  size, full = config.identity.q_image_size, config.data.image_size
  if not size:
    return full
  if size < 4 or size & (size - 1) or size > full:
    raise errors.ConfigError(
        f"identity.q_image_size must be 0 or a power of two from 4 to "
        f"data.image_size ({full}), got {size}")
  return size


def _doubling(width: int, size: int) -> list[int]:
  """Trunk channels: ``width``, doubling per block, capped at 8 * width."""
  return [min(width * 2**i, 8 * width)
          for i in range(layers.num_down_blocks(size) + 1)]


class FeatureEncoder(nnx.Module):
  """E1: [b, h, h, feature_dim] feature image -> [b, embedding_dim] unit rows.

  The output is L2-normalised like E2's embeddings, so the identity loss
  (squared distance) is ``2 - 2 cos`` and cannot be lowered by scale alone.
  """

  def __init__(self, *, feature_dim: int, feature_size: int, width: int,
               embedding_dim: int, rngs: nnx.Rngs):
    self.trunk = layers.ResidualTrunk(
        feature_dim, _doubling(width, feature_size), rngs=rngs)
    self.head = nnx.Linear(self.trunk.out_dim, embedding_dim, rngs=rngs)

  def __call__(self, features: jax.Array) -> jax.Array:
    return layers.l2_normalize(self.head(self.trunk(features)))


class LatentPoseEncoder(nnx.Module):
  """Q: [b, s, s, 3] images in [-1, 1] -> ``structs.Encoding``.

  Images are box-filtered to ``identity.q_image_size`` first (0: read at
  the data's size): at 64x64 Q is the largest part of the identity
  branch's work, and a quarter of the pixels is a quarter of its
  convolutions. One trunk, one hidden layer, then linear heads: mean and
  log-variance for each latent code, and yaw/pitch squashed by tanh into
  the prior's range (widened by ``POSE_RANGE_MARGIN``), so every predicted
  pose is one the generator was trained to render. Log-variances are
  soft-bounded by ``LOGVAR_BOUND``.
  """

  def __init__(self, config, *, rngs: nnx.Rngs):
    fc, ic = config.field, config.identity
    self.input_size = q_input_size(config)
    self.trunk = layers.ResidualTrunk(
        3, _doubling(ic.q_width, self.input_size), rngs=rngs)
    self.hidden = nnx.Linear(self.trunk.out_dim, ic.q_hidden, rngs=rngs)
    self.dims = (fc.z_shape_dim, fc.z_app_dim, fc.z_bg_shape_dim,
                 fc.z_bg_app_dim)
    self.codes = nnx.Linear(ic.q_hidden, 2 * sum(self.dims), rngs=rngs)
    self.pose = nnx.Linear(ic.q_hidden, 2, rngs=rngs)
    (self.yaw_centre, yaw_half), (self.pitch_centre, pitch_half) = (
        camera_lib.pose_range(config.camera))
    self.yaw_half = POSE_RANGE_MARGIN * yaw_half
    self.pitch_half = POSE_RANGE_MARGIN * pitch_half

  def __call__(self, images: jax.Array) -> structs.Encoding:
    if images.shape[1] != self.input_size:
      images = losses.box_downsample(images, self.input_size)
    net = jax.nn.leaky_relu(self.hidden(self.trunk(images)), 0.2)
    splits = np.cumsum(self.dims)[:-1]
    mean, logvar = jnp.split(self.codes(net), 2, axis=-1)
    logvar = LOGVAR_BOUND * jnp.tanh(logvar / LOGVAR_BOUND)
    pose = jnp.tanh(self.pose(net))
    return structs.Encoding(
        mean=structs.Latents(*jnp.split(mean, splits, axis=-1)),
        logvar=structs.Latents(*jnp.split(logvar, splits, axis=-1)),
        yaw=self.yaw_centre + self.yaw_half * pose[:, 0],
        pitch=self.pitch_centre + self.pitch_half * pose[:, 1])


def make_feature_encoder(config, embedding_dim: int,
                         rngs: nnx.Rngs) -> FeatureEncoder:
  """E1 for ``config``'s feature images, embedding like E2 does."""
  return FeatureEncoder(
      feature_dim=config.field.feature_dim,
      feature_size=config.render.feature_size,
      width=config.identity.e1_width, embedding_dim=embedding_dim, rngs=rngs)


def sample_codes(key: jax.Array, encoding: structs.Encoding,
                 noise: float = 1.0) -> structs.Latents:
  """Reparameterised draw ``mean + noise * exp(logvar / 2) * eps``.

  ``noise=1`` draws from Q's posterior; ``noise=0`` returns the means.
  """
  if noise == 0.0:
    return encoding.mean
  keys = jax.random.split(key, 4)
  return jax.tree.map(
      lambda k, m, lv: m + noise * jnp.exp(0.5 * lv) * jax.random.normal(
          k, m.shape),
      structs.Latents(*keys), encoding.mean, encoding.logvar)
