"""Image grids and depth visualisation."""

import numpy as np
from absl.testing import absltest

from jaxface import sampling
from tests import testing_utils


class SamplingTest(absltest.TestCase):

  def test_depth_to_uint8(self):
    config = testing_utils.load_config("celeba64")
    radius = config.camera.radius_range[0]
    half = config.render.object_scale * (1 + config.render.box_padding)
    depth = np.array([[radius - half, radius, radius + half, radius]])
    opacity = np.array([[1.0, 1.0, 1.0, 0.0]])
    grey = sampling.depth_to_uint8(depth, opacity, config, size=8)
    self.assertEqual(grey.shape, (2, 8, 3))  # 1x4 map upsampled by 2
    values = grey[0, ::2, 0]
    # Nearest is white, the far side of the box black, empty space black.
    np.testing.assert_array_equal(values, [255, 128, 0, 0])
    self.assertTrue(np.all(grey[..., 0] == grey[..., 2]))

  def test_make_grid_places_tiles(self):
    tiles = np.arange(2 * 3, dtype=np.uint8).reshape(2, 3, 1, 1, 1)
    tiles = np.broadcast_to(tiles, (2, 3, 4, 5, 3))
    grid = sampling.make_grid(tiles, pad=1)
    self.assertEqual(grid.shape, (2 * 5 + 1, 3 * 6 + 1, 3))
    for r in range(2):
      for c in range(3):
        tile = grid[1 + r * 5:1 + r * 5 + 4, 1 + c * 6:1 + c * 6 + 5]
        self.assertTrue(np.all(tile == r * 3 + c))
    self.assertTrue(np.all(grid[0] == 255))  # padding stays white


if __name__ == "__main__":
  absltest.main()
