"""Single-image reconstruction: encoding, refinement, and the CLI."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from PIL import Image
import trimesh

from jaxface import commands
from jaxface import errors
from jaxface import generator
from jaxface import identity
from jaxface import identity_branch
from jaxface import losses
from jaxface import mesh as mesh_lib
from jaxface import rays as rays_lib
from jaxface import reconstruct
from jaxface import train
from jaxface import train_state as train_state_lib
from jaxface import workdir
from tests import testing_utils


def _images(n=2, size=32, seed=0):
  yy, xx = np.mgrid[:size, :size] / size
  rng = np.random.RandomState(seed)
  out = []
  for _ in range(n):
    c = rng.uniform(0, 1, 3)
    blob = ((xx - 0.5) ** 2 + (yy - 0.45) ** 2 < 0.08)[..., None]
    out.append(np.where(blob, c, 1 - c))
  return (np.stack(out) * 255).astype(np.uint8)


class RefineTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.config = testing_utils.branch_config(1.0)
    cls.networks = train_state_lib.create_train_state(
        cls.config, testing_utils.tiny_identity_encoder()).networks()

  def test_encode_gives_codes_and_pose_per_image(self):
    estimate = reconstruct.encode(self.networks, _images(3))
    self.assertEqual(estimate.latents.z_shape.shape,
                     (3, self.config.field.z_shape_dim))
    self.assertEqual(estimate.yaw.shape, (3,))

  def test_mirrored_pose_turns_with_the_image(self):
    rng = np.random.RandomState(1)
    images = rng.randint(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    flipped = images[:, :, ::-1]
    plain = [reconstruct.encode(self.networks, x) for x in (images, flipped)]
    # Q alone (random weights) does not read a mirror image as the mirror
    # pose, so what follows is the averaging's doing.
    self.assertGreater(
        float(jnp.max(jnp.abs(plain[0].yaw + plain[1].yaw))), 1e-4)
    both = [reconstruct.encode(self.networks, x, mirror=True)
            for x in (images, flipped)]
    np.testing.assert_allclose(both[1].yaw, -both[0].yaw, atol=1e-6)
    np.testing.assert_allclose(both[1].pitch, both[0].pitch, atol=1e-6)
    np.testing.assert_allclose(  # the codes are the photo's own
        both[0].latents.z_shape, plain[0].latents.z_shape, atol=1e-6)
    np.testing.assert_allclose(  # the mean of the two readings
        both[0].yaw, 0.5 * (plain[0].yaw - plain[1].yaw), atol=1e-6)
    symmetric = np.concatenate([images[:, :, :16], images[:, :, 15::-1]], 2)
    np.testing.assert_allclose(
        reconstruct.encode(self.networks, symmetric, mirror=True).yaw, 0.0,
        atol=1e-6)

  def test_mirrored_pose_needs_a_prior_centred_on_the_face(self):
    config = testing_utils.branch_config(1.0)
    config.refine.mirror_pose = True
    self.assertTrue(reconstruct.mirror_pose(config))
    config.camera.azimuth_range = (0.45, 0.6)
    with self.assertRaisesRegex(errors.ConfigError, "centred on 0"):
      reconstruct.mirror_pose(config)
    config.refine.mirror_pose = False
    self.assertFalse(reconstruct.mirror_pose(config))

  def test_refinement_lowers_the_loss_and_keeps_images_independent(self):
    images = _images(2)
    start = reconstruct.encode(self.networks, images)
    both, _, history = reconstruct.refine(self.networks, self.config,
                                          images, start, steps=15)
    loss = np.asarray(history["loss"])  # the objective: L1 + E2 terms + prior
    self.assertLess(loss[-1], 0.95 * loss[0])
    self.assertGreater(float(jnp.abs(both.yaw - start.yaw).max())
                       + float(jnp.abs(both.latents.z_app
                                       - start.latents.z_app).max()), 1e-4)
    # Refining image 0 alone gives what it got in the batch.
    alone, _, _ = reconstruct.refine(
        self.networks, self.config, images[:1],
        jax.tree.map(lambda x: x[:1], start), steps=15)
    np.testing.assert_allclose(alone.latents.z_shape,
                               both.latents.z_shape[:1], atol=1e-4)
    np.testing.assert_allclose(alone.yaw, both.yaw[:1], atol=1e-5)

  def test_pose_term_holds_the_pose_near_q(self):
    images = _images(2)
    start = reconstruct.encode(self.networks, images)
    moved = {}
    for weight in (0.0, 1e3):
      config = self.config.copy_and_resolve_references()
      config.refine.pose_weight = weight
      refined, _, _ = reconstruct.refine(self.networks, config, images,
                                         start, steps=15)
      moved[weight] = float(jnp.abs(refined.yaw - start.yaw).max()
                            + jnp.abs(refined.pitch - start.pitch).max())
    self.assertGreater(moved[0.0], 1e-3)
    self.assertLess(moved[1e3], 0.2 * moved[0.0])

  def test_mirror_term_scores_the_mirror_image_at_the_mirrored_pose(self):
    images = _images(2)
    images01 = jnp.asarray(images, jnp.float32) / 255.0
    start = reconstruct.encode(self.networks, images)
    g = self.networks.g_params
    config = self.config.copy_and_resolve_references()
    config.refine.mirror_weight = 0.0  # the demo config's is 0.5
    _, plain = reconstruct.reconstruction_loss(self.networks, g, start, start,
                                               images01, config)
    self.assertNotIn("mirror", plain)
    config.refine.update(mirror_weight=0.5, l1_weight=1.0,
                         perceptual_weight=0.7)
    total, terms = reconstruct.reconstruction_loss(
        self.networks, g, start, start, images01, config)
    for name, value in plain.items():  # the photo's own terms are as before
      np.testing.assert_allclose(terms[name], value, rtol=1e-4, atol=1e-6)
    # An independent render: the codes at -yaw against the flipped photo.
    mirrored = reconstruct.render(self.networks.g_graphdef, g,
                                  start.replace(yaw=-start.yaw), config)
    flipped = images01[:, :, ::-1]
    expected = (losses.l1_distance(mirrored.images, flipped)
                + 0.7 * identity.perceptual_distance(
                    self.networks.e2_graphdef, self.networks.e2_params,
                    mirrored.images, flipped))
    np.testing.assert_allclose(terms["mirror"], expected, rtol=1e-4)
    others = sum(config.refine[f"{name}_weight"] * plain[name]
                 for name in plain)
    np.testing.assert_allclose(total, jnp.sum(others + 0.5 * expected),
                               rtol=1e-4)

  def test_identity_term_at_weight_zero_is_left_out(self):
    images = _images(2)
    images01 = jnp.asarray(images, jnp.float32) / 255.0
    start = reconstruct.encode(self.networks, images)
    config = self.config.copy_and_resolve_references()
    config.refine.update(identity_weight=0.5, mirror_weight=0.0)
    total, terms = reconstruct.reconstruction_loss(
        self.networks, self.networks.g_params, start, start, images01,
        config)
    self.assertIn("identity", terms)
    config.refine.identity_weight = 0.0
    total_without, terms_without = reconstruct.reconstruction_loss(
        self.networks, self.networks.g_params, start, start, images01,
        config)
    self.assertNotIn("identity", terms_without)
    # The other terms are as before; the total lost only the weighted term.
    for name, value in terms_without.items():
      np.testing.assert_allclose(value, terms[name], rtol=1e-5)
    np.testing.assert_allclose(
        total_without, total - 0.5 * jnp.sum(terms["identity"]), rtol=1e-4)

  def test_split_tunable_keeps_the_renderer_unless_asked(self):
    g = self.networks.g_params
    config = self.config.copy_and_resolve_references()
    config.refine.tune_renderer = False
    tunable, frozen = reconstruct.split_tunable(g, config)
    self.assertEqual(list(frozen), ["renderer"])
    self.assertNotIn("renderer", tunable)
    self.assertEqual(set({**tunable, **frozen}), set(g))
    config.refine.tune_renderer = True
    tunable, frozen = reconstruct.split_tunable(g, config)
    self.assertEqual(frozen, {})
    self.assertEqual(set(tunable), set(g))

  def test_zero_steps_is_the_encoder(self):
    images = _images(1)
    start = reconstruct.encode(self.networks, images)
    same, g_params, history = reconstruct.refine(
        self.networks, self.config, images, start, steps=0)
    self.assertEqual(history, {})
    np.testing.assert_array_equal(same.yaw, start.yaw)
    self.assertIs(g_params, self.networks.g_params)

  def test_pivotal_tuning_moves_the_generator_and_fits_better(self):
    images = _images(1)
    start = reconstruct.encode(self.networks, images)
    config = self.config.copy_and_resolve_references()
    config.refine.tune_renderer = True  # the whole generator
    _, tuned, history = reconstruct.refine(
        self.networks, config, images, start, steps=10,
        tune_generator=True, tune_lr=1e-3)
    self.assertLess(float(history["tune_l1"][-1].mean()),
                    float(history["tune_l1"][0].mean()))
    moved = max(jax.tree.leaves(jax.tree.map(
        lambda a, b: float(jnp.max(jnp.abs(a - b))), tuned,
        self.networks.g_params)))
    self.assertGreater(moved, 1e-5)


  def test_pivotal_tuning_can_keep_the_neural_renderer(self):
    images = _images(1)
    start = reconstruct.encode(self.networks, images)
    config = self.config.copy_and_resolve_references()
    config.refine.tune_renderer = False
    _, tuned, history = reconstruct.refine(
        self.networks, config, images, start, steps=10,
        tune_generator=True, tune_lr=1e-3)
    # The objective falls (its L1 alone need not, in a few steps of an
    # untrained field).
    self.assertLess(float(history["tune_loss"][-1]),
                    float(history["tune_loss"][0]))
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), tuned,
                         self.networks.g_params)
    self.assertEqual(max(jax.tree.leaves(moved["renderer"])), 0.0)
    self.assertGreater(max(jax.tree.leaves(moved["field"])), 1e-5)
    self.assertEqual(set(tuned), set(self.networks.g_params))

def _cli(*args, timeout=600):
  env = testing_utils.subprocess_env()
  return subprocess.run([sys.executable, "-m", "jaxface.main", *map(str, args)],
                        capture_output=True, text=True, timeout=timeout,
                        env=env, cwd=testing_utils.REPO)


class ReconstructCliTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = pathlib.Path(tempfile.mkdtemp())
    folder = testing_utils.write_image_folder(cls.tmp / "train", num_images=8)
    config = testing_utils.folder_config(folder, num_steps=1)
    for name in identity_branch.WEIGHTS:
      # The cross-view terms need data.pairs, the real-pose term pose labels.
      if not name.startswith(("cross_view", "real_pose")):
        config.loss[name] = 1.0
    config.identity.encoder_dir = str(
        testing_utils.write_identity_encoder(cls.tmp / "e2"))
    cls.workdir = cls.tmp / "run"
    train.train_and_evaluate(config, cls.workdir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)
    super().tearDownClass()

  def test_bad_inputs_are_reported_and_the_rest_reconstructed(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    photos = tmp / "photos"
    photos.mkdir()
    Image.fromarray(_images(1, size=50)[0]).convert("P").save(
        photos / "palette.png")
    Image.fromarray(_images(1, size=40)[0]).convert("LA").save(
        photos / "grey_alpha.png")
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    empty = tmp / "empty"
    empty.mkdir()
    result = _cli("reconstruct", photos, empty, tmp / "missing.png",
                  "--workdir", self.workdir, "--out", tmp / "out",
                  "--mesh-resolution", 24, "--refine-steps", 2)
    self.assertEqual(result.returncode, 1, result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    errors = [l for l in result.stderr.splitlines()
              if l.startswith("jaxface: error:")]
    joined = "\n".join(errors)
    self.assertIn("broken.jpg", joined)
    self.assertIn("missing.png", joined)
    self.assertIn(str(empty), joined)
    faces = json.loads(result.stdout)
    self.assertCountEqual(faces, ["palette", "grey_alpha"])
    for name in faces:
      out = tmp / "out" / name
      for file in ("input.png", "render.png", "views.png", "depth.png",
                   "depth.npy", "orbit.gif", "pose.json", "codes.npz"):
        self.assertTrue((out / file).is_file(), f"{name}/{file}")
      pose = json.loads((out / "pose.json").read_text())
      self.assertLen(pose["cam2world"], 4)
      self.assertIn("refinement", pose["estimated_by"])
      # A mesh, or a one-line reason (a 1-step generator may have none).
      has_mesh = (out / "mesh.ply").is_file() and (out / "mesh.obj").is_file()
      self.assertTrue(has_mesh or f"no mesh for {name}" in joined)
      self.assertEqual(np.asarray(Image.open(out / "input.png")).shape[-1], 3)
    # export-mesh re-renders saved codes; codes of another model are refused.
    result = _cli("export-mesh", "--workdir", self.workdir, "--out",
                  tmp / "again", "--codes", tmp / "out" / "palette" /
                  "codes.npz", "--mesh-resolution", 0)
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertTrue((tmp / "again" / "palette_0" / "views.png").is_file())
    np.savez(tmp / "wrong.npz", z_shape=np.zeros((1, 3)),
             z_app=np.zeros((1, 3)), z_bg_shape=np.zeros((1, 3)),
             z_bg_app=np.zeros((1, 3)))
    result = _cli("export-mesh", "--workdir", self.workdir, "--out",
                  tmp / "x", "--codes", tmp / "wrong.npz")
    self.assertEqual(result.returncode, 1)
    self.assertEqual(len(result.stderr.strip().splitlines()), 1,
                     result.stderr)
    self.assertIn("do not fit this generator", result.stderr)

  def test_export_mesh_writes_a_closed_coloured_mesh(self):
    config, networks, _ = workdir.restore(self.workdir)
    latents = generator.sample_latents(jax.random.key(5), 1, config.field)
    grid = mesh_lib.density_grid(networks.g_graphdef, networks.g_params,
                                 latents, 24)
    # An untrained field has no meaningful surface density: cut at its
    # median so that a surface exists.
    level = float(np.median(grid))
    out = pathlib.Path(self.create_tempdir().full_path)
    summary = commands.export_mesh(self.workdir, out, seed=5,
                                   mesh_resolution=24, mesh_level=level)
    files = summary["faces"]["seed5_0"]["files"]
    mesh = trimesh.load(files["mesh_ply"], process=False)
    self.assertTrue(mesh.is_watertight)
    self.assertEqual(mesh.visual.vertex_colors.shape, (len(mesh.vertices), 4))
    half = rays_lib.box_half_size(config.render)
    self.assertLessEqual(float(np.abs(mesh.vertices).max()),
                         half * (1 + 2 / 23) + 1e-6)
    obj = trimesh.load(files["mesh_obj"], process=False)
    self.assertEqual(len(obj.faces), len(mesh.faces))

  def test_plain_giraffe_run_cannot_reconstruct(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    folder = testing_utils.write_image_folder(tmp / "train", num_images=8)
    config = testing_utils.folder_config(folder, num_steps=1)
    train.train_and_evaluate(config, tmp / "run")
    env = testing_utils.subprocess_env()
    result = subprocess.run(
        [sys.executable, "-m", "jaxface.main", "reconstruct",
         str(folder / "000.png"), "--workdir", str(tmp / "run"), "--out",
         str(tmp / "out")], capture_output=True, text=True, timeout=300,
        env=env, cwd=testing_utils.REPO)
    self.assertEqual(result.returncode, 1)
    self.assertEqual(len(result.stderr.strip().splitlines()), 1,
                     result.stderr)
    self.assertIn("without the identity branch", result.stderr)


if __name__ == "__main__":
  absltest.main()
