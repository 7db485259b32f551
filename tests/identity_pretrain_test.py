"""Tests for jaxface.identity_pretrain."""

import pathlib

from absl.testing import absltest
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from PIL import Image

from jaxface import errors
from jaxface import identity
from jaxface import identity_import
from jaxface import identity_pretrain

_SCALE = 16.0


def _problem(seed=0, batch=6, dim=8, classes=5):
  rng = np.random.default_rng(seed)
  embeddings = rng.normal(size=(batch, dim)).astype(np.float32)
  weights = rng.normal(size=(dim, classes)).astype(np.float32)
  labels = rng.integers(0, classes, batch)
  return embeddings, weights, labels


def _numpy_cosines(embeddings, weights):
  e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
  w = weights / np.linalg.norm(weights, axis=0, keepdims=True)
  return e @ w


class MarginLossTest(absltest.TestCase):

  def test_arcface_margin_zero_is_scaled_cosine_softmax(self):
    embeddings, weights, labels = _problem()
    logits = _SCALE * _numpy_cosines(embeddings, weights)
    expected = optax.softmax_cross_entropy_with_integer_labels(
        jnp.asarray(logits), labels).mean()
    loss = identity_pretrain.margin_loss(
        embeddings, weights, labels, kind="arcface", scale=_SCALE, margin=0.0)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)

  def test_arcface_target_logit_is_cos_theta_plus_m(self):
    embeddings, weights, labels = _problem(seed=1)
    margin = 0.5
    cos = _numpy_cosines(embeddings, weights)
    theta = np.arccos(cos[np.arange(len(labels)), labels])
    self.assertTrue(np.all(theta + margin < np.pi))  # the exact regime
    logits = np.asarray(identity_pretrain.arcface_logits(
        embeddings, weights, labels, _SCALE, margin))
    rows = np.arange(len(labels))
    np.testing.assert_allclose(logits[rows, labels],
                               _SCALE * np.cos(theta + margin), atol=1e-4)
    other = np.ones_like(cos, bool)
    other[rows, labels] = False
    np.testing.assert_allclose(logits[other], _SCALE * cos[other], atol=1e-4)

  def test_arcface_finite_gradient_at_theta_zero_and_pi(self):
    weights = np.eye(3, dtype=np.float32)
    embeddings = np.array([[1.0, 0, 0], [-1.0, 0, 0]], np.float32)
    labels = np.array([0, 0])
    grads = jax.grad(identity_pretrain.margin_loss, argnums=(0, 1))(
        embeddings, weights, labels, kind="arcface", scale=_SCALE,
        margin=0.5)
    for grad in grads:
      self.assertTrue(np.all(np.isfinite(grad)))
    # Past theta = pi - m the target logit keeps falling with theta.
    logits = identity_pretrain.arcface_logits(embeddings, weights, labels,
                                              _SCALE, 0.5)
    self.assertLess(logits[1, 0], -_SCALE)

  def test_cosface_target_logit(self):
    embeddings, weights, labels = _problem(seed=2)
    margin = 0.35
    cos = _numpy_cosines(embeddings, weights)
    expected = _SCALE * cos
    expected[np.arange(len(labels)), labels] -= _SCALE * margin
    logits = identity_pretrain.cosface_logits(embeddings, weights, labels,
                                              _SCALE, margin)
    np.testing.assert_allclose(logits, expected, atol=1e-4)

  def test_margin_increases_loss_of_correct_samples(self):
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(8, 4)).astype(np.float32)
    labels = np.arange(4)
    # Each embedding close to its own class centre: correctly classified.
    embeddings = weights.T + 0.1 * rng.normal(size=(4, 8)).astype(np.float32)
    cos = _numpy_cosines(embeddings, weights)
    np.testing.assert_array_equal(cos.argmax(axis=1), labels)
    for kind, margin in (("arcface", 0.5), ("cosface", 0.35)):
      # A small scale keeps the losses of confident samples measurable.
      with_margin = identity_pretrain.margin_loss(
          embeddings, weights, labels, kind=kind, scale=4.0, margin=margin)
      without = identity_pretrain.margin_loss(
          embeddings, weights, labels, kind=kind, scale=4.0, margin=0.0)
      self.assertGreater(float(with_margin), float(without) + 1e-3, kind)

  def test_unknown_kind(self):
    with self.assertRaises(errors.ConfigError):
      identity_pretrain.margin_loss(*_problem(), kind="sphereface")


class VerificationTest(absltest.TestCase):

  def test_separated_embeddings_are_perfect(self):
    rng = np.random.default_rng(0)
    centres = np.eye(6)
    identities = np.repeat(np.arange(6), 5)
    embeddings = centres[identities] + 0.05 * rng.normal(size=(30, 6))
    result = identity_pretrain.verification_accuracy(embeddings, identities,
                                                     num_pairs=400)
    self.assertEqual(result.accuracy, 1.0)
    self.assertEqual(result.fair_accuracy, 1.0)
    self.assertEqual(result.num_pairs, 400)
    self.assertGreater(result.threshold, 0.2)
    self.assertLess(result.threshold, 0.98)

  def test_random_embeddings_are_chance(self):
    rng = np.random.default_rng(1)
    identities = np.repeat(np.arange(20), 10)
    embeddings = rng.normal(size=(200, 16))
    result = identity_pretrain.verification_accuracy(embeddings, identities,
                                                     num_pairs=2000)
    self.assertLess(result.accuracy, 0.6)
    self.assertBetween(result.fair_accuracy, 0.44, 0.56)

  def test_needs_repeated_identity(self):
    with self.assertRaises(ValueError):
      identity_pretrain.verification_accuracy(np.eye(3), np.arange(3))


def _write_identity_folder(root: pathlib.Path, num_identities: int,
                           images_per_identity: int, size: int):
  """Identities as distinct colour/stripe patterns, with per-image noise."""
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:size, 0:size] / size
  for person in range(num_identities):
    colour_a, colour_b = rng.uniform(0, 1, (2, 3))
    angle, frequency = rng.uniform(0, np.pi), rng.uniform(1.5, 4)
    folder = root / f"person_{person:02d}"
    folder.mkdir(parents=True)
    for view in range(images_per_identity):
      shift = rng.uniform(0, 0.2)
      phase = np.cos(angle) * xx + np.sin(angle) * yy
      stripes = (np.sin(2 * np.pi * (frequency * phase + shift)) > 0)[..., None]
      image = np.where(stripes, colour_a, colour_b)
      image = image + 0.08 * rng.normal(size=image.shape)
      Image.fromarray(
          (np.clip(image, 0, 1) * 255).astype(np.uint8)).save(
              folder / f"{view}.png")


def _tiny_config(data_dir) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      identity=dict(kind="iresnet", layers=(1, 1, 1, 1), width=8,
                    input_size=16, embedding_dim=32),
      loss=dict(kind="arcface", scale=16.0, margin=0.3),
      optim=dict(kind="adam", lr=3e-3, momentum=0.9, weight_decay=0.0,
                 schedule="cosine"),
      data=dict(name="identity_folder", data_dir=str(data_dir),
                image_size=16, test_identities=6),
      train=dict(batch_size=32, num_steps=40, seed=0, augment=False),
      eval=dict(num_pairs=600, seed=0),
      log=dict(progress_bar=False)))


class PretrainTest(absltest.TestCase):

  def test_pretrain_identity_folder_generalises_and_saves(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    _write_identity_folder(tmp / "faces", num_identities=22,
                           images_per_identity=6, size=16)
    metrics = identity_pretrain.pretrain(_tiny_config(tmp / "faces"),
                                         tmp / "work")
    self.assertEqual(metrics["train_identities"], 16)
    self.assertEqual(metrics["test_identities"], 6)
    self.assertEqual(metrics["steps"], 40)
    self.assertGreater(metrics["images_per_sec"], 0)
    self.assertGreater(metrics["verification_accuracy"], 0.8)
    self.assertTrue((tmp / "work" / "identity_metrics.json").exists())

    graphdef, state, config = identity_import.load_identity_encoder(
        tmp / "work" / "identity_encoder")
    self.assertEqual(config.kind, "iresnet")
    images = identity_pretrain.load_splits(_tiny_config(tmp / "faces").data)
    test_images, test_ids = images[1]
    reloaded = identity_pretrain.embed_all(graphdef, state, test_images)
    again = identity_pretrain.verification_accuracy(reloaded, test_ids, 600,
                                                    0)
    self.assertAlmostEqual(again.fair_accuracy,
                           metrics["verification_accuracy"], places=6)
    self.assertAlmostEqual(again.threshold, metrics["threshold"], places=5)
    # Frozen BatchNorm (running statistics): an image embeds alike alone.
    alone = identity.embed(graphdef, state,
                           jnp.asarray(test_images[:1]) / 255.0)
    np.testing.assert_allclose(alone[0], reloaded[0], atol=1e-5)

  def test_missing_data(self):
    config = _tiny_config(
        pathlib.Path(self.create_tempdir().full_path) / "missing")
    with self.assertRaises(errors.DataError):
      identity_pretrain.pretrain(config, self.create_tempdir().full_path)
    config.data.update(name="synthetic_faces", train_identities=3, views=2,
                       image_size=32, seed=0)
    with self.assertRaises(errors.DataError):
      identity_pretrain.pretrain(config, self.create_tempdir().full_path)


if __name__ == "__main__":
  absltest.main()
