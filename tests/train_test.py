"""End-to-end tests of the training loop: sharding, resume, faults."""

import logging
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from jaxface import checkpoint as checkpoint_lib
from jaxface import errors
from jaxface import preemption
from jaxface import sharding
from jaxface import train
from jaxface import train_state as train_state_lib
from jaxface import train_step as train_step_lib
from jaxface import workdir as workdir_lib
from jaxface.data import synthetic_faces
from tests import testing_utils

JAXFACE = [sys.executable, "-m", "jaxface.main"]


def _tree_allclose(a, b, atol):
  diffs = jax.tree.leaves(jax.tree.map(
      lambda x, y: float(np.max(np.abs(np.asarray(x, np.float32)
                                       - np.asarray(y, np.float32)))),
      a, b))
  return max(diffs) <= atol, max(diffs)


def _run_cli(*args, timeout=240):
  env = testing_utils.subprocess_env()  # one device, like a user's machine
  return subprocess.run(JAXFACE + list(args), capture_output=True, text=True,
                        timeout=timeout, cwd=testing_utils.REPO, env=env)


def _finished_steps(ckpt_dir):
  """Steps of complete checkpoints (orbax renames temp dirs when done)."""
  if not ckpt_dir.is_dir():
    return []
  return sorted(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit())


class ShardedStepTest(absltest.TestCase):

  def test_jitted_initial_state_equals_the_eager_one(self):
    # create_sharded_state initialises in one jitted program; same values.
    config = testing_utils.branch_config(1.0)
    e2 = testing_utils.tiny_identity_encoder()
    eager = train_state_lib.create_train_state(config, e2)
    state, _ = train.create_sharded_state(config, sharding.make_mesh(config),
                                          e2)
    # (The static fields hold new optax closures, so compare the arrays.)
    leaves, eager_leaves = jax.tree.leaves(state), jax.tree.leaves(eager)
    self.assertLen(leaves, len(eager_leaves))
    for a, b in zip(leaves, eager_leaves):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  def test_saving_a_replicated_state_compiles_no_slices(self):
    # Orbax would write each replicated array as 8 slices, each slice an
    # op-by-op program compiled per shape; checkpoint.MIN_REPLICA_SLICE_BYTES
    # keeps small arrays whole.
    config = testing_utils.load_config("tiny")
    state, _ = train.create_sharded_state(config, sharding.make_mesh(config))
    self.assertEqual(len(jax.tree.leaves(state.g_params)[0].devices()), 8)
    compiled = []
    handler = logging.Handler()
    handler.emit = lambda record: compiled.append(record.getMessage())
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    ckpt = checkpoint_lib.Checkpointer(self.create_tempdir().full_path,
                                       config.ckpt)
    try:
      with jax.log_compiles(True):
        ckpt.save(1, state, force=True)
        ckpt.wait_until_finished()
        # A control, so that a changed log message cannot pass the test:
        # one eager slice of a shape nothing else uses.
        jax.lax.slice_in_dim(jnp.zeros(7919), 1, 3)
    finally:
      logger.removeHandler(handler)
    slices = sum("compilation of jit(slice)" in m for m in compiled)
    self.assertEqual(slices, 1, f"{slices - 1} slice programs compiled")
    restored = ckpt.restore(state)
    for a, b in zip(jax.tree.leaves(restored.arrays()),
                    jax.tree.leaves(state.arrays())):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  def test_rates_and_loss_weights_do_not_change_the_program(self):
    # They are arguments of the step, so that runs of a grid share one
    # compiled program (and the compilation cache's copy of it).
    texts = []
    for g_lr, r1_weight in ((1e-3, 1.0), (2e-4, 10.0)):
      config = testing_utils.load_config("tiny")
      config.optim.g_lr, config.loss.r1_weight = g_lr, r1_weight
      config.mesh.data = 1
      mesh = sharding.make_mesh(config)
      state, state_sh = train.create_sharded_state(config, mesh)
      size = config.data.image_size
      batch = sharding.global_batch(
          {"image": np.zeros((2, size, size, 3), np.uint8)}, mesh)
      step = train.make_step_fn(config, state_sh, mesh)
      texts.append(step.lower(state, batch, jax.random.key(0),
                              train_step_lib.config_hparams(config)).as_text())
    self.assertEqual(texts[0], texts[1])

  def test_bfloat16_step_stays_within_tolerance_of_float32(self):
    """Same state and batch: losses within 1%, gradient norms within 5%.

    Measured on this config: losses agree to 0.03%, gradient norms to 0.5%.
    """
    config = testing_utils.branch_config(1.0)
    e2 = testing_utils.tiny_identity_encoder()
    size = config.data.image_size
    batch = {"image": np.random.RandomState(0).randint(
        0, 256, (8, size, size, 3)).astype(np.uint8)}
    results = {}
    config.mesh.data = 1
    mesh = sharding.make_mesh(config)
    for dtype in ("float32", "bfloat16"):
      config.train.compute_dtype = dtype
      # The float32 step is test_eight_devices_match_one's one-device
      # program (same config and shapes): compiled once for both tests.
      state, state_sh = train.create_sharded_state(config, mesh, e2)
      step = train.make_step_fn(config, state_sh, mesh)
      new_state, metrics = step(state, sharding.global_batch(batch, mesh),
                                jax.random.key(1),
                                train_step_lib.config_hparams(config))
      results[dtype] = jax.device_get(metrics)
      # Parameters and optimiser states stay float32.
      leaves = jax.tree.leaves((new_state.g_params, new_state.d_params,
                                new_state.g_opt_state))
      self.assertEqual({x.dtype for x in leaves
                        if jnp.issubdtype(x.dtype, jnp.floating)},
                       {np.dtype(np.float32)})
    f32, bf16 = results["float32"], results["bfloat16"]
    for name in ("g_loss", "d_loss", "g_gan", "d_gan", "identity", "l1"):
      self.assertLess(abs(bf16[name] - f32[name]), 0.01 * abs(f32[name]),
                      name)
    for name in ("g_grad_norm", "d_grad_norm"):
      self.assertLess(abs(bf16[name] - f32[name]), 0.05 * f32[name], name)
    # ... and it did compute in bfloat16.
    self.assertNotEqual(float(bf16["g_grad_norm"]), float(f32["g_grad_norm"]))

  def test_eight_devices_match_one(self):
    # The full step: GAN, R1 and every identity-branch term.
    self.assertGreaterEqual(jax.device_count(), 8)
    config = testing_utils.branch_config(1.0)
    e2 = testing_utils.tiny_identity_encoder()
    size = config.data.image_size
    batch = {"image": np.random.RandomState(0).randint(
        0, 256, (8, size, size, 3)).astype(np.uint8)}
    rng = jax.random.key(1)
    results = {}
    for n in (1, 8):
      config.mesh.data = n
      mesh = sharding.make_mesh(config)
      state, state_sh = train.create_sharded_state(config, mesh, e2)
      step = train.make_step_fn(config, state_sh, mesh)
      for _ in range(2):
        state, metrics = step(state, sharding.global_batch(batch, mesh), rng,
                              train_step_lib.config_hparams(config))
      results[n] = (jax.device_get(state.g_params),
                    jax.device_get(state.d_params),
                    jax.device_get(state.branch_params),
                    jax.device_get(metrics))
      if n == 8:
        leaf = jax.tree.leaves(state.g_params)[0]
        self.assertLen(leaf.sharding.device_set, 8)
    self.assertIn("identity", results[1][3])
    for i, name in enumerate(["g_params", "d_params", "branch_params", "metrics"]):
      ok, diff = _tree_allclose(results[1][i], results[8][i], atol=1e-4)
      self.assertTrue(ok, f"{name} differ by {diff}")
    # The step did train: parameters moved away from their initial values.
    init = train_state_lib.create_train_state(config, e2)
    _, moved = _tree_allclose(init.g_params, results[1][0], atol=0)
    self.assertGreater(moved, 1e-5)


class TrainLoopTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(self.create_tempdir().full_path)
    self.folder = testing_utils.write_image_folder(self.tmp / "images")

  def test_resume_matches_uninterrupted_run(self):
    config = testing_utils.folder_config(self.folder, num_steps=2)
    train.train_and_evaluate(config, self.tmp / "resumed")
    config.train.num_steps = 4
    resumed = train.train_and_evaluate(config, self.tmp / "resumed")
    self.assertEqual(int(resumed.step), 4)
    ckpt = checkpoint_lib.Checkpointer(self.tmp / "resumed" / "ckpt",
                                       config.ckpt)
    self.assertEqual(ckpt.latest_step(), 4)
    straight = train.train_and_evaluate(config, self.tmp / "straight")
    ok, diff = _tree_allclose(resumed.g_params, straight.g_params, 1e-6)
    self.assertTrue(ok, f"resumed run differs by {diff}")
    for name in ("multiview_grid.png", "multiview_depth.png", "orbit.gif"):
      self.assertTrue((self.tmp / "resumed" / "samples" / name).is_file())

  def test_triplane_field_trains_and_resumes(self):
    # The demo's field, through the loop: a step, a checkpoint, a resume.
    config = testing_utils.folder_config(self.folder, num_steps=1)
    config.field.update(kind="triplane", plane_size=8, plane_channels=4,
                        plane_width=8)
    init = train_state_lib.create_train_state(config)
    self.assertIn("plane_convs", init.g_params["field"])
    train.train_and_evaluate(config, self.tmp / "tri")
    config.train.num_steps = 2
    state = train.train_and_evaluate(config, self.tmp / "tri")
    self.assertEqual(int(state.step), 2)
    _, moved = _tree_allclose(init.g_params, state.g_params, atol=0)
    self.assertGreater(moved, 1e-5)
    self.assertTrue(all(bool(jnp.all(jnp.isfinite(x)))
                        for x in jax.tree.leaves(state.g_params)))

  def test_branch_every_k_steps_trains_q_on_those_steps_only(self):
    config = testing_utils.folder_config(self.folder, num_steps=1)
    config.loss.update(l1_weight=1.0, pose_regression_weight=1.0)
    config.train.branch_every = 2
    init = train_state_lib.create_train_state(config)
    first = train.train_and_evaluate(config, self.tmp / "lazy")
    # Step 1 is a plain GAN step: G moves, Q stays as it was, bit for bit.
    _, g_moved = _tree_allclose(init.g_params, first.g_params, atol=0)
    self.assertGreater(g_moved, 1e-5)
    _, q_moved = _tree_allclose(init.branch_params, first.branch_params, 0)
    self.assertEqual(q_moved, 0.0)
    config.train.num_steps = 2  # resumed: step 2 runs the branch
    second = train.train_and_evaluate(config, self.tmp / "lazy")
    _, q_moved = _tree_allclose(first.branch_params, second.branch_params, 0)
    self.assertGreater(q_moved, 1e-5)
    config.train.branch_every = 0
    with self.assertRaisesRegex(errors.ConfigError, "train.branch_every 0"):
      train.train_and_evaluate(config, self.tmp / "lazy0")

  def test_q_ema_trails_q_is_what_inference_reads_and_resumes(self):
    config = testing_utils.folder_config(self.folder, num_steps=2)
    config.loss.update(l1_weight=1.0, pose_regression_weight=1.0)
    self.assertIsNone(train_state_lib.create_train_state(config).q_ema_params)
    config.optim.q_ema_decay = 0.5
    init = train_state_lib.create_train_state(config)
    _, diff = _tree_allclose(init.q_ema_params, init.branch_params["q"], 0)
    self.assertEqual(diff, 0.0)
    workdir = self.tmp / "q_ema"
    first = train.train_and_evaluate(config, workdir)
    # It trails Q: moved off Q's initial weights, not onto Q's last ones.
    _, moved = _tree_allclose(init.q_ema_params, first.q_ema_params, 0)
    self.assertGreater(moved, 1e-6)
    _, behind = _tree_allclose(first.branch_params["q"], first.q_ema_params, 0)
    self.assertGreater(behind, 1e-6)
    config.train.num_steps = 3  # resumed, so the EMA is checkpointed too
    second = train.train_and_evaluate(config, workdir)
    expected = jax.tree.map(lambda e, q: 0.5 * e + 0.5 * q,
                            first.q_ema_params, second.branch_params["q"])
    ok, diff = _tree_allclose(second.q_ema_params, expected, 1e-6)
    self.assertTrue(ok, f"EMA off by {diff}")
    # Inference, in process and from the checkpoint, reads the EMA.
    self.assertIs(second.networks().q_params, second.q_ema_params)
    _, networks, _ = workdir_lib.restore(workdir)
    _, diff = _tree_allclose(networks.q_params, second.q_ema_params, 0)
    self.assertEqual(diff, 0.0)

  def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(self):
    config = testing_utils.folder_config(self.folder, num_steps=2)
    train.train_and_evaluate(config, self.tmp / "nan")
    # An infinite learning rate makes G's weights non-finite in step 3.
    config.train.num_steps = 5
    config.optim.g_lr = float("inf")
    with self.assertRaisesRegex(
        errors.NonFiniteLossError,
        r"non-finite loss or weights at step 3 .*checkpoint is step 2"):
      train.train_and_evaluate(config, self.tmp / "nan")
    ckpt = checkpoint_lib.Checkpointer(self.tmp / "nan" / "ckpt", config.ckpt)
    self.assertEqual(ckpt.latest_step(), 2)
    state = ckpt.restore(train_state_lib.create_train_state(config))
    self.assertTrue(all(bool(jnp.all(jnp.isfinite(x)))
                        for x in jax.tree.leaves(state.arrays())))

  def test_restore_onto_another_device_count(self):
    config = testing_utils.folder_config(self.folder, num_steps=1)
    config.mesh.data = 8
    trained = train.train_and_evaluate(config, self.tmp / "eight")
    config.mesh.data = 1
    mesh = sharding.make_mesh(config)
    state, _ = train.create_sharded_state(config, mesh)
    ckpt = checkpoint_lib.Checkpointer(self.tmp / "eight" / "ckpt",
                                       config.ckpt)
    restored = ckpt.restore(state)
    self.assertLen(jax.tree.leaves(restored.g_params)[0].sharding.device_set,
                   1)
    ok, diff = _tree_allclose(restored.g_params, trained.g_params, 0.0)
    self.assertTrue(ok, diff)


class SyntheticFacesTrainTest(absltest.TestCase):
  """The default data path: the built-in data set through grain."""

  def test_two_steps_then_resume(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    config = testing_utils.load_config("tiny")
    # 8 training images: one batch of the tiny config.
    config.data.update(data_dir=str(tmp / "data"), train_identities=4,
                       test_identities=2, views=2, image_size=32, seed=7)
    with self.assertRaisesRegex(errors.DataError, "jaxface make-data"):
      train.train_and_evaluate(config, tmp / "run")
    synthetic_faces.build(config.data.data_dir, train_identities=4,
                          test_identities=2, views=2, size=32, seed=7,
                          progress=False)
    config.train.num_steps = 2
    self.assertEqual(int(train.train_and_evaluate(config, tmp / "run").step),
                     2)
    config.train.num_steps = 3
    state = train.train_and_evaluate(config, tmp / "run")
    self.assertEqual(int(state.step), 3)
    ckpt = checkpoint_lib.Checkpointer(tmp / "run" / "ckpt", config.ckpt)
    self.assertEqual(ckpt.all_steps(), [1, 2, 3])


class CommandLineTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(self.create_tempdir().full_path)
    self.folder = testing_utils.write_image_folder(self.tmp / "images")
    self.data_flags = ["--config=configs/tiny.py",
                       "--config.data.name=image_folder",
                       f"--config.data.data_dir={self.folder}"]

  def _train_here(self, workdir, **ckpt):
    """What `jaxface train` with ``data_flags`` does, in this process.

    One device, as the command has; it saves a launch (some 10 s) where a
    test needs a trained workdir, not the command itself. (Not where a test
    compares numbers with a launched run: the two processes' programs round
    differently at 1e-8, and a GAN's steps amplify that.)
    """
    config = testing_utils.folder_config(self.folder)
    config.mesh.data = 1
    config.ckpt.update(ckpt)
    return train.train_and_evaluate(config, workdir)

  def assertOneLineError(self, result, pattern):
    self.assertNotEqual(result.returncode, 0)
    lines = [l for l in result.stderr.splitlines()
             if l.startswith("jaxface: error:")]
    self.assertLen(lines, 1, result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    self.assertRegex(lines[0], pattern)

  def test_unknown_config_key(self):
    result = _run_cli("train", "--config=configs/tiny.py",
                      "--config.train.bach_size=4", "--workdir",
                      str(self.tmp / "w"))
    self.assertOneLineError(result, "unknown config key.*bach_size")

  def test_missing_config_file(self):
    result = _run_cli("train", "--config=configs/nope.py", "--workdir",
                      str(self.tmp / "w"))
    self.assertOneLineError(result, "cannot load config configs/nope.py")

  def test_import_identity_bad_checkpoint(self):
    bad = self.tmp / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = _run_cli("import-identity", "--arch", "lightcnn29v2",
                      "--checkpoint", str(bad), "--out", str(self.tmp / "e2"))
    self.assertOneLineError(result, r"cannot import .*bad\.pt as "
                            r"lightcnn29v2: .*(corrupt|not a readable)")
    result = _run_cli("import-identity", "--arch", "iresnet50",
                      "--checkpoint", str(self.tmp / "none.pt"), "--out",
                      str(self.tmp / "e2"))
    self.assertOneLineError(result, "no checkpoint at")
    self.assertFalse((self.tmp / "e2").exists())

  def test_pretrain_identity_without_data(self):
    result = _run_cli("pretrain-identity",
                      "--config=configs/identity_synthetic.py",
                      f"--config.data.data_dir={self.tmp / 'none'}",
                      "--workdir", str(self.tmp / "w"))
    self.assertOneLineError(result, "not in .*generate them with: jaxface "
                            "make-data")

  def test_render_missing_and_empty_workdir(self):
    result = _run_cli("render", "--workdir", str(self.tmp / "missing"))
    self.assertOneLineError(result, "does not exist")
    (self.tmp / "empty").mkdir()
    result = _run_cli("render", "--workdir", str(self.tmp / "empty"))
    self.assertOneLineError(result, "not a training workdir")

  def test_train_mismatch_and_render_reproducible(self):
    workdir = str(self.tmp / "run")
    self._train_here(workdir)
    # Another architecture in the same workdir: named parameter, no damage.
    result = _run_cli("train", *self.data_flags, "--config.field.hidden=24",
                      "--workdir", workdir)
    self.assertOneLineError(
        result, r"different architecture: parameter g_params/field/\S+ has "
        r"shape \(\d+,( \d+)?\) in the checkpoint but \(\d+,( \d+)?\) in "
        r"the model")
    # Render twice: identical bytes.
    outputs = []
    for out in ("r1", "r2"):
      result = _run_cli("render", "--workdir", workdir, "--out",
                        str(self.tmp / out), "--num-faces", "2",
                        "--num-views", "3", "--seed", "7")
      self.assertEqual(result.returncode, 0, result.stderr)
      outputs.append(b"".join(
          (self.tmp / out / f"seed7_{name}").read_bytes()
          for name in ("grid.png", "depth.png", "orbit.gif")))
    self.assertEqual(outputs[0], outputs[1])

  def _start_train(self, flags, workdir):
    env = testing_utils.subprocess_env()
    return subprocess.Popen(
        JAXFACE + ["train", *flags, "--workdir", workdir],
        cwd=testing_utils.REPO, env=env, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

  def _wait_for_checkpoint(self, ckpt_dir, at_least):
    deadline = time.time() + 180
    while time.time() < deadline:
      steps = _finished_steps(ckpt_dir)
      if steps and max(steps) >= at_least:
        return
      time.sleep(0.05)
    self.fail(f"no checkpoint {at_least} in {ckpt_dir} after 180 s")

  def test_preempt_then_kill_then_resume_match_uninterrupted(self):
    """SIGTERM (preemption), then SIGKILL (no warning): resumed exactly."""
    flags = self.data_flags + ["--config.train.num_steps=60",
                               "--config.ckpt.every_steps=10",
                               "--config.ckpt.async_save=True"]
    interrupted = str(self.tmp / "interrupted")
    ckpt_dir = pathlib.Path(interrupted) / "ckpt"
    proc = self._start_train(flags, interrupted)
    self._wait_for_checkpoint(ckpt_dir, 10)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    self.assertEqual(proc.returncode, preemption.EXIT_CODE, stderr)
    self.assertNotIn("Traceback", stderr)
    match = re.search(r"preempted \(SIGTERM\): saved step (\d+)", stderr)
    self.assertIsNotNone(match, stderr)
    saved = int(match.group(1))
    self.assertBetween(saved, 10, 49)
    # The step it was in was finished and saved, off the 10-step interval.
    self.assertEqual(max(_finished_steps(ckpt_dir)), saved)

    # Restarted from there, then killed after its next checkpoint.
    proc = self._start_train(flags, interrupted)
    self._wait_for_checkpoint(ckpt_dir, saved + 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps = _finished_steps(ckpt_dir)
    self.assertBetween(max(steps), saved + 1, 59)
    # The dead run's lock file is still there; it does not block the resume.
    self.assertTrue((pathlib.Path(interrupted) / ".lock").is_file())
    result = _run_cli("train", *flags, "--workdir", interrupted)
    self.assertEqual(result.returncode, 0, result.stderr)

    straight = str(self.tmp / "straight")
    result = _run_cli("train", *flags, "--workdir", straight)
    self.assertEqual(result.returncode, 0, result.stderr)
    config = testing_utils.load_config("tiny")
    states = []
    for workdir in (interrupted, straight):
      ckpt = checkpoint_lib.Checkpointer(pathlib.Path(workdir) / "ckpt",
                                         config.ckpt, read_only=True)
      self.assertEqual(ckpt.latest_step(), 60)
      states.append(ckpt.restore(train_state_lib.create_train_state(config)))
    ok, diff = _tree_allclose(states[0].g_params, states[1].g_params, 1e-6)
    self.assertTrue(ok, f"the interrupted and resumed run differs by {diff}")

  def test_second_trainer_in_a_live_workdir_is_refused(self):
    workdir = self.tmp / "busy"
    with workdir_lib.exclusive(workdir, "train"):  # this process trains
      result = _run_cli("train", *self.data_flags, "--workdir", str(workdir))
    self.assertOneLineError(
        result, rf"busy is in use by a live train \(pid {os.getpid()}\)")
    self.assertFalse((workdir / "ckpt").exists())
    # Released: the same command now trains.
    result = _run_cli("train", *self.data_flags, "--config.train.num_steps=1",
                      "--workdir", str(workdir))
    self.assertEqual(result.returncode, 0, result.stderr)

  def test_unreadable_latest_checkpoint_falls_back_to_the_one_before(self):
    workdir = self.tmp / "run"
    flags = self.data_flags + ["--config.train.num_steps=2",
                               "--config.ckpt.every_steps=1"]
    self._train_here(workdir, every_steps=1)  # tiny: num_steps=2
    damaged = workdir / "ckpt" / "2"
    for path in damaged.rglob("*"):
      if path.is_file():
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = _run_cli("render", "--workdir", str(workdir), "--out",
                      str(self.tmp / "r"), "--num-faces", "1",
                      "--num-views", "2")
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    self.assertRegex(result.stderr, r"checkpoint \S+/ckpt/2 cannot be read")
    self.assertRegex(result.stderr, r"restored checkpoint step 1 ")
    self.assertTrue((self.tmp / "r" / "seed0_grid.png").is_file())
    # Training resumes from step 1, writes step 2 again, deletes nothing.
    sizes = sorted(p.stat().st_size for p in damaged.rglob("*")
                   if p.is_file())
    result = _run_cli("train", *flags, "--workdir", str(workdir))
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertRegex(result.stderr, r"moved the unreadable checkpoint to "
                     r"\S+ckpt_unreadable/2; resuming from step 1")
    kept = workdir / "ckpt_unreadable" / "2"
    self.assertEqual(sorted(p.stat().st_size for p in kept.rglob("*")
                            if p.is_file()), sizes)
    self.assertEqual(_finished_steps(workdir / "ckpt"), [1, 2])
    config = testing_utils.load_config("tiny")
    ckpt = checkpoint_lib.Checkpointer(workdir / "ckpt", config.ckpt,
                                       read_only=True)
    self.assertEqual(int(ckpt.restore(
        train_state_lib.create_train_state(config)).step), 2)


if __name__ == "__main__":
  absltest.main()
