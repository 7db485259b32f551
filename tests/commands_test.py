"""Command-line plumbing: where --config takes effect, and only there."""

import subprocess
import sys

from absl.testing import absltest

from jaxface import commands
from jaxface import errors
from tests import testing_utils


def _cli(*args):
  env = testing_utils.subprocess_env()
  return subprocess.run([sys.executable, "-m", "jaxface.main", *args],
                        capture_output=True, text=True, timeout=120,
                        cwd=testing_utils.REPO, env=env)


class OverridesTest(absltest.TestCase):

  def test_refine_overrides_apply(self):
    config = testing_utils.load_config("tiny")
    before = config.refine.perceptual_weight
    out = commands.apply_overrides(
        config, ["--config.refine.l1_weight=2.5", "--config.refine.lr=0.1"],
        ("refine",))
    self.assertEqual(out.refine.l1_weight, 2.5)
    self.assertEqual(out.refine.lr, 0.1)
    self.assertEqual(out.refine.perceptual_weight, before)

  def test_other_sections_unknown_keys_and_bad_values_are_refused(self):
    config = testing_utils.load_config("tiny")
    with self.assertRaisesRegex(errors.ConfigError,
                                "--config.optim.g_lr has no effect here"):
      commands.apply_overrides(config, ["--config.optim.g_lr=1"],
                               ("refine",))
    with self.assertRaisesRegex(errors.ConfigError, "l2_weight"):
      commands.apply_overrides(config, ["--config.refine.l2_weight=1"],
                               ("refine",))
    with self.assertRaisesRegex(errors.ConfigError, "invalid override"):
      commands.apply_overrides(config, ["--config.refine.lr=fast"],
                               ("refine",))


class CommandLineConfigTest(absltest.TestCase):

  def assertOneLineError(self, result, pattern, returncode=2):
    self.assertEqual(result.returncode, returncode, result.stderr)
    self.assertNotIn("Traceback", result.stderr)
    lines = result.stderr.strip().splitlines()
    self.assertLen(lines, 1, result.stderr)
    self.assertRegex(lines[0], "^jaxface: error: " + pattern)

  def test_config_is_refused_where_it_would_be_ignored(self):
    # Each of these used to parse the config and throw it away.
    self.assertOneLineError(
        _cli("render", "--workdir", "runs/demo",
             "--config=configs/celeba64.py"),
        "render does not use --config: it takes no config options")
    self.assertOneLineError(
        _cli("make-data", "--config.data.image_size=64"),
        "make-data does not use --config.data.image_size")
    self.assertOneLineError(
        _cli("export-mesh", "--workdir", "w", "--out", "o",
             "--config.refine.l1_weight=2"),
        "export-mesh does not use")
    self.assertOneLineError(
        _cli("reconstruct", "x.png", "--workdir", "w", "--out", "o",
             "--config=configs/tiny.py"),
        r"reconstruct does not use --config: only --config.refine.\* "
        "applies")
    self.assertOneLineError(
        _cli("evaluate", "--workdir", "w", "--config.optim.g_lr=1"),
        r"evaluate does not use --config.optim.g_lr: only --config.refine")

  def test_unknown_option_is_one_line(self):
    self.assertOneLineError(_cli("render", "--workdir", "w", "--sede", "1"),
                            "unrecognized arguments: --sede")

  def test_unknown_model_choice_is_one_line(self):
    # Checked where the generator is built (inside jit), after the config
    # loaded: the error must still reach the command line as one line.
    workdir = self.create_tempdir().full_path
    triplane = ("--config.field.kind=triplane",)
    for flags, message in (
        (triplane + ("--config.field.plane_upsample=cubic",),
         r"unknown field.plane_upsample 'cubic'; one of \['nearest', "
         r"'bilinear'\]"),
        (triplane + ("--config.field.plane_conditioning=style",),
         r"unknown field.plane_conditioning 'style'; one of \['input', "
         r"'film'\]"),
        (triplane + ("--config.field.appearance=texture",),
         r"unknown field.appearance 'texture'; one of \['code', 'planes'\]"),
        (("--config.neural_renderer.upsample=cubic",),
         r"unknown neural_renderer.upsample 'cubic'; one of \['nearest', "
         r"'bilinear'\]")):
      self.assertOneLineError(
          _cli("train", "--config=configs/tiny.py", "--workdir", workdir,
               *flags), message, returncode=1)


if __name__ == "__main__":
  absltest.main()
