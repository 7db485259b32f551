"""The named configs hold what their measured rows ran."""

import json
import pathlib
import runpy

from absl.testing import absltest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _config(name):
  return runpy.run_path(str(REPO / "configs" / name))["get_config"]()


# The overrides as bench_quality.py applied them to the row.
_override = runpy.run_path(
    str(REPO / "experiments" / "bench_quality.py"))["_override"]


def _row_overrides(results, name):
  """A row's recorded overrides, apart from its seed and when it logs.

  The named configs keep their own seed and logging.
  """
  path = REPO / "experiments/2026-11-30_quality" / results
  row = next(row for row in map(json.loads, path.read_text().splitlines())
             if row["row"] == name)
  return [item for item in row["overrides"]
          if not item.startswith(("log.", "seed="))]


def _row_config(results, name):
  """The config a row trained: its overrides on the demo config of then."""
  # The rows' scripts apply their overrides to the demo as it was before
  # it took the lighter branch.
  config = runpy.run_path(str(
      REPO / "experiments/2026-11-30_quality/demo_900.py"))["get_config"]()
  for item in _row_overrides(results, name):
    _override(config, item)
  return config


# Test-time settings chosen on the trained rows' checkpoints after they
# trained (training never reads them): refinement without its identity term
# (the "id0" rows of results_refine_terms.jsonl).
_REFINE_CHOSEN_LATER = ("refine.identity_weight=0.0",)


def _same_but_budget(test, actual, expected):
  """Equal apart from the training budget, when it logs and saves, and the
  refinement settings chosen later."""
  expected.train.update(num_steps=actual.train.num_steps,
                        max_minutes=actual.train.max_minutes)
  expected.ckpt.every_steps = actual.ckpt.every_steps
  expected.log = actual.log
  # How many held-out identities are scored: the training split is the
  # same whatever it is (synthetic_faces_test).
  expected.data.test_identities = actual.data.test_identities
  for item in _REFINE_CHOSEN_LATER:
    _override(expected, item)
  # As JSON: the rows' base is read from JSON, where tuples are lists.
  test.assertEqual(json.loads(actual.to_json()),
                   json.loads(expected.to_json()))


class Demo900Test(absltest.TestCase):

  def test_has_every_entry_of_todays_demo_config(self):
    # demo_900.json is frozen; entries added to the code since must reach
    # it through workdir.ADDED_ENTRIES, or the rows' commands would fail.
    def keys(tree, prefix=""):
      return {k for name, value in tree.items()
              for k in (keys(value, f"{prefix}{name}.")
                        if isinstance(value, dict) else [prefix + name])}
    demo_900 = runpy.run_path(str(
        REPO / "experiments/2026-11-30_quality/demo_900.py"))["get_config"]()
    self.assertEqual(keys(demo_900.to_dict()),
                     keys(_config("small_cpu.py").to_dict()))


class SmallCpuTest(absltest.TestCase):

  def test_is_the_32x32_row_it_was_chosen_from(self):
    _same_but_budget(self, _config("small_cpu.py"),
                     _row_config("results_demo_rows_32.jsonl",
                                 "D32_cross_x2"))


class SmallCpu64Test(absltest.TestCase):

  def test_is_the_hour_rows_it_was_chosen_from(self):
    # H64_cross_x2 ran on the hour config of then, which was H64_q32's
    # config (this test held it there), with the cross-view term's weights
    # overridden. The rows ran for step counts, the config for an hour.
    actual = _config("small_cpu64.py")
    self.assertEqual(actual.train.max_minutes, 60.0)
    expected = _row_config("results_qsize_64.jsonl", "H64_q32")
    for item in _row_overrides("results_cross_64.jsonl", "H64_cross_x2"):
      _override(expected, item)
    _same_but_budget(self, actual, expected)


if __name__ == "__main__":
  absltest.main()
