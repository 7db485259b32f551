"""``jaxface sweep``: a grid trained as one vmapped step equals its runs."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
from absl.testing import absltest

from jaxface import checkpoint as checkpoint_lib
from jaxface import errors
from jaxface import sweep
from jaxface import train
from jaxface import train_state as train_state_lib
from jaxface import workdir as workdir_lib
from tests import testing_utils


def _max_diff(a, b) -> float:
  return max(jax.tree.leaves(jax.tree.map(
      lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))),
      a, b)))


def _member_state(workdir, index, config):
  directory = sweep.member_dir(workdir, index)
  ckpt = checkpoint_lib.Checkpointer(directory / "ckpt", config.ckpt,
                                     read_only=True)
  return ckpt.restore(train_state_lib.create_train_state(config))


class SweepTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(self.create_tempdir().full_path)
    self.folder = testing_utils.write_image_folder(self.tmp / "images")

  def _config(self, steps):
    config = testing_utils.folder_config(self.folder, num_steps=steps)
    config.mesh.data = 1
    return config

  def test_members_equal_plain_runs_and_a_diverging_one_is_frozen(self):
    config = self._config(3)
    rows = sweep.run(config, ["optim.g_lr=1e-4,2e-3,inf"], self.tmp / "sw",
                     metric="clean/psnr_head_novel")
    status = {r["member"]: r["status"] for r in rows}
    self.assertEqual(status, {0: "ok", 1: "ok", 2: "frozen"})
    frozen = json.loads((sweep.member_dir(self.tmp / "sw", 2)
                         / sweep.FROZEN_FILE).read_text())
    self.assertEqual(frozen["step"], 0)  # its first step was already inf
    for k, lr in ((0, 1e-4), (1, 2e-3)):
      config.optim.g_lr = lr
      plain = train.train_and_evaluate(config, self.tmp / f"plain{k}")
      member = _member_state(self.tmp / "sw", k, config)
      self.assertEqual(int(member.step), 3)
      for name in ("g_params", "d_params", "g_ema_params", "g_opt_state"):
        diff = _max_diff(getattr(member, name), getattr(plain, name))
        self.assertLess(diff, 2e-6, f"member {k} {name} differs by {diff}")
    self.assertTrue((self.tmp / "sw" / "results.md").is_file())

  def test_loss_weight_zero_member_sharded_exported_and_continued(self):
    """A weight-0 member (term traced, times 0) equals a run without it."""
    config = self._config(2)
    config.mesh.update(member=2, data=4)  # members over 2 of the 8 devices
    workdir = self.tmp / "sw"
    sweep.run(config, ["loss.r1_weight=0,10"], workdir,
              metric="clean/psnr_head_novel")
    plain_config = self._config(2)
    plain_config.loss.r1_weight = 0.0
    plain = train.train_and_evaluate(plain_config, self.tmp / "plain")
    member = _member_state(workdir, 0, plain_config)
    diff = _max_diff(member.d_params, plain.d_params)
    self.assertLess(diff, 2e-6, f"d_params differ by {diff}")
    # The other member trained with R1: its D differs.
    other = _member_state(workdir, 1, plain_config)
    self.assertGreater(_max_diff(other.d_params, plain.d_params), 1e-6)

    run = self.tmp / "exported"
    sweep.export_member(workdir, 0, run)
    self.assertEqual(workdir_lib.load_config(run).loss.r1_weight, 0.0)
    with self.assertRaisesRegex(errors.ConfigError, "members 0 to 1, not 5"):
      sweep.export_member(workdir, 5, self.tmp / "nope")
    # `train` continues the exported member like the plain run.
    plain_config.train.num_steps = 3
    continued = train.train_and_evaluate(plain_config, run)
    straight = train.train_and_evaluate(plain_config, self.tmp / "plain")
    diff = _max_diff(continued.g_params, straight.g_params)
    self.assertLess(diff, 2e-6, f"continued export differs by {diff}")

  def test_resume_matches_uninterrupted_sweep(self):
    grid = ["optim.d_lr=1e-4,1e-3"]
    config = self._config(2)
    sweep.run(config, grid, self.tmp / "resumed", metric="x")
    config.train.num_steps = 4
    sweep.run(config, grid, self.tmp / "resumed", metric="x")
    # The straight run batches its members with vmap, the resumed one
    # writes the step out per member (the CPU default): the same numbers.
    config.sweep = dict(members_in="vmap")
    sweep.run(config, grid, self.tmp / "straight", metric="x")
    resumed = [_member_state(self.tmp / "resumed", k, config)
               for k in range(2)]
    straight = [_member_state(self.tmp / "straight", k, config)
                for k in range(2)]
    # vmap's batched convolutions round differently from the per-member
    # ones, and four Adam steps amplify that to 1e-5 (1e-4 with the suite's
    # -O0 backend); a member mixed up with the other differs by far more.
    between = _max_diff(straight[0].g_params, straight[1].g_params)
    for a, b in zip(resumed, straight):
      self.assertEqual(int(a.step), 4)
      diff = _max_diff(a.g_params, b.g_params)
      self.assertLess(diff, 3e-4)
      self.assertLess(30 * diff, between, f"{diff} vs members {between}")
    with self.assertRaisesRegex(errors.ConfigError, "another grid"):
      sweep.run(config, ["optim.d_lr=1e-4"], self.tmp / "resumed",
                metric="x")

  def test_keys_that_change_the_program_are_refused_in_one_line(self):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "jaxface.main", "sweep",
         "--config=configs/tiny.py", "--grid", "field.hidden=8,16",
         "--workdir", str(self.tmp / "w")],
        capture_output=True, text=True, cwd=testing_utils.REPO, env=env,
        timeout=120)
    self.assertEqual(result.returncode, 1, result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    self.assertRegex(result.stderr.strip().splitlines()[-1],
                     r"^jaxface: error: --grid field.hidden: changes shapes "
                     r"or the compiled program; a sweep varies only "
                     r"optim.g_lr")
    with self.assertRaisesRegex(errors.ConfigError, "no such config key"):
      sweep.parse_grid(["optim.nope=1,2"], self._config(1))
    lazy = self._config(1)
    lazy.train.branch_every = 2
    with self.assertRaisesRegex(errors.ConfigError, "train.branch_every"):
      sweep.run(lazy, ["optim.d_lr=1e-4,2e-4"], self.tmp / "lazy")


if __name__ == "__main__":
  absltest.main()
