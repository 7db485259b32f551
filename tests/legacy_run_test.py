"""A run written by an earlier jaxface still works, for inference and training.

``fixtures/legacy_run`` was written by ``fixtures/make_legacy_run.py`` at
commit 69bac06 (Q and E1 checkpointed as ``e_params``, ``optim.e_lr`` in
its config, no ``refine`` section), and ``fixtures/legacy_outputs.npz``
holds what that code rendered and encoded from it.
"""

import pathlib
import shutil

import jax
import numpy as np
from absl.testing import absltest

from jaxface import checkpoint as checkpoint_lib
from jaxface import commands
from jaxface import reconstruct
from jaxface import sampling
from jaxface import train_state as train_state_lib
from jaxface import workdir as workdir_lib
from tests import testing_utils

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


def _max_diff(a, b) -> float:
  return max(jax.tree.leaves(jax.tree.map(
      lambda x, y: float(np.max(np.abs(np.asarray(x, np.float32)
                                       - np.asarray(y, np.float32)))), a, b)))


class LegacyRunTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(self.create_tempdir().full_path)
    self.run_dir = self.tmp / "run"
    shutil.copytree(FIXTURES / "legacy_run", self.run_dir)
    self.expected = np.load(FIXTURES / "legacy_outputs.npz")

  def test_inference_computes_what_it_computed(self):
    config, networks, step = workdir_lib.restore(self.run_dir)
    self.assertEqual(step, 1)
    self.assertEqual(config.optim.branch_lr, 1e-3)  # was optim.e_lr
    self.assertEqual(config.refine.l1_weight, 1.0)  # added with its value
    views = sampling.sample_views(networks.g_graphdef, networks.g_params,
                                  config, seed=0, num_faces=2, num_views=3)
    for name in ("images", "depth", "opacity"):
      np.testing.assert_allclose(getattr(views, name), self.expected[name],
                                 atol=2e-5, err_msg=name)
    estimate = reconstruct.encode(networks, self.expected["photos"])
    np.testing.assert_allclose(estimate.latents.z_shape,
                               self.expected["z_shape"], atol=2e-5)
    np.testing.assert_allclose(estimate.latents.z_app,
                               self.expected["z_app"], atol=2e-5)
    np.testing.assert_allclose(estimate.yaw, self.expected["yaw"], atol=1e-5)
    np.testing.assert_allclose(estimate.pitch, self.expected["pitch"],
                               atol=1e-5)
    # The commands run on it too.
    out = commands.render(self.run_dir, self.tmp / "renders", num_faces=1,
                          num_views=2)
    self.assertTrue(pathlib.Path(out["grid"]).is_file())

  def test_training_restores_it(self):
    # What train does on resuming: restore the whole state into the
    # config's fresh one (Q and E1 under their old name e_params).
    config = testing_utils.branch_config(1.0)
    # Unclipped, as the run was: clipping adds a (stateless) stage to the
    # optimiser's state tree.
    config.optim.grad_clip = 0.0
    e2 = workdir_lib.identity_encoder(config, self.run_dir, training=False)
    fresh = train_state_lib.create_train_state(config, e2)
    ckpt = checkpoint_lib.Checkpointer(self.run_dir / "ckpt", config.ckpt,
                                       read_only=True)
    state = ckpt.restore(fresh)
    self.assertEqual(int(state.step), 1)
    _, networks, _ = workdir_lib.restore(self.run_dir)
    self.assertEqual(_max_diff(state.g_ema_params, networks.g_params), 0.0)
    self.assertEqual(_max_diff(state.branch_params["q"], networks.q_params),
                     0.0)
    # Restored, not initialised: D and the optimiser states are the run's.
    self.assertGreater(_max_diff(state.d_params, fresh.d_params), 0.05)
    self.assertGreater(_max_diff(state.branch_opt_state,
                                 fresh.branch_opt_state), 0.0)


if __name__ == "__main__":
  absltest.main()
