"""Tests of held-out evaluation: an oracle for every metric, the command, the
training-time hook and the errors.

The oracles stand in for Q (the true pose of the input view) or for the
generator (the true image, depth and head of the camera it is asked to
render, or the input photo at every camera); they find the ground truth
from the raw test splits on their own, so that a mix-up of views inside
``evaluate`` cannot go unnoticed.
"""

import contextlib
import io
import json
import math
import os
import pathlib
import shutil
import tempfile
from unittest import mock

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from PIL import Image

from jaxface import commands
from jaxface import errors
from jaxface import evaluate
from jaxface import export
from jaxface import generator
from jaxface import metrics
from jaxface import reconstruct
from jaxface import structs
from jaxface import summary as summary_lib
from jaxface import train
from jaxface import train_state as train_state_lib
from jaxface.data import held_out as held_out_lib
from jaxface.data import synthetic_faces
from tests import testing_utils

# 4 train identities x 2 views: one batch of the tiny config; the test
# splits have 2 identities x 4 views (the builder's minimum for test
# identities).
_DATA = dict(train_identities=4, test_identities=2, views=2, size=32, seed=7)
_SETS = tuple(held_out_lib.SETS)


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
    cls.judge_dir = testing_utils.write_identity_encoder(root / "judge",
                                                         seed=5)
    cls.networks = train_state_lib.create_train_state(
        cls.config, testing_utils.tiny_identity_encoder()).networks()
    builder = synthetic_faces.load_builder(cls.data_dir)
    cls.examples = {}
    for name, split in held_out_lib.SETS.items():
      source = builder.as_data_source(split)
      cls.examples[name] = [source[i] for i in range(len(source))]

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def _input_examples(self, held_out_set="clean"):
    """The raw view-0 examples, lowest identity first."""
    return sorted((e for e in self.examples[held_out_set] if e["view"] == 0),
                  key=lambda e: e["identity"])

  def _fake_encode(self, yaw_offset=0.0, pitch_offset=0.0):
    """An encoder that knows the true pose of each input image."""
    inputs = self._input_examples()
    config = self.config

    def encode(networks, images, mirror=False):
      del networks, mirror
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

  def _fake_render(self, held_out_set, view_shift=0, depth_shift=0.0,
                   input_photo=False):
    """A generator that draws the true view at the camera it is given.

    Its depth and opacity are the truth's, pooled to the feature resolution
    as ``evaluate.downsample_depth`` says (block means; opacity is the
    share of head pixels). With ``view_shift``, it draws another view of
    the same identity (a mix-up the metrics must notice); with
    ``depth_shift``, its depth lies that much further; with
    ``input_photo``, it draws the input view at every camera.
    """
    by_key = {(e["identity"], e["view"]): e
              for e in self.examples[held_out_set]}
    num_views = 1 + max(v for _, v in by_key)
    keys = sorted(by_key)
    yaws = np.asarray([by_key[k]["pose"]["yaw"] for k in keys], np.float32)
    pitches = np.asarray([by_key[k]["pose"]["pitch"] for k in keys],
                         np.float32)
    shown = [by_key[(i, (v + view_shift) % num_views)] for i, v in keys]
    images = np.stack([by_key[(i, 0)]["image"] if input_photo else
                       e["image"] for e, (i, _) in zip(shown, keys)])
    images = images.astype(np.float32) / 255
    size = self.config.render.feature_size
    k = self.config.data.image_size // size
    pool = lambda a: a.reshape(len(keys), size, k, size, k).mean(axis=(2, 4))
    depth = pool(np.stack([e["depth"] for e in shown])) + depth_shift
    opacity = pool(np.stack([e["mask"] for e in shown]).astype(np.float32))

    def render(g_graphdef, g_params, latents, camera):
      del g_graphdef, g_params, latents
      # The example whose camera this is: yaw and pitch tell them apart.
      distance = (jnp.abs(camera.yaw[:, None] - yaws)
                  + jnp.abs(camera.pitch[:, None] - pitches))
      index = jnp.argmin(distance, axis=1)
      as_array = lambda a: jnp.asarray(a, jnp.float32)[index]
      return structs.GeneratorOutput(
          images=as_array(images), features=None, depth=as_array(depth),
          opacity=as_array(opacity), surface_depth=as_array(depth))

    return render

  def _evaluate(self, render=None, held_out_set="clean", **kwargs):
    patch = (mock.patch.object(evaluate, "render", render) if render
             else contextlib.nullcontext())
    with patch:
      results = evaluate.evaluate(self.config, self.networks,
                                  sets=(held_out_set,), **kwargs)
    prefix = f"{held_out_set}/"
    return {k[len(prefix):]: v for k, v in results.items()
            if k.startswith(prefix)}

  def test_pose_oracle(self):
    with mock.patch.object(reconstruct, "encode", self._fake_encode()):
      results = self._evaluate()
    for name in ("pose_error_deg", "yaw_error_deg", "pitch_error_deg"):
      self.assertAlmostEqual(results[name], 0.0, places=4, msg=name)
    # A known offset gives the known error: the angle between the two
    # viewing directions, computed here from spherical trigonometry.
    d_yaw, d_pitch = 0.2, 0.05
    with mock.patch.object(reconstruct, "encode",
                           self._fake_encode(d_yaw, d_pitch)):
      results = self._evaluate()
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

  def test_true_views_score_perfectly_and_beat_the_baselines(self):
    judge = testing_utils.tiny_identity_encoder(seed=5)[:2]
    for held_out_set in _SETS:
      results = self._evaluate(self._fake_render(held_out_set), held_out_set,
                               judge=judge)
      self.assertEqual(results["num_identities"], 2)
      self.assertEqual(results["num_novel_views"], 3)
      for suffix in ("novel", "input"):
        for name in ("psnr_head", "psnr_full"):
          self.assertEqual(results[f"{name}_{suffix}"], math.inf, name)
        for name in ("ssim_head", "ssim_full"):
          self.assertAlmostEqual(results[f"{name}_{suffix}"], 1.0, places=5)
        for name in ("abs_rel_head", "abs_rel_head_offset", "abs_rel",
                     "scale_invariant"):
          self.assertLess(results[f"depth_{name}_{suffix}"], 1e-5, name)
        for name in ("opacity_head", "opacity_head_interior",
                     "opacity_head_rim"):
          self.assertAlmostEqual(results[f"{name}_{suffix}"], 1.0, msg=name)
        self.assertAlmostEqual(results[f"opacity_background_{suffix}"], 0.0)
      # The baselines on the same pairs are finite, so the model gains.
      for baseline in ("copy", "mean"):
        self.assertTrue(math.isfinite(results[f"psnr_head_{baseline}_novel"]))
        self.assertLess(results[f"ssim_head_{baseline}_novel"], 0.999)
        self.assertEqual(results[f"psnr_head_novel_gain_{baseline}"],
                         math.inf)
      # Judged on the true views, the renders reach the judge's ceiling.
      self.assertAlmostEqual(results["judge_cosine_novel"],
                             results["judge_cosine_gt_novel"], places=5)
      self.assertAlmostEqual(results["judge_cosine_novel_of_ceiling"], 1.0,
                             places=5)
      self.assertAlmostEqual(results["identity_cosine_input"], 1.0, places=5)
    # The oracle is not vacuous: drawing the wrong view is caught.
    mixed = self._evaluate(self._fake_render("clean", view_shift=1))
    self.assertLess(mixed["psnr_head_novel"], 40.0)
    self.assertLess(mixed["psnr_head_input"], 40.0)
    self.assertGreater(mixed["depth_abs_rel_head_novel"], 1e-3)

  def test_views_figure_puts_the_model_under_the_truth(self):
    # With the oracle render, every model row repeats the truth row above
    # it; with the wrong view drawn, it does not.
    size = self.config.data.image_size
    pad = 2

    def rows(render):
      with mock.patch.object(evaluate, "render", render):
        _, figures = evaluate.evaluate(self.config, self.networks,
                                       sets=("clean",), with_views=True)
      figure = figures["clean"]
      step = size + pad
      return [figure[pad + r * step:pad + r * step + size]
              for r in range(figure.shape[0] // step)]

    oracle = rows(self._fake_render("clean"))
    self.assertLen(oracle, 2 * 2)  # two identities, truth and model each
    inputs = [e["image"] for e in self._input_examples("clean")]
    for identity in range(2):
      truth, model = oracle[2 * identity], oracle[2 * identity + 1]
      np.testing.assert_array_equal(model, truth)
      # Column 0 is the input view itself.
      np.testing.assert_array_equal(truth[:, pad:pad + size],
                                    inputs[identity])
    mixed = rows(self._fake_render("clean", view_shift=1))
    self.assertFalse(np.array_equal(mixed[1], mixed[0]))

  def test_clean_views_share_the_input_light_and_background(self):
    # Independently of the metrics: in the clean set, a view's background
    # (the corner pixels) is its input view's; in the wild set it is not.
    corners = lambda e: e["image"][[0, 0, -1, -1], [0, -1, 0, -1]]
    for held_out_set, same in (("clean", True), ("wild", False)):
      inputs = {e["identity"]: e for e in self._input_examples(held_out_set)}
      agree = [np.array_equal(corners(e), corners(inputs[e["identity"]]))
               for e in self.examples[held_out_set]]
      self.assertEqual(all(agree), same, held_out_set)

  def test_a_shifted_depth_is_an_offset_not_a_shape_error(self):
    head = evaluate.head_size(self.config)
    results = self._evaluate(self._fake_render("clean", depth_shift=0.05))
    self.assertAlmostEqual(results["depth_abs_rel_head_novel"], 0.05 / head,
                           places=4)
    self.assertLess(results["depth_abs_rel_head_offset_novel"], 1e-5)

  def test_copying_the_input_is_the_copy_baseline(self):
    results = self._evaluate(self._fake_render("wild", input_photo=True),
                             "wild")
    for name in ("psnr_head", "ssim_head", "psnr_full", "ssim_full"):
      self.assertAlmostEqual(results[f"{name}_novel"],
                             results[f"{name}_copy_novel"], places=5)
    self.assertAlmostEqual(results["psnr_head_novel_gain_copy"], 0.0,
                           places=5)
    # And the copy baseline is what it says: the input against each view.
    by_identity = {e["identity"]: e for e in self._input_examples("wild")}
    expected = []
    for e in self.examples["wild"]:
      if e["view"] != 0:
        expected.append(float(metrics.psnr_masked(
            by_identity[e["identity"]]["image"][None].astype(np.float32),
            e["image"][None].astype(np.float32), e["mask"][None].astype(bool),
            255.0)[0]))
    self.assertAlmostEqual(results["psnr_head_copy_novel"],
                           np.mean(expected), places=4)

  def test_tuning_the_generator_fits_each_input_view_better(self):
    config = self.config.copy_and_resolve_references()
    config.refine.update(tune_lr=1e-3, tune_renderer=True)
    scores, meshed = {}, {}
    for tune in (False, True):
      meshed[tune] = []

      def face_mesh(graphdef, g_params, *args, tune=tune, **kwargs):
        meshed[tune].append(g_params)
        raise ValueError("no surface")  # the untrained field has none

      with mock.patch.object(export, "face_mesh", face_mesh):
        results = evaluate.evaluate(config, self.networks, sets=("clean",),
                                    refine_steps=4, tune_generator=tune,
                                    mesh_resolution=16)
      scores[tune] = {k[len("clean/"):]: v for k, v in results.items()}
    # The same refined codes, then a generator tuned on each input view.
    self.assertEqual(scores[True]["tune_generator"], 1)
    self.assertEqual(scores[False]["tune_generator"], 0)
    self.assertEqual(scores[True]["num_identities"], 2)
    # Tuning moves the generator, not the refined pose.
    self.assertEqual(scores[True]["pose_error_deg"],
                     scores[False]["pose_error_deg"])
    self.assertGreater(scores[True]["psnr_head_input"],
                       scores[False]["psnr_head_input"] + 0.1)
    # The meshes are each identity's own tuned generator's.
    largest_change = lambda a, b: max(
        float(jnp.max(jnp.abs(x - y)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    self.assertLen(meshed[True], 2)
    self.assertTrue(all(p is self.networks.g_params for p in meshed[False]))
    for tuned in meshed[True]:
      self.assertGreater(largest_change(tuned, self.networks.g_params), 0)
    self.assertGreater(largest_change(*meshed[True]), 0)
    with self.assertRaisesRegex(errors.ConfigError, "refine steps"):
      evaluate.evaluate(config, self.networks, tune_generator=True)

  def test_every_stage_in_one_pass_scores_what_each_alone_scores(self):
    config = self.config.copy_and_resolve_references()
    config.refine.update(tune_lr=1e-3, tune_renderer=True)
    together = evaluate.evaluate_stages(
        config, self.networks, stages=evaluate.STAGES, sets=("clean",),
        refine_steps=2)
    for stage, (steps, tune) in zip(evaluate.STAGES,
                                    ((0, False), (2, False), (2, True))):
      alone = evaluate.evaluate(config, self.networks, sets=("clean",),
                                refine_steps=steps, tune_generator=tune)
      np.testing.assert_equal(together[stage][0], alone, err_msg=stage)
      self.assertEqual(alone["clean/refine_steps"], steps)
    # Each stage starts from the one before and changes the input view.
    fits = [together[stage][0]["clean/psnr_head_input"]
            for stage in evaluate.STAGES]
    self.assertNotEqual(fits[0], fits[1])
    self.assertNotEqual(fits[1], fits[2])
    with self.assertRaisesRegex(errors.ConfigError, "unknown stages"):
      evaluate.evaluate_stages(config, self.networks, stages=("pivot",))
    with self.assertRaisesRegex(errors.ConfigError, "refine steps"):
      evaluate.evaluate_stages(config, self.networks, stages=("refine",))

  def test_the_sets_share_one_reconstruction_of_each_input_view(self):
    config = self.config.copy_and_resolve_references()
    config.refine.update(tune_lr=1e-3, tune_renderer=True)
    tune = reconstruct.tune
    calls = []

    def counted_tune(*args, **kwargs):
      calls.append(1)
      return tune(*args, **kwargs)

    with mock.patch.object(reconstruct, "tune", counted_tune):
      both = evaluate.evaluate(config, self.networks, refine_steps=2,
                               tune_generator=True)
    self.assertLen(calls, 2)  # two identities, each tuned once for two sets
    wild = evaluate.evaluate(config, self.networks, sets=("wild",),
                             refine_steps=2, tune_generator=True)
    wild_of = lambda results: {k: v for k, v in results.items()
                               if k.startswith("wild/")}
    self.assertNotEmpty(wild_of(wild))
    np.testing.assert_equal(wild_of(both), wild_of(wild))

  def test_yaw_buckets_partition_the_novel_views(self):
    results = self._evaluate(self._fake_render("wild", input_photo=True),
                             "wild")
    tags = ["yaw0-15", "yaw15-30", "yaw30+"]
    counts = [results[f"num_novel_{tag}"] for tag in tags]
    self.assertEqual(sum(counts), 2 * 3)
    weighted = sum(c * results[f"psnr_head_copy_novel_{tag}"]
                   for c, tag in zip(counts, tags) if c)
    self.assertAlmostEqual(weighted / 6, results["psnr_head_copy_novel"],
                           places=4)

  def test_mesh_of_the_true_head_scores_perfectly(self):
    held_out = held_out_lib.load(self.config.data, 1, "clean")

    def true_mesh(g_graphdef, g_params, latents, config, resolution):
      del g_graphdef, g_params, latents, config
      vertices, faces = evaluate.true_head_mesh(
          held_out.shape_params[0], held_out.expression[0, 0], resolution)
      return vertices, faces, 0.0

    estimate = structs.Estimate(
        generator.sample_latents(jax.random.key(0), 1, self.config.field),
        held_out.yaw[:, 0], held_out.pitch[:, 0])
    with mock.patch.object(export, "face_mesh", true_mesh):
      scores = evaluate.mesh_metrics(self.networks, self.config, estimate,
                                     held_out, resolution=48)
    voxel = 2 * 0.23 / 47 / evaluate.head_size(self.config)
    self.assertLess(scores["mesh_depth_abs_rel_head"][0], voxel)
    # Silhouette pixels the voxelised surface misses (a voxel is 2/3 of a
    # pixel here) keep coverage a little under 1.
    self.assertGreater(scores["mesh_coverage"][0], 0.95)
    self.assertEqual(scores["mesh_up_down_area"][0],
                     scores["mesh_up_down_area_gt"][0])
    # A head's surface faces up or down far less than a stack of plates.
    self.assertLess(scores["mesh_up_down_area_gt"][0], 0.35)

  def test_held_out_batch_matches_evaluate(self):
    held_out = held_out_lib.load(self.config.data, 1)
    self.assertEqual(held_out.images.shape, (1, 4, 32, 32, 3))
    self.assertEqual(held_out.identity.tolist(),
                     [synthetic_faces.TEST_ID_OFFSET])
    np.testing.assert_array_equal(held_out.images[0, 0],
                                  self._input_examples()[0]["image"])
    # Both test identities: evaluate's batch then has the shape the other
    # tests compile.
    batch = evaluate.load_held_out_batch(self.config, 2)
    fast = evaluate.held_out_metrics(self.networks, self.config, batch)
    full = evaluate.evaluate(self.config, self.networks)
    self.assertEqual(set(fast), set(full) - {"identity_consistency_random"})
    for name, value in fast.items():
      np.testing.assert_allclose(value, full[name], rtol=1e-4, atol=1e-5,
                                 err_msg=name)

  def test_train_logs_then_evaluate_and_reconstruct_from_elsewhere(self):
    # A run trained with a relative data path, then evaluated and
    # reconstructed from another directory: config.json holds the absolute
    # path, so its data is found.
    root = pathlib.Path(self.create_tempdir().full_path)
    shutil.copytree(self.data_dir, root / "data")
    workdir = root / "run"
    config = self.config.copy_and_resolve_references()
    config.data.data_dir = "data"
    config.identity.encoder_dir = str(self.e2_dir)
    config.identity.judge_dir = str(self.judge_dir)
    config.train.num_steps = 1
    config.log.update(eval_every_steps=1, eval_num_identities=1)
    photo = root / "face.png"
    Image.fromarray(self._input_examples()[0]["image"]).save(photo)
    (root / "elsewhere").mkdir()
    here = os.getcwd()
    stdout = io.StringIO()
    try:
      os.chdir(root)
      train.train_and_evaluate(config, "run")
      os.chdir(root / "elsewhere")
      with contextlib.redirect_stdout(stdout):
        result = commands.evaluate(workdir, refine_steps=1,
                                   mesh_resolution=24)
      summary = commands.reconstruct([photo], workdir, "out",
                                     mesh_resolution=0)
    finally:
      os.chdir(here)
    stored = json.loads((workdir / "config.json").read_text())
    self.assertEqual(stored["data"]["data_dir"], str(root / "data"))
    self.assertEqual(summary["failed"], [])
    self.assertTrue((root / "elsewhere" / "out" / "face" / "pose.json")
                    .is_file())

    # Training logged the held-out metrics at its eval step.
    scalars = summary_lib.read_scalars(workdir / "tb")
    for name in ("clean/psnr_head_novel", "wild/psnr_head_copy_novel",
                 "clean/judge_cosine_gt_novel", "wild/opacity_head_novel"):
      self.assertEqual([s for s, _ in scalars.get(f"eval/{name}", [])], [1],
                       name)
    # The command wrote them all to JSON and printed them as a table, named
    # by step and refinement so that they do not overwrite the feed-forward
    # scores of the same step.
    path = workdir / "eval" / "metrics_step1_refine1.json"
    self.assertEqual(result["path"], str(path))
    self.assertEqual(result["step"], 1)
    written = json.loads(path.read_text())
    self.assertEqual(written["clean/refine_steps"], 1)
    self.assertEqual(written["wild/num_identities"], 2)
    for name in ("clean/psnr_head_novel", "wild/psnr_full_mean_novel",
                 "clean/judge_cosine_novel", "wild/depth_abs_rel_head_input",
                 "clean/mesh_coverage", "clean/mesh_up_down_area_gt",
                 "identity_consistency_random"):
      self.assertTrue(math.isfinite(written[name]), name)
      self.assertEqual(written[name], result[name], name)
    self.assertIn(metrics.format_table(
        {k: v for k, v in result.items()
         if k not in ("step", "path", "views")}),
                  stdout.getvalue())
    views = {name: path.with_name(f"metrics_step1_refine1_views_{name}.png")
             for name in ("clean", "wild")}
    self.assertEqual(result["views"], {k: str(v) for k, v in views.items()})
    # The JSON and one picture per set, and no temporary files.
    self.assertCountEqual(path.parent.iterdir(), [path, *views.values()])
    picture = iio.imread(views["clean"])
    self.assertEqual(picture.ndim, 3)
    self.assertGreater(picture.shape[0], 2 * 2 * config.data.image_size)
    # --every-stage: Q's estimate and the refined codes in one pass, each
    # in the file its own evaluation writes.
    with contextlib.redirect_stdout(io.StringIO()):
      both = commands.evaluate(workdir, refine_steps=1, every_stage=True,
                               mesh_resolution=0, sets=("clean",))
    self.assertEqual(both["path"], str(path))
    encoded = json.loads((path.parent / "metrics_step1.json").read_text())
    self.assertEqual(encoded["clean/refine_steps"], 0)
    self.assertEqual(json.loads(path.read_text())["clean/refine_steps"], 1)
    with self.assertRaisesRegex(errors.ConfigError, "every-stage"):
      commands.evaluate(workdir, root / "x.json", every_stage=True)
    # --test-identities: the held-out sets of the same data built with more
    # test identities, the run's own first, in files of their own.
    with self.assertRaisesRegex(errors.DataError, "--test-identities 3"):
      commands.evaluate(workdir, test_identities=3, mesh_resolution=0)
    synthetic_faces.build(root / "data", progress=False,
                          **{**_DATA, "test_identities": 3})
    with contextlib.redirect_stdout(io.StringIO()):
      more = commands.evaluate(workdir, test_identities=3,
                               mesh_resolution=0, sets=("clean",))
      own = commands.evaluate(workdir, test_identities=3, num_identities=2,
                              mesh_resolution=0, sets=("clean",))
    self.assertEqual(more["path"],
                     str(path.parent / "metrics_step1_ids3.json"))
    self.assertEqual(more["clean/num_identities"], 3)
    for name in ("clean/psnr_head_novel", "clean/psnr_head_copy_novel",
                 "clean/psnr_full_mean_novel"):
      self.assertEqual(own[name], encoded[name], name)
    self.assertNotEqual(more["clean/psnr_head_novel"],
                        encoded["clean/psnr_head_novel"])
    self.assertEqual(json.loads((path.parent / "metrics_step1.json")
                                .read_text())["clean/num_identities"], 2)
    with self.assertRaisesRegex(errors.ConfigError, "at least 1"):
      commands.evaluate(workdir, test_identities=0)

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


class InteriorBlocksTest(absltest.TestCase):

  def test_matches_a_loop_over_the_four_neighbours(self):
    mask = np.random.default_rng(0).random((3, 9, 7)) < 0.7
    want = np.zeros_like(mask)
    for b, i, j in zip(*np.nonzero(mask)):
      neighbours = ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1))
      want[b, i, j] = all(0 <= y < 9 and 0 <= x < 7 and mask[b, y, x]
                          for y, x in neighbours)
    got = np.asarray(evaluate.interior_blocks(jnp.asarray(mask)))
    np.testing.assert_array_equal(got, want)
    self.assertTrue(want.any() and (mask & ~want).any())

  def test_a_square_head_has_a_one_block_rim(self):
    mask = np.zeros((1, 9, 9), bool)
    mask[0, 2:7, 2:7] = True
    interior = np.asarray(evaluate.interior_blocks(jnp.asarray(mask)))
    np.testing.assert_array_equal(np.nonzero(interior[0])[0].tolist(),
                                  [3, 3, 3, 4, 4, 4, 5, 5, 5])
    self.assertEqual(int(np.sum(mask & ~interior)), 16)


if __name__ == "__main__":
  absltest.main()
