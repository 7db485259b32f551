"""The training input pipeline: deterministic batches, pairs of one identity."""

import numpy as np
from absl.testing import absltest

from jaxface import errors
from jaxface.data import input_pipeline
from tests import testing_utils


class _Faces:
  """A random-access source: identity i, view v -> an image coding (i, v)."""

  def __init__(self, identities=5, views=3, size=16, pose=False):
    self.items = [(i, v) for i in range(identities) for v in range(views)]
    self.size = size
    self.pose = pose

  def __len__(self):
    return len(self.items)

  def __getitem__(self, index):
    identity, view = self.items[index]
    image = np.zeros((self.size, self.size, 3), np.uint8)
    image[..., 0], image[..., 1] = identity, view
    image[:, 0, 2] = 255  # the left column marked: a flip moves it right
    example = {"image": image, "identity": identity}
    if self.pose:  # a label that also codes (identity, view)
      example["pose"] = {"yaw": 1.5 + 0.01 * identity + 0.001 * view,
                         "pitch": 1.4 + 0.002 * view}
    return example


def _config(pairs, real_pose_weight=0.0, mirror=False):
  config = testing_utils.load_config("tiny")
  config.data.update(image_size=16, pairs=pairs, num_workers=0,
                     mirror=mirror)
  config.loss.real_pose_weight = real_pose_weight
  return config


def _one_and_two_processes(config, source):
  """The batch-8 stream of one process, and the batch-4 streams of two."""
  whole = input_pipeline.train_dataset(config, 8, source=source,
                                       process_index=0, process_count=1)
  shards = [input_pipeline.train_dataset(config, 4, source=source,
                                         process_index=p, process_count=2)
            for p in range(2)]
  return whole, shards


class PairsTest(absltest.TestCase):

  def test_pairs_are_two_views_of_one_identity(self):
    source = _Faces()
    pairs = input_pipeline.IdentityPairs(source)
    self.assertLen(pairs, 5 * 3 * 2)  # every ordered pair of distinct views
    dataset = input_pipeline.train_dataset(_config(True), 8, source=source)
    seen = set()
    for step in range(6):
      images = dataset[step]["image"]
      self.assertEqual(images.shape, (8, 16, 16, 3))
      identity, view = images[:, 0, 0, 0], images[:, 0, 0, 1]
      np.testing.assert_array_equal(identity[0::2], identity[1::2])
      self.assertTrue(np.all(view[0::2] != view[1::2]))
      seen.update(zip(identity[0::2], view[0::2], view[1::2]))
    self.assertGreater(len(seen), 10)  # shuffled across identities
    # Batch i is a function of (seed, i): read again, the same.
    again = input_pipeline.train_dataset(_config(True), 8, source=source)
    np.testing.assert_array_equal(again[3]["image"], dataset[3]["image"])

  def test_pairs_need_identities_with_two_views(self):
    with self.assertRaisesRegex(errors.DataError, "two views"):
      input_pipeline.IdentityPairs(_Faces(views=1))
    with self.assertRaisesRegex(errors.ConfigError, "even batch"):
      input_pipeline.train_dataset(_config(True), 7, source=_Faces())

  def test_single_images_without_pairs(self):
    dataset = input_pipeline.train_dataset(_config(False), 8,
                                           source=_Faces())
    self.assertEqual(dataset[0]["image"].shape, (8, 16, 16, 3))


class PoseLabelsTest(absltest.TestCase):

  def _check_labels_follow_their_images(self, pairs):
    dataset = input_pipeline.train_dataset(_config(pairs, 1.0), 8,
                                           source=_Faces(pose=True))
    for step in range(3):
      batch = dataset[step]
      self.assertEqual(set(batch), {"image", "yaw", "pitch"})
      identity = batch["image"][:, 0, 0, 0].astype(np.float32)
      view = batch["image"][:, 0, 0, 1].astype(np.float32)
      self.assertEqual(batch["yaw"].dtype, np.float32)
      np.testing.assert_allclose(batch["yaw"],
                                 1.5 + 0.01 * identity + 0.001 * view,
                                 rtol=1e-6)
      np.testing.assert_allclose(batch["pitch"], 1.4 + 0.002 * view,
                                 rtol=1e-6)

  def test_labels_follow_single_images(self):
    self._check_labels_follow_their_images(pairs=False)

  def test_labels_follow_pairs(self):
    self._check_labels_follow_their_images(pairs=True)

  def test_no_labels_unless_a_loss_reads_them(self):
    dataset = input_pipeline.train_dataset(_config(True), 8,
                                           source=_Faces(pose=True))
    self.assertEqual(set(dataset[0]), {"image"})

  def test_data_without_labels_is_refused(self):
    for pairs in (False, True):
      with self.assertRaisesRegex(errors.ConfigError, "pose labels"):
        input_pipeline.train_dataset(_config(pairs, 1.0), 8, source=_Faces())


class MirrorTest(absltest.TestCase):

  def _batches(self, pairs, steps=8, **kwargs):
    dataset = input_pipeline.train_dataset(
        _config(pairs, 1.0, mirror=True), 8, source=_Faces(pose=True),
        **kwargs)
    return [dataset[step] for step in range(steps)]

  def test_flipped_examples_have_their_yaw_negated(self):
    for pairs in (False, True):
      flipped = []
      for batch in self._batches(pairs):
        images = batch["image"]
        left = images[:, :, 0, 2] == 255
        right = images[:, :, -1, 2] == 255
        # Every image is its source, or the source flipped left to right.
        self.assertTrue(np.all(left.all(1) != right.all(1)))
        is_flipped = right.all(1)
        identity = images[:, 0, 0, 0].astype(np.float32)
        view = images[:, 0, 0, 1].astype(np.float32)
        yaw = 1.5 + 0.01 * identity + 0.001 * view
        np.testing.assert_allclose(batch["yaw"],
                                   np.where(is_flipped, -yaw, yaw), rtol=1e-6)
        np.testing.assert_allclose(batch["pitch"], 1.4 + 0.002 * view,
                                   rtol=1e-6)  # pitch is not mirrored
        if pairs:  # both views of a pair, or neither
          np.testing.assert_array_equal(is_flipped[0::2], is_flipped[1::2])
        flipped.append(is_flipped)
      share = np.mean(np.concatenate(flipped))
      self.assertBetween(share, 0.25, 0.75)

  def test_flips_are_the_same_for_any_number_of_processes(self):
    config = _config(False, 1.0, mirror=True)
    source = _Faces(pose=True)
    whole, shards = _one_and_two_processes(config, source)
    for step in range(6):
      for name in ("image", "yaw"):
        parts = [shard[step][name] for shard in shards]
        np.testing.assert_array_equal(np.concatenate(parts),
                                      whole[step][name])
    again = input_pipeline.train_dataset(config, 8, source=source)
    np.testing.assert_array_equal(again[5]["image"], whole[5]["image"])

  def test_off_by_default(self):
    batch = input_pipeline.train_dataset(_config(False), 8,
                                         source=_Faces())[0]
    self.assertTrue(np.all(batch["image"][:, :, 0, 2] == 255))


class ProcessShardsTest(absltest.TestCase):

  def test_process_shards_are_disjoint_and_cover_the_global_batch(self):
    source = _Faces(identities=7, views=3)  # 21 images: epochs straddle
    whole, shards = _one_and_two_processes(_config(False), source)
    for step in range(12):
      parts = [shard[step]["image"] for shard in shards]
      # Process p holds rows [4p, 4p + 4) of the one-process global batch.
      np.testing.assert_array_equal(np.concatenate(parts),
                                    whole[step]["image"])
    codes = [{(int(x[0, 0, 0]), int(x[0, 0, 1])) for x in shards[p][0]["image"]}
             for p in range(2)]
    self.assertEmpty(codes[0] & codes[1])  # the first epoch: no repeats


if __name__ == "__main__":
  absltest.main()
