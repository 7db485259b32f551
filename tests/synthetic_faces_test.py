"""Tests of the synthetic face data set builder (array_record, no TF)."""

import functools
import os
import sys
import tempfile
from unittest import mock

from absl.testing import absltest
import jax
import ml_collections
import numpy as np

from jaxface.data import head_model
from jaxface.data import synthetic_faces

_SETTINGS = dict(train_identities=3, test_identities=2, views=2, size=32,
                 seed=7)


def _files(path):
  out = {}
  for root, _, names in os.walk(path):
    for name in names:
      if ".array_record" in name:
        with open(os.path.join(root, name), "rb") as f:
          out[name] = f.read()
  return out


class SyntheticFacesTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.data_dir = os.path.join(cls.tmp.name, "a")
    cls.builder = synthetic_faces.build(cls.data_dir, progress=False,
                                        **_SETTINGS)
    cls.train = cls.builder.as_data_source("train")
    cls.test = cls.builder.as_data_source("test")

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_no_tensorflow(self):
    self.assertNotIn("tensorflow", sys.modules)

  def test_features(self):
    ex = self.train[0]
    s = _SETTINGS["size"]
    self.assertEqual((ex["image"].shape, ex["image"].dtype), ((s, s, 3),
                                                              np.uint8))
    self.assertEqual((ex["depth"].shape, ex["depth"].dtype), ((s, s),
                                                              np.float32))
    self.assertEqual((ex["mask"].shape, ex["mask"].dtype), ((s, s), np.uint8))
    self.assertEqual(ex["normals"].shape, (s, s, 3))
    self.assertEqual(set(ex["pose"]), {"yaw", "pitch", "radius", "fov",
                                       "cam2world"})
    self.assertEqual(ex["pose"]["cam2world"].shape, (4, 4))
    self.assertEqual(ex["shape_params"].shape, (head_model.NUM_SHAPE_PARAMS,))
    self.assertEqual(ex["expression"].shape,
                     (head_model.NUM_EXPRESSION_PARAMS,))
    self.assertEqual(ex["colors"].shape, (4, 3))
    for ex in list(self.train) + list(self.test):
      self.assertTrue(set(np.unique(ex["mask"])) <= {0, 1})
      np.testing.assert_array_equal(ex["mask"] == 1, ex["depth"] > 0)
      self.assertGreater(ex["mask"].mean(), 0.2)  # A head is in view.
      self.assertLess(ex["mask"].mean(), 0.9)
      self.assertLessEqual(abs(ex["pose"]["yaw"]), np.deg2rad(35.01))
      self.assertBetween(ex["pose"]["pitch"], -1e-6, np.deg2rad(10.0))
      self.assertAlmostEqual(ex["pose"]["radius"], 2.732, places=5)
      self.assertAlmostEqual(ex["pose"]["fov"], np.deg2rad(10.0), places=6)

  def test_splits_are_disjoint_with_enough_test_views(self):
    train_ids = [ex["identity"] for ex in self.train]
    test_ids = [ex["identity"] for ex in self.test]
    self.assertLen(self.train, 3 * 2)
    self.assertLen(self.test, 2 * synthetic_faces.MIN_TEST_VIEWS)
    self.assertEmpty(set(train_ids) & set(test_ids))
    _, counts = np.unique(test_ids, return_counts=True)
    self.assertTrue(np.all(counts >= 4))
    # Views of one identity differ in pose; the identity's shape does not.
    views = [ex for ex in self.test if ex["identity"] == test_ids[0]]
    self.assertGreater(np.ptp([v["pose"]["yaw"] for v in views]), 0.01)
    for v in views[1:]:
      np.testing.assert_array_equal(v["shape_params"],
                                    views[0]["shape_params"])

  def test_reads_back_what_was_rendered(self):
    config = self.builder.builder_config
    stored = [self.train[0], self.test[3]]
    ids = [ex["identity"] for ex in stored]
    views = [ex["view"] for ex in stored]
    direct = synthetic_faces.render_examples(config, ids, views)
    for i, ex in enumerate(stored):
      for key in ("image", "depth", "mask", "normals", "shape_params",
                  "expression", "colors"):
        np.testing.assert_array_equal(ex[key], direct[key][i], err_msg=key)
      np.testing.assert_array_equal(ex["pose"]["cam2world"],
                                    direct["pose"]["cam2world"][i])

  def test_deterministic_and_seed_dependent(self):
    again = os.path.join(self.tmp.name, "b")
    synthetic_faces.build(again, progress=False, **_SETTINGS)
    first, second = _files(self.data_dir), _files(again)
    self.assertLen(first, 3)  # train, test, test_clean
    self.assertEqual(first, second)
    other = synthetic_faces.render_examples(
        synthetic_faces.make_config(**{**_SETTINGS, "seed": 8}), [0], [0])
    mine = synthetic_faces.render_examples(self.builder.builder_config, [0],
                                           [0])
    self.assertGreater(
        np.abs(other["image"][0].astype(int) - mine["image"][0]).mean(), 1.0)

  def test_an_identity_renders_the_same_whatever_the_split_sizes(self):
    # `evaluate --test-identities N` scores a run on the same data built
    # with more test identities: its training identities and its own test
    # identities must come out the same.
    mine = self.builder.builder_config
    more = synthetic_faces.make_config(**{**_SETTINGS, "test_identities": 5,
                                          "train_identities": 9})
    ids = [1, synthetic_faces.TEST_ID_OFFSET + 1]
    for clean in (False, True):
      a = synthetic_faces.render_examples(mine, ids, [1, 2], clean=clean)
      b = synthetic_faces.render_examples(more, ids, [1, 2], clean=clean)
      for key in ("image", "depth", "shape_params", "colors"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    self.assertEqual(synthetic_faces.split_ids(more, "test")[0][0],
                     synthetic_faces.split_ids(mine, "test")[0][0])

  def test_the_training_split_does_not_depend_on_the_test_split(self):
    # The demo's data is built with 32 test identities and its rows with
    # 8: the same training examples, in the same order, train both.
    mine = self.builder.builder_config
    more = synthetic_faces.make_config(**{**_SETTINGS, "test_identities": 5})
    self.assertNotEqual(more.test_identities, mine.test_identities)
    for a, b in zip(synthetic_faces.split_ids(mine, "train"),
                    synthetic_faces.split_ids(more, "train")):
      np.testing.assert_array_equal(a, b)

  def test_clean_views_are_the_true_head_under_the_input_light(self):
    # What a perfect reconstruction of view 0 would render at another
    # camera: the same head, expression and light, only the camera moved.
    config = self.builder.builder_config
    clean = self.builder.as_data_source("test_clean")
    self.assertLen(clean, len(self.test))
    wild = {(e["identity"], e["view"]): e for e in self.test}
    for example in clean:
      key = (example["identity"], example["view"])
      np.testing.assert_array_equal(example["pose"]["cam2world"],
                                    wild[key]["pose"]["cam2world"])
      if example["view"] == 0:  # the input view is the same picture
        np.testing.assert_array_equal(example["image"], wild[key]["image"])
    ids = np.asarray([e["identity"] for e in clean])
    views = np.asarray([e["view"] for e in clean])
    shape, colors = synthetic_faces.identity_params(config.seed, ids)
    cams, _, _ = synthetic_faces.view_params(config.seed, ids, views,
                                             config.camera)
    _, expression, light = synthetic_faces.view_params(
        config.seed, ids, np.zeros_like(views), config.camera)
    render = jax.jit(functools.partial(
        synthetic_faces.render_heads, size=config.size,
        supersample=config.supersample, num_steps=config.num_steps,
        shadow_steps=config.shadow_steps))
    truth = render(shape, expression, colors, cams, light)
    images = np.round(np.asarray(truth["rgb"]) * 255).astype(np.uint8)
    # Rendered in other batches (other compiled shapes), a pixel may round
    # the other way: equal up to one level in a few pixels.
    stored = np.stack([e["image"] for e in clean]).astype(int)
    self.assertLessEqual(np.abs(stored - images).max(), 1)
    self.assertLess(np.mean(stored != images), 1e-3)
    np.testing.assert_allclose(np.stack([e["depth"] for e in clean]),
                               np.asarray(truth["depth"]), atol=1e-4)
    # The wild views differ: their own light and expression.
    differ = [not np.array_equal(wild[(e["identity"], e["view"])]["image"],
                                 e["image"]) for e in clean if e["view"] > 0]
    self.assertTrue(all(differ))

  def test_load_builder(self):
    builder = synthetic_faces.load_builder(self.data_dir)
    self.assertLen(builder.as_data_source("test"), len(self.test))
    builder = synthetic_faces.load_builder(self.data_dir, **_SETTINGS)
    self.assertLen(builder.as_data_source("train"), len(self.train))
    with self.assertRaises(FileNotFoundError):
      synthetic_faces.load_builder(self.data_dir,
                                   **{**_SETTINGS, "seed": 9})

  def test_config_names(self):
    base = synthetic_faces.make_config(**_SETTINGS)
    names = {base.name}
    for change in ({"seed": 8}, {"views": 3}, {"size": 64},
                   {"train_identities": 4}, {"test_identities": 3}):
      names.add(synthetic_faces.make_config(**{**_SETTINGS, **change}).name)
    cam = synthetic_faces.default_camera_config()
    self.assertEqual(
        synthetic_faces.make_config(**_SETTINGS, camera_config=cam).name,
        base.name)
    cam.fov_degrees = 12.0
    names.add(synthetic_faces.make_config(**_SETTINGS,
                                          camera_config=cam).name)
    self.assertLen(names, 7)
    with self.assertRaises(ValueError):
      synthetic_faces.make_config(**{**_SETTINGS, "size": 16})
    self.assertIsInstance(cam, ml_collections.ConfigDict)

  def test_interrupted_build_is_not_prepared_and_rerun_succeeds(self):
    data_dir = os.path.join(self.tmp.name, "c")
    render = synthetic_faces.render_examples
    calls = []

    def failing(*args, **kwargs):
      calls.append(1)
      if len(calls) > 1:  # The train split is written, then this fails.
        raise RuntimeError("interrupted")
      return render(*args, **kwargs)

    with mock.patch.object(synthetic_faces, "render_examples", failing):
      with self.assertRaisesRegex(RuntimeError, "interrupted"):
        synthetic_faces.build(data_dir, progress=False, **_SETTINGS)
    self.assertFalse(
        synthetic_faces.SyntheticFaces(data_dir=data_dir,
                                       **_SETTINGS).is_prepared())
    with self.assertRaises(FileNotFoundError):
      synthetic_faces.load_builder(data_dir)
    builder = synthetic_faces.build(data_dir, progress=False, **_SETTINGS)
    self.assertTrue(builder.is_prepared())
    self.assertEqual(_files(data_dir), _files(self.data_dir))


if __name__ == "__main__":
  absltest.main()
