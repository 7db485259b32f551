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


class SmallCpu64Test(absltest.TestCase):

  def test_is_the_demo_with_the_hour_rows_overrides(self):
    # The row's own JSON line names what it changed in the demo config;
    # the named config must be exactly that, apart from the training
    # budget (the row ran for a step count, the config for an hour) and
    # what training logs.
    rows = REPO / "experiments/2026-11-30_quality/results_qsize_64.jsonl"
    row = next(row for row in map(json.loads, rows.read_text().splitlines())
               if row["row"] == "H64_q32")
    expected = _config("small_cpu.py")
    for item in row["overrides"]:
      if not item.startswith(("log.", "seed=")):
        _override(expected, item)
    expected.train.update(num_steps=10 ** 9, max_minutes=60.0)
    actual = _config("small_cpu64.py")
    self.assertEqual(actual.to_dict(), expected.to_dict())


if __name__ == "__main__":
  absltest.main()
