"""Importing official GIRAFFE checkpoints (jaxface.giraffe_import).

The checkpoints here are built from state dicts whose keys and shapes
follow the official modules (``official_state_dict``: GIRAFFE's Decoder,
NeuralRenderer and DCDiscriminator as the official code defines them), with
random values; the imported fields are checked against a NumPy forward pass
of GIRAFFE's decoder written from its definition.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys
import unittest

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from flax import nnx

from jaxface import commands
from jaxface import errors
from jaxface import giraffe_import
from jaxface import train
from jaxface import train_state as train_state_lib
from jaxface import workdir as workdir_lib
from tests import testing_utils

_HAS_TORCH = importlib.util.find_spec("torch") is not None


def _decoder_shapes(prefix, hidden, blocks, skips, pos_freqs, view_freqs,
                    z_shape, z_app, out):
  """GIRAFFE Decoder's parameters: {key: shape} (PyTorch layouts)."""
  shapes = {}
  linear = lambda name, o, i: shapes.update(
      {f"{prefix}.{name}.weight": (o, i), f"{prefix}.{name}.bias": (o,)})
  linear("fc_in", hidden, 6 * pos_freqs)
  linear("fc_z", hidden, z_shape)
  for i in range(blocks - 1):
    linear(f"blocks.{i}", hidden, hidden)
  for i, _ in enumerate(skips):
    linear(f"fc_z_skips.{i}", hidden, z_shape)
    linear(f"fc_p_skips.{i}", hidden, 6 * pos_freqs)
  linear("sigma_out", 1, hidden)
  linear("fc_z_view", hidden, z_app)
  linear("feat_view", hidden, hidden)
  linear("fc_view", hidden, 6 * view_freqs)
  linear("feat_out", out, hidden)
  return shapes


def official_shapes(config) -> dict:
  """The official model's state dict shapes for a config's sizes."""
  fc, nc = config.field, config.neural_renderer
  shapes = {}
  for g in ("generator", "generator_test"):
    shapes.update(_decoder_shapes(
        f"{g}.decoder", fc.hidden, fc.num_layers, fc.skips, fc.pos_freqs,
        fc.view_freqs, fc.z_shape_dim, fc.z_app_dim, fc.feature_dim))
    shapes.update(_decoder_shapes(
        f"{g}.background_generator", fc.bg_hidden, fc.bg_num_layers, (),
        fc.bg_pos_freqs, fc.bg_view_freqs, fc.z_bg_shape_dim,
        fc.z_bg_app_dim, fc.feature_dim))
    # NeuralRenderer: n_blocks = log2(img_size) - 4 from a 16x16 input.
    n = int(np.log2(config.data.image_size // config.render.feature_size))
    feats = [nc.num_features] + [max(nc.num_features // 2 ** (i + 1),
                                     nc.min_features) for i in range(n)]
    feats[1] = nc.num_features // 2
    prefix = f"{g}.neural_renderer"
    shapes[f"{prefix}.upsample_rgb.1.f"] = (3,)
    for i in range(n):
      shapes[f"{prefix}.conv_layers.{i}.weight"] = (feats[i + 1], feats[i], 3,
                                                    3)
      shapes[f"{prefix}.conv_layers.{i}.bias"] = (feats[i + 1],)
    for i in range(n + 1):
      shapes[f"{prefix}.conv_rgb.{i}.weight"] = (3, feats[i], 3, 3)
      shapes[f"{prefix}.conv_rgb.{i}.bias"] = (3,)
  # DCDiscriminator: log2(size) - 2 bias-free 4x4 convs, then conv_out.
  layers = int(np.log2(config.data.image_size)) - 2
  channels = [3] + [config.disc.num_features // 2 ** (layers - 1 - i)
                    for i in range(layers)]
  for i in range(layers):
    shapes[f"discriminator.blocks.{i}.weight"] = (channels[i + 1],
                                                  channels[i], 4, 4)
  shapes["discriminator.conv_out.weight"] = (1, channels[-1], 4, 4)
  return shapes


def official_state_dict(config, seed=0) -> dict:
  rng = np.random.default_rng(seed)
  state = {k: (rng.normal(size=s) / np.sqrt(max(np.prod(s[1:]), 1))).astype(
      np.float32) for k, s in official_shapes(config).items()}
  for g in ("generator", "generator_test"):
    state[f"{g}.neural_renderer.upsample_rgb.1.f"] = np.array(
        [1.0, 2.0, 1.0], np.float32)
  return state


def giraffe_encoding(p, num_freqs):
  """GIRAFFE's positional encoding: per octave [sin p, cos p]."""
  return np.concatenate([np.concatenate([np.sin(2 ** i * np.pi * p),
                                         np.cos(2 ** i * np.pi * p)], -1)
                         for i in range(num_freqs)], -1)


def giraffe_decoder(state, prefix, p, d, z_shape, z_app, *, blocks, skips,
                    pos_freqs, view_freqs, downscale):
  """GIRAFFE Decoder.forward in NumPy: (sigma [n], features [n, c])."""
  lin = lambda name, x: x @ state[f"{prefix}.{name}.weight"].T + state[
      f"{prefix}.{name}.bias"]
  relu = lambda x: np.maximum(x, 0)
  gp = giraffe_encoding(p / downscale, pos_freqs)
  d = d / np.linalg.norm(d, axis=-1, keepdims=True) / downscale
  gd = giraffe_encoding(d, view_freqs)
  h = relu(lin("fc_in", gp) + lin("fc_z", z_shape))
  skip = 0
  for i in range(blocks - 1):
    h = relu(lin(f"blocks.{i}", h))
    if (i + 1) in skips and i < blocks - 2:
      h = h + lin(f"fc_z_skips.{skip}", z_shape) + lin(
          f"fc_p_skips.{skip}", gp)
      skip += 1
  sigma = lin("sigma_out", h)[:, 0]
  h = lin("feat_view", h) + lin("fc_z_view", z_app)
  h = relu(h + lin("fc_view", gd))
  return sigma, lin("feat_out", h)


class ImportStateTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.config = testing_utils.giraffe_tiny_config()
    cls.template = jax.eval_shape(
        lambda: train_state_lib.create_train_state(cls.config))
    cls.state = official_state_dict(cls.config)

  def _import(self, state=None, config=None):
    return giraffe_import.import_state(
        self.state if state is None else state, config or self.config,
        self.template)

  def test_fields_compute_giraffes_decoder(self):
    trees = self._import()
    fc = self.config.field
    model = nnx.merge(self.template.g_graphdef, trees["g_ema_params"])
    rng = np.random.default_rng(1)
    p = rng.uniform(-1.1, 1.1, (7, 3)).astype(np.float32)
    d = rng.normal(size=(7, 3)).astype(np.float32)
    z_s = rng.normal(size=(1, fc.z_shape_dim)).astype(np.float32)
    z_a = rng.normal(size=(1, fc.z_app_dim)).astype(np.float32)
    unit = d / np.linalg.norm(d, axis=-1, keepdims=True)
    raw, features = model.field(p[None], unit[None], z_s, z_a)
    sigma, expected = giraffe_decoder(
        self.state, "generator_test.decoder", p, d, z_s, z_a,
        blocks=fc.num_layers, skips=fc.skips, pos_freqs=fc.pos_freqs,
        view_freqs=fc.view_freqs, downscale=fc.downscale)
    np.testing.assert_allclose(raw[0], sigma, atol=1e-4)
    np.testing.assert_allclose(features[0], expected, atol=1e-4)
    zb_s = rng.normal(size=(1, fc.z_bg_shape_dim)).astype(np.float32)
    zb_a = rng.normal(size=(1, fc.z_bg_app_dim)).astype(np.float32)
    raw, features = model.background(3 * p[None], unit[None], zb_s, zb_a)
    sigma, expected = giraffe_decoder(
        self.state, "generator_test.background_generator", 3 * p, d, zb_s,
        zb_a, blocks=fc.bg_num_layers, skips=(), pos_freqs=fc.bg_pos_freqs,
        view_freqs=fc.bg_view_freqs, downscale=fc.bg_downscale)
    np.testing.assert_allclose(raw[0], sigma, atol=1e-4)
    np.testing.assert_allclose(features[0], expected, atol=1e-4)

  def test_ema_generator_and_discriminator_land_in_their_trees(self):
    trees = self._import()
    np.testing.assert_array_equal(
        trees["g_params"]["renderer"]["blocks"][0]["kernel"],
        self.state["generator.neural_renderer.conv_layers.0.weight"]
        .transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(
        trees["g_ema_params"]["renderer"]["to_rgb"][1]["bias"],
        self.state["generator_test.neural_renderer.conv_rgb.1.bias"])
    np.testing.assert_array_equal(
        trees["d_params"]["conv_out"]["kernel"],
        self.state["discriminator.conv_out.weight"].transpose(2, 3, 1, 0))

  def test_encoding_permutation(self):
    p = np.random.default_rng(2).normal(size=(5, 3))
    from jaxface import field  # pylint: disable=g-import-not-at-top
    ours = np.asarray(field.positional_encoding(jnp.asarray(p), 4))
    perm = giraffe_import.encoding_permutation(4)
    np.testing.assert_allclose(giraffe_encoding(p, 4)[:, perm], ours,
                               atol=1e-5)

  def test_bad_keys_are_named(self):
    missing = dict(self.state)
    del missing["generator_test.decoder.fc_view.bias"]
    with self.assertRaisesRegex(errors.CheckpointError,
                                r"generator_test\.decoder\.fc_view\.bias is "
                                "missing"):
      self._import(missing)
    extra = dict(self.state, **{"generator.decoder.fc_extra.weight":
                                np.zeros((2, 2), np.float32)})
    with self.assertRaisesRegex(errors.CheckpointError,
                                r"generator\.decoder\.fc_extra\.weight has no "
                                "place"):
      self._import(extra)
    wrong = dict(self.state)
    wrong["discriminator.blocks.1.weight"] = np.zeros((5, 5, 4, 4),
                                                      np.float32)
    with self.assertRaisesRegex(errors.CheckpointError,
                                r"discriminator\.blocks\.1\.weight has shape "
                                r"\(4, 4, 5, 5\)"):
      self._import(wrong)

  def test_other_resolution_and_behaviour_are_refused(self):
    bigger = testing_utils.giraffe_tiny_config()
    bigger.data.image_size = 32
    with self.assertRaisesRegex(errors.CheckpointError,
                                "1 upsampling blocks .16x16 images.*config "
                                "makes 32x32"):
      giraffe_import.import_state(self.state, bigger, self.template)
    centres = testing_utils.giraffe_tiny_config()
    centres.render.pixel_grid = "centres"
    with self.assertRaisesRegex(errors.ConfigError,
                                "render.pixel_grid='edges'"):
      giraffe_import.import_state(self.state, centres, self.template)


def _cli(*args):
  env = testing_utils.subprocess_env()
  return subprocess.run([sys.executable, "-m", "jaxface.main", *map(str, args)],
                        capture_output=True, text=True, timeout=300,
                        cwd=testing_utils.REPO, env=env)


@unittest.skipUnless(_HAS_TORCH, "import-giraffe reads PyTorch files")
class ImportCommandTest(absltest.TestCase):

  def test_import_render_and_fine_tune(self):
    import torch  # pylint: disable=g-import-not-at-top
    tmp = pathlib.Path(self.create_tempdir().full_path)
    config = testing_utils.giraffe_tiny_config()
    state = official_state_dict(config, seed=3)
    torch.save({"model": {k: torch.from_numpy(v) for k, v in state.items()},
                "it": 1234, "optimizer": {}}, tmp / "model.pt")
    summary = commands.import_giraffe(tmp / "model.pt", config, tmp / "run")
    self.assertEqual(summary["giraffe_iteration"], 1234)
    _, networks, step = workdir_lib.restore(tmp / "run")
    self.assertEqual(step, 0)
    np.testing.assert_array_equal(
        networks.g_params["field"]["density_out"]["kernel"],
        state["generator_test.decoder.sigma_out.weight"].T)
    # Every code at every pose.
    fc = config.field
    rng = np.random.default_rng(0)
    np.savez(tmp / "codes.npz", **{
        name: rng.normal(size=(2, dim)).astype(np.float32) for name, dim in (
            ("z_shape", fc.z_shape_dim), ("z_app", fc.z_app_dim),
            ("z_bg_shape", fc.z_bg_shape_dim), ("z_bg_app", fc.z_bg_app_dim))})
    poses = [dict(yaw_deg=-30.0, pitch_deg=0.0), dict(yaw_deg=0.0,
                                                      pitch_deg=9.0),
             dict(yaw_deg=30.0, pitch_deg=5.0)]
    (tmp / "poses.json").write_text(json.dumps(poses))
    result = commands.render(tmp / "run", tmp / "out", codes=tmp / "codes.npz",
                             poses=tmp / "poses.json")
    images = np.load(tmp / "out" / "images.npy")
    self.assertEqual(images.shape, (2, 3, 16, 16, 3))
    self.assertEqual(images.dtype, np.float32)
    self.assertTrue(np.all((images >= 0) & (images <= 1)))
    self.assertLen(result["pngs"], 6)
    self.assertGreater(float(np.abs(images[0, 0] - images[0, 2]).max()), 0)
    # Fine-tuning resumes from the imported weights.
    folder = testing_utils.write_image_folder(tmp / "images", num_images=8,
                                              size=16)
    config.data.update(name="image_folder", data_dir=str(folder))
    config.train.num_steps = 1
    tuned = train.train_and_evaluate(config, tmp / "run")
    self.assertEqual(int(tuned.step), 1)
    moved = np.abs(np.asarray(tuned.g_params["field"]["density_out"][
        "kernel"]) - state["generator.decoder.sigma_out.weight"].T).max()
    self.assertGreater(moved, 0.0)
    self.assertLess(moved, 0.01)  # one RMSprop step of lr 5e-4 from there

  def test_bad_files_are_one_line(self):
    tmp = pathlib.Path(self.create_tempdir().full_path)
    result = _cli("import-giraffe", tmp / "none.pt", "--config",
                  "configs/celeba64.py", "--workdir", tmp / "run")
    self.assertEqual(result.returncode, 1, result.stderr)
    self.assertEqual(result.stderr.strip().splitlines(),
                     [f"jaxface: error: no GIRAFFE checkpoint at "
                      f"{tmp / 'none.pt'}"])
    (tmp / "junk.pt").write_bytes(b"not a checkpoint")
    result = _cli("import-giraffe", tmp / "junk.pt",
                  "--config=configs/celeba64.py", "--workdir", tmp / "run")
    self.assertEqual(result.returncode, 1)
    self.assertLen(result.stderr.strip().splitlines(), 1, result.stderr)
    self.assertIn("cannot read", result.stderr)
    self.assertFalse((tmp / "run" / "ckpt").exists())


class OlderArchitectureTest(absltest.TestCase):

  def test_training_an_older_run_says_so(self):
    import shutil  # pylint: disable=g-import-not-at-top
    tmp = pathlib.Path(self.create_tempdir().full_path)
    shutil.copytree(testing_utils.REPO / "tests" / "fixtures" / "legacy_run",
                    tmp / "run")
    config = testing_utils.giraffe_tiny_config()
    folder = testing_utils.write_image_folder(tmp / "images", num_images=8,
                                              size=16)
    config.data.update(name="image_folder", data_dir=str(folder))
    with self.assertRaisesRegex(errors.CheckpointError,
                                "older jaxface architecture .version 1, this "
                                "is 2.*render, reconstruct and evaluate "
                                "still read it"):
      train.train_and_evaluate(config, tmp / "run")


if __name__ == "__main__":
  absltest.main()
