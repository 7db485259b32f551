"""Tests for the E2 face-identity encoders (jaxface.identity)."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
from flax import nnx
import ml_collections
import numpy as np

from jaxface import identity

_SMALL = {
    "lightcnn29v2": dict(kind="lightcnn29v2"),  # the real network
    "iresnet": dict(kind="iresnet", layers=(1, 2, 1, 1), width=8,
                    input_size=32, embedding_dim=64),
    "vgg16": dict(kind="vgg16", width=4, input_size=32, hidden_dim=32,
                  embedding_dim=48),
}
_EMBEDDING_DIMS = {"lightcnn29v2": 256, "iresnet": 64, "vgg16": 48}


def _random_encoder(kind, seed=0):
  """(graphdef, state) of a small E2 with random values drawn in numpy.

  BatchNorm variances are positive; every other leaf is Gaussian with a
  fan-in scale, so activations stay finite through deep stacks.
  """
  config = ml_collections.ConfigDict(_SMALL[kind])
  graphdef, state = nnx.split(
      nnx.eval_shape(lambda: identity.make_identity_encoder(config)))
  rng = np.random.default_rng(seed)

  def init(path, leaf):
    name = path[-2].key if hasattr(path[-1], "name") else path[-1].key
    if name == "var":
      values = rng.uniform(0.5, 1.5, leaf.shape)
    elif len(leaf.shape) == 1:
      values = rng.normal(scale=0.1, size=leaf.shape) + (name == "scale")
    else:
      # He scale: ReLU networks (VGG) keep their input's variations.
      values = rng.normal(size=leaf.shape) * np.sqrt(
          2 / np.prod(leaf.shape[:-1]))
    return jnp.asarray(values, leaf.dtype)

  return graphdef, jax.tree_util.tree_map_with_path(init, state)


_embed = jax.jit(identity.embed, static_argnums=0)


def _images(batch, height, width, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(0, 1, (batch, height, width, 3)).astype(np.float32)


class EmbedTest(parameterized.TestCase):

  @parameterized.parameters("lightcnn29v2", "iresnet", "vgg16")
  def test_shape_and_unit_norm(self, kind):
    graphdef, state = _random_encoder(kind)
    # Non-square input of another size: embed crops and resizes.
    embeddings = _embed(graphdef, state, _images(3, 40, 56))
    chex.assert_shape(embeddings, (3, _EMBEDDING_DIMS[kind]))
    chex.assert_tree_all_finite(embeddings)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=-1), 1.0,
                               atol=1e-5)

  @parameterized.parameters("lightcnn29v2", "iresnet", "vgg16")
  def test_deterministic_and_per_image(self, kind):
    graphdef, state = _random_encoder(kind)
    images = _images(3, 48, 48)
    images[2] = np.linspace(0, 1, 48)[None, :, None]  # a ramp, not noise
    first = _embed(graphdef, state, images)
    np.testing.assert_array_equal(first, _embed(graphdef, state, images))
    # Inference-mode BatchNorm: an image's embedding ignores its batch.
    alone = _embed(graphdef, state, images[1:2])
    np.testing.assert_allclose(alone[0], first[1], atol=1e-5)
    # Different faces, different embeddings.
    self.assertGreater(np.abs(first[0] - first[2]).max(), 1e-3)

  def test_grayscale_conversion_for_lightcnn(self):
    gray = np.random.default_rng(1).uniform(0, 1, (2, 128, 128, 1))
    net = identity.preprocess(jnp.asarray(np.repeat(gray, 3, -1)), 128,
                              grayscale=True)
    chex.assert_shape(net, (2, 128, 128, 1))
    np.testing.assert_allclose(net, gray, atol=1e-6)  # in [0, 1], unchanged

  def test_rgb_normalisation_and_centre_crop(self):
    images = np.zeros((1, 20, 30, 3), np.float32)
    images[:, :, 5:25] = 1.0  # the centred square is white, the sides black
    net = identity.preprocess(jnp.asarray(images), 20, grayscale=False)
    chex.assert_shape(net, (1, 20, 20, 3))
    np.testing.assert_allclose(net, 1.0)  # (1 - 0.5) / 0.5
    net = identity.preprocess(jnp.zeros((1, 8, 8, 3)), 16, grayscale=False)
    np.testing.assert_allclose(net, -1.0)


class LightCNNTest(absltest.TestCase):

  def test_mfm_halves_channels_and_takes_max(self):
    mfm = identity.MFM(3, 5, 3, 1, 1, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 3)),
                    jnp.float32)
    out = mfm(x)
    full = mfm.filter(x)
    chex.assert_shape(full, (2, 6, 6, 10))
    chex.assert_shape(out, (2, 6, 6, 5))
    np.testing.assert_array_equal(out,
                                  np.maximum(full[..., :5], full[..., 5:]))
    self.assertTrue(np.all(out >= full[..., :5]))
    self.assertTrue(np.all(out >= full[..., 5:]))

  def test_linear_mfm(self):
    mfm = identity.MFM(7, 4, linear=True, rngs=nnx.Rngs(0))
    x = jnp.ones((3, 7))
    full = mfm.filter(x)
    np.testing.assert_array_equal(mfm(x),
                                  np.maximum(full[:, :4], full[:, 4:]))

  def test_public_structure(self):
    model = nnx.eval_shape(
        lambda: identity.make_identity_encoder(
            identity.default_config("lightcnn29v2")))
    self.assertEqual([len(model.block1), len(model.block2), len(model.block3),
                      len(model.block4)], [1, 2, 3, 4])
    self.assertEqual(model.conv1.filter.kernel.shape, (5, 5, 1, 96))
    self.assertEqual(model.fc.kernel.shape, (8 * 8 * 128, 256))
    # 29 = conv1 + 2 * 10 residual convs + 2 * 4 group convs (fc excluded).
    convs = [p for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))
             if p[-1] == "kernel" and "fc" not in p]
    self.assertLen(convs, 29)

  def test_input_size_must_allow_four_poolings(self):
    with self.assertRaisesRegex(ValueError, "multiple of 16"):
      identity.LightCNN29v2(input_size=120, rngs=nnx.Rngs(0))


class IResNetTest(parameterized.TestCase):

  @parameterized.parameters((50, (3, 4, 14, 3)), (100, (3, 13, 30, 3)))
  def test_depths(self, depth, layers):
    config = identity.default_config("iresnet")
    config.depth = depth
    model = nnx.eval_shape(lambda: identity.make_identity_encoder(config))
    self.assertEqual((len(model.layer1), len(model.layer2),
                      len(model.layer3), len(model.layer4)), layers)
    self.assertEqual(model.fc.kernel.shape, (512 * 7 * 7, 512))
    # The depth counts conv1, two 3x3 convs per block and fc.
    kernels = [p for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))
               if p[-1] == "kernel" and "downsample" not in p]
    self.assertLen(kernels, depth)

  def test_batch_statistics_are_not_parameters(self):
    model = nnx.eval_shape(
        lambda: identity.make_identity_encoder(
            ml_collections.ConfigDict(_SMALL["iresnet"])))
    params = nnx.to_flat_state(nnx.state(model, nnx.Param))
    stats = nnx.to_flat_state(nnx.state(model, nnx.BatchStat))
    param_names = {p[-1] for p, _ in params}
    stat_names = {p[-1] for p, _ in stats}
    self.assertEqual(stat_names, {"mean", "var"})
    self.assertNoCommonElements(param_names, stat_names)
    self.assertContainsSubset({"kernel", "scale", "bias", "weight"},
                              param_names)
    # Every BatchNorm layer (bn1, bn2, features, 3 per block, 1 per
    # downsample) has both statistics.
    self.assertLen(stats, 2 * (3 + 3 * 5 + 4))
    self.assertTrue(model.features.use_running_average)

  def test_prelu_has_per_channel_slopes(self):
    prelu = identity.PReLU(3)
    prelu.weight[...] = jnp.asarray([0.0, 0.5, 2.0])
    out = prelu(jnp.asarray([[-1.0, -1.0, -1.0], [2.0, 2.0, 2.0]]))
    np.testing.assert_allclose(out, [[0.0, -0.5, -2.0], [2.0, 2.0, 2.0]])

  def test_unknown_depth(self):
    config = identity.default_config("iresnet")
    config.depth = 77
    with self.assertRaisesRegex(ValueError, "77"):
      identity.make_identity_encoder(config)


class FactoryTest(absltest.TestCase):

  def test_unknown_kind(self):
    with self.assertRaisesRegex(ValueError, "unknown identity kind"):
      identity.make_identity_encoder(ml_collections.ConfigDict(
          dict(kind="facenet")))

  def test_vgg_has_thirteen_convs(self):
    model = nnx.eval_shape(lambda: identity.make_identity_encoder(
        identity.default_config("vgg16")))
    self.assertLen(model.convs, 13)
    self.assertEqual(model.fc6.kernel.shape, (512 * 7 * 7, 4096))
    self.assertEqual(model.fc8.kernel.shape, (4096, 512))

  def test_defaults_are_the_public_models(self):
    for kind, dim, size in [("lightcnn29v2", 256, 128), ("iresnet", 512, 112),
                            ("vgg16", 512, 224)]:
      model = nnx.eval_shape(lambda k=kind: identity.make_identity_encoder(
          ml_collections.ConfigDict(dict(kind=k))))
      self.assertEqual(identity.embedding_dim(model), dim)
      self.assertEqual(model.input_size, size)


if __name__ == "__main__":
  absltest.main()
