"""experiments/demo_report.py draws what a run exported, surface or not."""

import pathlib
import runpy
import tempfile

from absl.testing import absltest
import numpy as np
import trimesh

REPO = pathlib.Path(__file__).resolve().parents[1]
demo_report = runpy.run_path(str(REPO / "experiments" / "demo_report.py"))


class MeshStripTest(absltest.TestCase):

  def test_a_face_without_a_surface_keeps_its_row_black(self):
    # export-mesh writes no mesh.ply where the density never reaches the
    # level (a translucent field); the strip must still draw the others,
    # each in its own row.
    config = runpy.run_path(
        str(REPO / "configs" / "small_cpu.py"))["get_config"]()
    with tempfile.TemporaryDirectory() as tmp:
      faces = pathlib.Path(tmp)
      (faces / "seed0_0").mkdir()
      trimesh.creation.icosphere(subdivisions=2, radius=0.3).export(
          faces / "seed0_0" / "mesh.ply")
      (faces / "seed0_1").mkdir()  # no surface found
      strip = demo_report["mesh_strip"](faces, config, size=32)
    self.assertEqual(strip.shape, (2 * 32, 5 * 32))
    self.assertGreater(np.count_nonzero(strip[:32]), 5 * 32 * 32 // 10)
    self.assertEqual(np.count_nonzero(strip[32:]), 0)


if __name__ == "__main__":
  absltest.main()
