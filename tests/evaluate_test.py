"""Tests of held-out evaluation: oracles for every metric, the command, the
training-time hook and the errors.

The oracles stand in for Q (the true pose of the input view) or for the
generator (the true image and depth of the camera it is asked to render);
they find the ground truth from the raw test split on their own, so that a
mix-up of views inside ``evaluate`` cannot go unnoticed.
"""

import contextlib
import io
import json
import math
import os
import pathlib
import shutil
import struct
import tempfile
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from PIL import Image

from jaxface import commands
from jaxface import errors
from jaxface import evaluate
from jaxface import generator
from jaxface import metrics
from jaxface import reconstruct
from jaxface import structs
from jaxface import train
from jaxface import train_state as train_state_lib
from jaxface.data import held_out as held_out_lib
from jaxface.data import synthetic_faces
from tests import testing_utils

# 4 train identities x 2 views: one batch of the tiny config; the test split
# has 2 identities x 4 views (the builder's minimum for test identities).
_DATA = dict(train_identities=4, test_identities=2, views=2, size=32, seed=7)
_ALL_KEYS = {
    *(f"{m}_{s}" for m in evaluate.VIEW_METRICS for s in ("novel", "input")),
    "identity_cosine_gt_novel", "pose_error_deg", "yaw_error_deg",
    "pitch_error_deg", "identity_consistency_random", "num_identities",
    "num_novel_views", "refine_steps"}
_IDENTITY_KEYS = {"identity_cosine_novel", "identity_cosine_input",
                  "identity_cosine_gt_novel", "identity_consistency_random"}


def _read_scalars(tb_dir: pathlib.Path) -> dict:
  """{tag: [(step, value)]} from the TensorBoard event files in ``tb_dir``.

  Records are TFRecord-framed: uint64 length, its CRC, the event, its CRC.
  """
  # pylint: disable-next=g-import-not-at-top
  from tensorboardX.proto import event_pb2
  scalars = {}
  for path in sorted(tb_dir.glob("events.out.tfevents.*")):
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((event.step,
                                                  value.simple_value))
  return scalars


class EvaluateTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    root = pathlib.Path(cls.tmp.name)
    cls.data_dir = str(root / "data")
    synthetic_faces.build(cls.data_dir, progress=False, **_DATA)
    cls.config = testing_utils.branch_config(1.0)
    cls.config.data.update(data_dir=cls.data_dir, seed=_DATA["seed"])
    cls.e2_dir = testing_utils.write_identity_encoder(root / "e2")
    cls.networks = train_state_lib.create_train_state(
        cls.config, testing_utils.tiny_identity_encoder()).networks()
    source = synthetic_faces.load_builder(cls.data_dir).as_data_source(
        "test")
    cls.examples = [source[i] for i in range(len(source))]

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def _input_examples(self):
    """The raw view-0 examples, lowest identity first."""
    return sorted((e for e in self.examples if e["view"] == 0),
                  key=lambda e: e["identity"])

  def _fake_encode(self, yaw_offset=0.0, pitch_offset=0.0):
    """An encoder that knows the true pose of each input image."""
    inputs = self._input_examples()
    config = self.config

    def encode(state, images):
      del state
      images = np.asarray(images)
      rows = [next(e for e in inputs if np.array_equal(e["image"], image))
              for image in images]
      yaw = np.asarray([e["pose"]["yaw"] for e in rows], np.float32)
      pitch = np.asarray([e["pose"]["pitch"] for e in rows], np.float32)
      latents = generator.sample_latents(jax.random.key(0), len(rows),
                                         config.field)
      return structs.Estimate(latents, jnp.asarray(yaw + yaw_offset),
                                  jnp.asarray(pitch + pitch_offset))

    return encode

  def _fake_render(self, view_shift=0):
    """A generator that draws the true view at the camera it is given.

    With ``view_shift``, it draws another view of the same identity instead
    (a deliberate mix-up that the metrics must notice).
    """
    by_key = {(e["identity"], e["view"]): e for e in self.examples}
    num_views = 1 + max(e["view"] for e in self.examples)
    keys = sorted(by_key)
    yaws = np.asarray([by_key[k]["pose"]["yaw"] for k in keys], np.float32)
    pitches = np.asarray([by_key[k]["pose"]["pitch"] for k in keys],
                         np.float32)
    shown = [by_key[(i, (v + view_shift) % num_views)] for i, v in keys]
    images = np.stack([e["image"] for e in shown]).astype(np.float32) / 255
    # Depth at the feature resolution, pooled as the docstring of
    # evaluate.downsample_depth says: the mean over each 4x4 block.
    size = self.config.render.feature_size
    k = self.config.data.image_size // size
    depth = np.stack([e["depth"] for e in shown]).reshape(
        len(keys), size, k, size, k).mean(axis=(2, 4))

    def render(g_graphdef, g_params, latents, camera):
      del g_graphdef, g_params, latents
      # The example whose camera this is: yaw and pitch tell them apart.
      distance = (jnp.abs(camera.yaw[:, None] - yaws)
                  + jnp.abs(camera.pitch[:, None] - pitches))
      index = jnp.argmin(distance, axis=1)
      return structs.GeneratorOutput(
          images=jnp.asarray(images)[index], features=None,
          depth=jnp.asarray(depth, jnp.float32)[index],
          opacity=jnp.ones_like(jnp.asarray(depth)[index]),
          surface_depth=jnp.asarray(depth, jnp.float32)[index])

    return render

  def test_pose_oracle(self):
    with mock.patch.object(reconstruct, "encode", self._fake_encode()):
      results = evaluate.evaluate(self.config, self.networks)
    for name in ("pose_error_deg", "yaw_error_deg", "pitch_error_deg"):
      self.assertAlmostEqual(results[name], 0.0, places=4, msg=name)
    # A known offset gives the known error: the angle between the two
    # viewing directions, computed here from spherical trigonometry.
    d_yaw, d_pitch = 0.2, 0.05
    with mock.patch.object(reconstruct, "encode",
                           self._fake_encode(d_yaw, d_pitch)):
      results = evaluate.evaluate(self.config, self.networks)
    angles = []
    for e in self._input_examples():
      p, q = e["pose"]["pitch"], e["pose"]["pitch"] + d_pitch
      cos = (math.sin(p) * math.sin(q)
             + math.cos(p) * math.cos(q) * math.cos(d_yaw))
      angles.append(math.degrees(math.acos(cos)))
    self.assertAlmostEqual(results["pose_error_deg"], np.mean(angles),
                           places=3)
    self.assertAlmostEqual(results["yaw_error_deg"], math.degrees(d_yaw),
                           places=3)
    self.assertAlmostEqual(results["pitch_error_deg"], math.degrees(d_pitch),
                           places=3)

  def test_novel_view_oracle(self):
    with mock.patch.object(evaluate, "render", self._fake_render()):
      results = evaluate.evaluate(self.config, self.networks)
      no_e2 = evaluate.evaluate(
          self.config, self.networks.replace(e2_params=None,
                                             e2_graphdef=None))
    self.assertEqual(results["num_identities"], 2)
    self.assertEqual(results["num_novel_views"], 3)
    for suffix in ("novel", "input"):
      self.assertEqual(results[f"psnr_{suffix}"], math.inf)
      self.assertAlmostEqual(results[f"ssim_{suffix}"], 1.0, places=5)
      for name in ("abs_rel_head", "abs_rel", "scale_invariant"):
        self.assertLess(results[f"depth_{name}_{suffix}"], 1e-5,
                        f"depth_{name}_{suffix}")
    # The renders are the true views, so E2 scores them like the truth.
    self.assertAlmostEqual(results["identity_cosine_novel"],
                           results["identity_cosine_gt_novel"], places=5)
    self.assertAlmostEqual(results["identity_cosine_input"], 1.0, places=5)
    # Without E2 the identity metrics are NaN and nothing else changes.
    for name in _ALL_KEYS:
      if name in _IDENTITY_KEYS:
        self.assertTrue(math.isnan(no_e2[name]), name)
      else:
        self.assertEqual(no_e2[name], results[name], name)
    # The oracle is not vacuous: drawing the wrong view is caught.
    with mock.patch.object(evaluate, "render", self._fake_render(1)):
      mixed = evaluate.evaluate(self.config, self.networks)
    self.assertLess(mixed["psnr_novel"], 40.0)
    self.assertLess(mixed["psnr_input"], 40.0)
    self.assertGreater(mixed["depth_abs_rel_novel"], 1e-3)

  def test_held_out_batch_matches_evaluate(self):
    held_out = held_out_lib.load(self.config.data, 1)
    self.assertEqual(held_out.images.shape, (1, 4, 32, 32, 3))
    self.assertEqual(held_out.identity.tolist(),
                     [synthetic_faces.TEST_ID_OFFSET])
    np.testing.assert_array_equal(held_out.images[0, 0],
                                  self._input_examples()[0]["image"])
    # Both test identities: evaluate's batch then has the shape the other
    # tests compile.
    held_out = held_out_lib.load(self.config.data)
    fast = evaluate.held_out_metrics(self.networks, self.config, held_out,
                                     evaluate.random_views(self.config))
    full = evaluate.evaluate(self.config, self.networks)
    self.assertEqual(set(fast), _ALL_KEYS)
    for name in _ALL_KEYS:
      np.testing.assert_allclose(fast[name], full[name], rtol=1e-4,
                                 atol=1e-5, err_msg=name)

  def test_train_logs_and_command_writes_json(self):
    workdir = pathlib.Path(self.create_tempdir().full_path) / "run"
    config = self.config.copy_and_resolve_references()
    config.identity.encoder_dir = str(self.e2_dir)
    config.train.num_steps = 1
    config.log.update(eval_every_steps=1, eval_num_identities=1)
    train.train_and_evaluate(config, workdir)
    scalars = _read_scalars(workdir / "tb")
    for name in _ALL_KEYS - {"num_identities", "num_novel_views",
                             "refine_steps"}:
      self.assertEqual([s for s, _ in scalars.get(f"eval/{name}", [])], [1],
                       name)

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
      result = commands.evaluate(workdir, refine_steps=1)
    path = workdir / "eval" / "metrics_step1.json"
    self.assertEqual(result["path"], str(path))
    self.assertEqual(result["step"], 1)
    written = json.loads(path.read_text())
    self.assertEqual(set(written), _ALL_KEYS | {"step"})
    self.assertEqual(written["refine_steps"], 1)
    self.assertEqual(written["num_identities"], 2)
    for name in _ALL_KEYS:  # a random generator with E2: nothing is NaN
      self.assertTrue(math.isfinite(written[name]), name)
      self.assertEqual(written[name], result[name], name)
    self.assertIn(metrics.format_table(
        {k: v for k, v in result.items() if k not in ("step", "path")}),
                  stdout.getvalue())
    self.assertEqual(list(path.parent.iterdir()), [path])  # no temp files

  def test_inference_from_another_directory(self):
    # A run trained with a relative data path, then evaluated and
    # reconstructed from another directory: config.json holds the absolute
    # path, so its data is found.
    root = pathlib.Path(self.create_tempdir().full_path)
    shutil.copytree(self.data_dir, root / "data")
    config = self.config.copy_and_resolve_references()
    config.data.data_dir = "data"
    config.identity.encoder_dir = str(self.e2_dir)
    config.train.num_steps = 1
    photo = root / "face.png"
    Image.fromarray(self._input_examples()[0]["image"]).save(photo)
    (root / "elsewhere").mkdir()
    here = os.getcwd()
    try:
      os.chdir(root)
      train.train_and_evaluate(config, "run")
      os.chdir(root / "elsewhere")
      stored = json.loads((root / "run" / "config.json").read_text())
      self.assertEqual(stored["data"]["data_dir"], str(root / "data"))
      results = commands.evaluate(root / "run", num_identities=1)
      summary = commands.reconstruct([photo], root / "run", "out",
                                     mesh_resolution=0)
    finally:
      os.chdir(here)
    self.assertEqual(results["num_identities"], 1)
    self.assertTrue(math.isfinite(results["psnr_novel"]))
    self.assertEqual(summary["failed"], [])
    self.assertTrue((root / "elsewhere" / "out" / "face" / "pose.json")
                    .is_file())

  def test_plain_giraffe_state_raises(self):
    config = testing_utils.load_config("tiny")
    config.data.update(data_dir=self.data_dir, seed=_DATA["seed"])
    # Shapes are enough: the check fails before anything is computed.
    state = jax.eval_shape(lambda: train_state_lib.create_train_state(config))
    with self.assertRaisesRegex(errors.CheckpointError,
                                "without the identity branch"):
      evaluate.evaluate(config, state.networks())

  def test_data_without_ground_truth_raises(self):
    config = self.config.copy_and_resolve_references()
    config.data.name = "image_folder"
    with self.assertRaisesRegex(errors.ConfigError, "synthetic_faces"):
      evaluate.evaluate(config, self.networks)


if __name__ == "__main__":
  absltest.main()
