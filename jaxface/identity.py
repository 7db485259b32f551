"""Stage 6: E2, the frozen face-recognition encoder of the identity loss.

E2 embeds a real face image; the identity loss compares that embedding with
E1's embedding of the generated face. Three architectures are provided:

* ``LightCNN29v2`` (Wu et al., "A Light CNN for Deep Face Representation with
  Noisy Labels"): max-feature-map (MFM) convolutions, 128x128 grayscale input
  in [0, 1], the 256-d ``fc`` output as embedding.
* ``IResNet`` (the ArcFace "improved ResNet" of insightface's arcface_torch):
  112x112 RGB input normalised to [-1, 1], a 512-d embedding. Depths 50 and
  100 match the public checkpoints; reduced depths and widths serve tests and
  pretraining on small data.
* ``VGGFace16``: VGG-16 convolutions (13 in 5 blocks) and fully connected
  layers down to an embedding of configurable size.

All modules are NHWC. Attribute names follow the public PyTorch
implementations (``conv1.filter``, ``layer1.0.bn1``, ...), so that
``jaxface.identity_import`` maps checkpoint keys one-to-one. BatchNorm layers
use their running statistics (``nnx.BatchStat``, not ``nnx.Param``): E2 is
frozen, and its statistics come from the checkpoint.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
import ml_collections

from jaxface import layers as layers_lib

# ITU-R BT.601 luma, as PIL's convert("L") used by LightCNN's data loader.
_LUMA = (0.299, 0.587, 0.114)
# PyTorch's BatchNorm default epsilon; momentum is unused at inference.
_BN_EPSILON = 1e-5

IRESNET_LAYERS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
}


def _pad(padding: int):
  # Explicit symmetric padding as in PyTorch; "SAME" pads strided convs
  # asymmetrically and would shift every feature map by one pixel.
  return ((padding, padding), (padding, padding))


def _max_plus_avg_pool(x: jax.Array) -> jax.Array:
  """LightCNN's 2x2 downsampling: max pool + average pool, [b, h/2, w/2, c]."""
  window = dict(window_shape=(2, 2), strides=(2, 2))
  return nnx.max_pool(x, **window) + nnx.avg_pool(x, **window)


def _flatten(x: jax.Array) -> jax.Array:
  """[b, h, w, c] -> [b, h * w * c] in NHWC order.

  The importer permutes the rows of each fully connected kernel that follows a
  flatten from PyTorch's (c, h, w) order to this (h, w, c) order.
  """
  return x.reshape(x.shape[0], -1)


class MFM(nnx.Module):
  """Max-feature-map: a conv (or linear) to 2n channels, max of the halves.

  Input [b, h, w, in_channels] (or [b, in_channels] for ``linear=True``),
  output [b, h', w', out_channels] (or [b, out_channels]).
  """

  def __init__(self, in_channels: int, out_channels: int,
               kernel_size: int = 3, stride: int = 1, padding: int = 1, *,
               linear: bool = False, rngs: nnx.Rngs):
    self.out_channels = out_channels
    if linear:
      self.filter = nnx.Linear(in_channels, 2 * out_channels, rngs=rngs)
    else:
      self.filter = nnx.Conv(in_channels, 2 * out_channels,
                             (kernel_size, kernel_size), strides=stride,
                             padding=_pad(padding), rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    net = self.filter(x)
    return jnp.maximum(net[..., :self.out_channels],
                       net[..., self.out_channels:])


class LightCNNGroup(nnx.Module):
  """A 1x1 MFM (same channels) followed by a kxk MFM."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
               stride: int, padding: int, *, rngs: nnx.Rngs):
    self.conv_a = MFM(in_channels, in_channels, 1, 1, 0, rngs=rngs)
    self.conv = MFM(in_channels, out_channels, kernel_size, stride, padding,
                    rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.conv(self.conv_a(x))


class LightCNNResBlock(nnx.Module):
  """Two 3x3 MFM convs with an identity shortcut."""

  def __init__(self, channels: int, *, rngs: nnx.Rngs):
    self.conv1 = MFM(channels, channels, rngs=rngs)
    self.conv2 = MFM(channels, channels, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.conv2(self.conv1(x)) + x


class LightCNN29v2(nnx.Module):
  """LightCNN-29 v2: [b, s, s, 1] grayscale in [0, 1] -> [b, 256] embedding.

  ``s`` is ``input_size`` (128 for the public checkpoints); the four 2x2
  downsamplings leave [s/16, s/16, 128] features for ``fc``. The embedding is
  the ``fc`` output that feeds the (dropped) identity classifier ``fc2``. In
  v2 ``fc`` is a plain linear layer (v1's was an MFM), as in the public
  ``network_29layers_v2`` whose checkpoint has ``fc.weight`` [256, 8192].
  """

  grayscale = True

  def __init__(self, *, input_size: int = 128, embedding_dim: int = 256,
               blocks: Sequence[int] = (1, 2, 3, 4), rngs: nnx.Rngs):
    if input_size % 16:
      raise ValueError(f"LightCNN input_size must be a multiple of 16, got "
                       f"{input_size}")
    self.input_size = input_size
    self.embedding_dim = embedding_dim
    self.conv1 = MFM(1, 48, 5, 1, 2, rngs=rngs)
    self.block1 = nnx.List(
        [LightCNNResBlock(48, rngs=rngs) for _ in range(blocks[0])])
    self.group1 = LightCNNGroup(48, 96, 3, 1, 1, rngs=rngs)
    self.block2 = nnx.List(
        [LightCNNResBlock(96, rngs=rngs) for _ in range(blocks[1])])
    self.group2 = LightCNNGroup(96, 192, 3, 1, 1, rngs=rngs)
    self.block3 = nnx.List(
        [LightCNNResBlock(192, rngs=rngs) for _ in range(blocks[2])])
    self.group3 = LightCNNGroup(192, 128, 3, 1, 1, rngs=rngs)
    self.block4 = nnx.List(
        [LightCNNResBlock(128, rngs=rngs) for _ in range(blocks[3])])
    self.group4 = LightCNNGroup(128, 128, 3, 1, 1, rngs=rngs)
    self.fc = nnx.Linear((input_size // 16) ** 2 * 128, embedding_dim,
                         rngs=rngs)

  def feature_maps(self, images: jax.Array) -> list[jax.Array]:
    """The stem and each stage's output, [b, s/2^k, s/2^k, c] (perceptual)."""
    maps = [_max_plus_avg_pool(self.conv1(images))]
    net = maps[0]
    for stage, (blocks, group) in enumerate([
        (self.block1, self.group1), (self.block2, self.group2),
        (self.block3, self.group3), (self.block4, self.group4)]):
      for block in blocks:
        net = block(net)
      net = group(net)
      if stage != 2:  # the third and fourth stages share one resolution
        net = _max_plus_avg_pool(net)
      maps.append(net)
    return maps

  def __call__(self, images: jax.Array) -> jax.Array:
    return self.fc(_flatten(self.feature_maps(images)[-1]))


class PReLU(nnx.Module):
  """Parametric ReLU with one learned slope per channel (last axis)."""

  def __init__(self, channels: int, init: float = 0.25):
    self.weight = nnx.Param(jnp.full((channels,), init, jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.where(x >= 0, x, self.weight[...] * x)


def _batch_norm(channels: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
  return nnx.BatchNorm(channels, use_running_average=True,
                       epsilon=_BN_EPSILON, rngs=rngs)


class IBasicBlock(nnx.Module):
  """ArcFace's residual block: BN, conv3x3, BN, PReLU, conv3x3/stride, BN."""

  def __init__(self, in_channels: int, channels: int, stride: int, *,
               rngs: nnx.Rngs):
    conv = dict(use_bias=False, rngs=rngs)
    self.bn1 = _batch_norm(in_channels, rngs)
    self.conv1 = nnx.Conv(in_channels, channels, (3, 3), padding=_pad(1),
                          **conv)
    self.bn2 = _batch_norm(channels, rngs)
    self.prelu = PReLU(channels)
    self.conv2 = nnx.Conv(channels, channels, (3, 3), strides=stride,
                          padding=_pad(1), **conv)
    self.bn3 = _batch_norm(channels, rngs)
    if stride != 1 or in_channels != channels:
      # A list, not named fields, to keep PyTorch's "downsample.0/1" keys.
      self.downsample = nnx.List([
          nnx.Conv(in_channels, channels, (1, 1), strides=stride,
                   padding="VALID", **conv),
          _batch_norm(channels, rngs)])
    else:
      self.downsample = None

  def __call__(self, x: jax.Array) -> jax.Array:
    net = self.bn2(self.conv1(self.bn1(x)))
    net = self.bn3(self.conv2(self.prelu(net)))
    shortcut = x
    if self.downsample is not None:
      conv, bn = self.downsample
      shortcut = bn(conv(x))
    return net + shortcut


class IResNet(nnx.Module):
  """ArcFace IResNet: [b, s, s, 3] in [-1, 1] -> [b, embedding_dim].

  ``s`` is ``input_size`` (112 for the public checkpoints, where the four
  stride-2 stages leave 7x7 features). Input is RGB normalised as
  ``(x - 0.5) / 0.5``. ``width`` scales all channel counts (64 in the public
  models); ``layers`` gives the blocks per stage.
  """

  grayscale = False

  def __init__(self, *, layers: Sequence[int] = IRESNET_LAYERS[50],
               width: int = 64, input_size: int = 112,
               embedding_dim: int = 512, rngs: nnx.Rngs):
    if input_size % 16:
      raise ValueError(f"IResNet input_size must be a multiple of 16, got "
                       f"{input_size}")
    self.input_size = input_size
    self.embedding_dim = embedding_dim
    self.conv1 = nnx.Conv(3, width, (3, 3), padding=_pad(1), use_bias=False,
                          rngs=rngs)
    self.bn1 = _batch_norm(width, rngs)
    self.prelu = PReLU(width)
    in_channels = width
    stages = []
    for stage, num_blocks in enumerate(layers):
      channels = width * 2 ** stage
      blocks = []
      for i in range(num_blocks):
        blocks.append(IBasicBlock(in_channels, channels, 2 if i == 0 else 1,
                                  rngs=rngs))
        in_channels = channels
      stages.append(nnx.List(blocks))
    self.layer1, self.layer2, self.layer3, self.layer4 = stages
    self.bn2 = _batch_norm(in_channels, rngs)
    self.fc = nnx.Linear(in_channels * (input_size // 16) ** 2,
                         embedding_dim, rngs=rngs)
    self.features = _batch_norm(embedding_dim, rngs)

  def feature_maps(self, images: jax.Array) -> list[jax.Array]:
    """The stem and each stage's output, [b, s/2^k, s/2^k, c] (perceptual)."""
    net = self.prelu(self.bn1(self.conv1(images)))
    maps = [net]
    for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
      for block in stage:
        net = block(net)
      maps.append(net)
    return maps

  def __call__(self, images: jax.Array) -> jax.Array:
    net = self.bn2(self.feature_maps(images)[-1])
    return self.features(self.fc(_flatten(net)))


class VGGFace16(nnx.Module):
  """VGG-16 face encoder: [b, s, s, 3] in [-1, 1] -> [b, embedding_dim].

  13 3x3 convs with ReLU in 5 blocks, each ending in a 2x2 max pool, then
  ``fc6``/``fc7`` (``hidden_dim`` units, ReLU) and ``fc8`` to the embedding, as
  in VGG-Face with its classifier replaced by the embedding layer. ``width``
  scales the channels (64 in VGG-16).
  """

  grayscale = False
  _BLOCKS = (2, 2, 3, 3, 3)

  def __init__(self, *, input_size: int = 224, embedding_dim: int = 512,
               width: int = 64, hidden_dim: int = 4096, rngs: nnx.Rngs):
    if input_size % 32:
      raise ValueError(f"VGG input_size must be a multiple of 32, got "
                       f"{input_size}")
    self.input_size = input_size
    self.embedding_dim = embedding_dim
    convs = []
    in_channels = 3
    for block, num_convs in enumerate(self._BLOCKS):
      channels = width * 2 ** min(block, 3)
      for _ in range(num_convs):
        convs.append(nnx.Conv(in_channels, channels, (3, 3), padding=_pad(1),
                              rngs=rngs))
        in_channels = channels
    self.convs = nnx.List(convs)
    self.fc6 = nnx.Linear(in_channels * (input_size // 32) ** 2, hidden_dim,
                          rngs=rngs)
    self.fc7 = nnx.Linear(hidden_dim, hidden_dim, rngs=rngs)
    self.fc8 = nnx.Linear(hidden_dim, embedding_dim, rngs=rngs)

  def feature_maps(self, images: jax.Array) -> list[jax.Array]:
    """Each block's pooled output, [b, s/2^k, s/2^k, c] (perceptual)."""
    net = images
    maps = []
    convs = iter(self.convs)
    for num_convs in self._BLOCKS:
      for _ in range(num_convs):
        net = jax.nn.relu(next(convs)(net))
      net = nnx.max_pool(net, (2, 2), strides=(2, 2))
      maps.append(net)
    return maps

  def __call__(self, images: jax.Array) -> jax.Array:
    net = jax.nn.relu(self.fc6(_flatten(self.feature_maps(images)[-1])))
    net = jax.nn.relu(self.fc7(net))
    return self.fc8(net)


def default_config(kind: str = "lightcnn29v2") -> ml_collections.ConfigDict:
  """The ``identity`` config section for the public form of ``kind``.

  Fields: ``kind`` (``lightcnn29v2``, ``iresnet`` or ``vgg16``),
  ``input_size``, ``embedding_dim``, ``depth`` (IResNet: 18/34/50/100),
  ``layers`` (IResNet blocks per stage, overrides ``depth`` when non-empty;
  LightCNN residual blocks per stage), ``width`` (base channels of IResNet and
  VGG), ``hidden_dim`` (VGG fully connected width).
  """
  presets = {
      "lightcnn29v2": dict(input_size=128, embedding_dim=256,
                           layers=(1, 2, 3, 4)),
      "iresnet": dict(input_size=112, embedding_dim=512, depth=50,
                      layers=(), width=64),
      "vgg16": dict(input_size=224, embedding_dim=512, width=64,
                    hidden_dim=4096),
  }
  if kind not in presets:
    raise ValueError(f"unknown identity kind {kind!r}; one of {list(presets)}")
  return ml_collections.ConfigDict(dict(kind=kind, **presets[kind]))


def make_identity_encoder(config: ml_collections.ConfigDict,
                          rngs: nnx.Rngs | None = None) -> nnx.Module:
  """Builds the E2 network named by ``config.kind`` (see ``default_config``).

  Missing fields take the public model's value.
  """
  full = default_config(config.kind).to_dict()
  full.update(config.to_dict() if hasattr(config, "to_dict") else config)
  rngs = rngs if rngs is not None else nnx.Rngs(0)
  if full["kind"] == "lightcnn29v2":
    return LightCNN29v2(input_size=full["input_size"],
                        embedding_dim=full["embedding_dim"],
                        blocks=tuple(full["layers"]), rngs=rngs)
  if full["kind"] == "iresnet":
    layers = tuple(full["layers"]) or IRESNET_LAYERS.get(full["depth"])
    if layers is None:
      raise ValueError(f"no IResNet depth {full['depth']}; one of "
                       f"{list(IRESNET_LAYERS)}, or give layers")
    return IResNet(layers=layers, width=full["width"],
                   input_size=full["input_size"],
                   embedding_dim=full["embedding_dim"], rngs=rngs)
  return VGGFace16(input_size=full["input_size"],
                   embedding_dim=full["embedding_dim"], width=full["width"],
                   hidden_dim=full["hidden_dim"], rngs=rngs)


def preprocess(images: jax.Array, input_size: int,
               grayscale: bool) -> jax.Array:
  """Centre-crops to a square, resizes and normalises for an E2 network.

  Args:
    images: [batch, h, w, 3] RGB in [0, 1].
    input_size: side of the network input.
    grayscale: True for LightCNN (one luma channel kept in [0, 1]); otherwise
      RGB scaled to [-1, 1] as ``(x - 0.5) / 0.5``.

  Returns:
    [batch, input_size, input_size, 1 or 3].
  """
  _, h, w, _ = images.shape
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  net = images[:, top:top + side, left:left + side]
  if side != input_size:
    net = jax.image.resize(
        net, (net.shape[0], input_size, input_size, net.shape[-1]),
        method="linear", antialias=True)
  if grayscale:
    return jnp.tensordot(net, jnp.asarray(_LUMA, net.dtype), axes=1)[..., None]
  return (net - 0.5) / 0.5


def embed(graphdef: nnx.GraphDef, state: nnx.State,
          images: jax.Array) -> jax.Array:
  """Unit-length identity embeddings of face images, a pure function.

  Args:
    graphdef: from ``nnx.split`` of an E2 module.
    state: its state (parameters and BatchNorm statistics).
    images: [batch, h, w, 3] RGB in [0, 1], roughly face-centred.

  Returns:
    [batch, embedding_dim], L2-normalised.
  """
  model = nnx.merge(graphdef, state)
  net = preprocess(images, model.input_size, model.grayscale)
  return layers_lib.l2_normalize(model(net))


def perceptual_distance(graphdef: nnx.GraphDef, state: nnx.State,
                        images_a: jax.Array, images_b: jax.Array) -> jax.Array:
  """LPIPS-style distance in E2's feature maps, one value per image pair.

  Each feature map is unit-normalised along channels (so every stage counts
  alike whatever its scale), then the squared differences are summed over
  channels and averaged over positions and stages. E2 is a face network, so
  the distance weighs what tells faces apart.

  Args:
    graphdef, state: an E2 network (``nnx.split``).
    images_a, images_b: [batch, h, w, 3] RGB in [0, 1].

  Returns:
    [batch] distances in [0, 4].
  """
  model = nnx.merge(graphdef, state)
  both = jnp.concatenate([images_a, images_b])
  maps = model.feature_maps(preprocess(both, model.input_size,
                                       model.grayscale))
  batch = images_a.shape[0]
  total = 0.0
  for fmap in maps:
    unit = layers_lib.l2_normalize(fmap)
    total += jnp.mean(jnp.sum((unit[:batch] - unit[batch:]) ** 2, -1),
                      axis=(1, 2))
  return total / len(maps)


def embedding_dim(model: nnx.Module) -> int:
  """Size of the embedding ``model`` returns."""
  return int(model.embedding_dim)
