"""Tests for ray casting, depth sampling and ray/box intervals."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import numpy as np

from jaxface import camera
from jaxface import rays
from jaxface import structs

# One compiled program per image size costs less than op-by-op dispatch.
_pixel_rays = jax.jit(rays.pixel_rays, static_argnums=(1, 2))
_stratified_depths = jax.jit(rays.stratified_depths, static_argnums=(3, 4, 5))
_ray_box_interval = jax.jit(rays.ray_box_interval)


def _cameras(fov=0.4):
  yaw = np.array([0.0, 0.5, -0.6], np.float32)
  pitch = np.array([0.0, 0.2, -0.3], np.float32)
  radius = np.array([2.7, 3.0, 1.5], np.float32)
  return camera.make_camera(yaw, pitch, radius, fov)


def _optical_axis(cams):
  return -np.asarray(cams.cam2world)[:, :3, 2]  # [batch, 3]


def _angle(a, b):
  cos = np.sum(a * b, axis=-1) / (
      np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
  )
  return np.arccos(np.clip(cos, -1.0, 1.0))


class PixelRaysTest(parameterized.TestCase):

  @parameterized.parameters((5, 5), (4, 6), (7, 3))
  def test_shapes_unit_directions_and_origins(self, height, width):
    cams = _cameras()
    r = _pixel_rays(cams, height, width)
    chex.assert_shape([r.origins, r.directions], (3, height * width, 3))
    chex.assert_shape(r.z_scale, (3, height * width))
    np.testing.assert_allclose(
        np.linalg.norm(r.directions, axis=-1), 1.0, atol=1e-6
    )
    eye = np.asarray(cams.cam2world)[:, None, :3, 3]
    np.testing.assert_allclose(
        r.origins, np.broadcast_to(eye, r.origins.shape), atol=1e-6
    )

  def test_jittered_rays_stay_in_their_pixel(self):
    cams = _cameras()
    size = 6
    plain = rays.pixel_rays(cams, size, size)
    jittered = rays.pixel_rays(cams, size, size, jitter_key=jax.random.key(0))
    # Back to the image plane of each camera: x / -z, y / -z in units of
    # tan(fov / 2), where pixel centres sit 2 / size apart.
    rotation = np.asarray(cams.cam2world)[:, :3, :3]
    tan_half = np.tan(0.5 * np.asarray(cams.fov))[:, None]

    def plane(r):
      local = np.einsum("bji,brj->bri", rotation, np.asarray(r.directions))
      return local[..., :2] / -local[..., 2:] / tan_half[..., None]

    offset = (plane(jittered) - plane(plain)) * size / 2  # in pixels
    self.assertLessEqual(np.abs(offset).max(), 0.5 + 1e-4)
    self.assertGreater(np.abs(offset).mean(), 0.15)  # uniform in the pixel
    again = rays.pixel_rays(cams, size, size, jitter_key=jax.random.key(0))
    np.testing.assert_array_equal(again.directions, jittered.directions)

  def test_centre_ray_points_at_origin(self):
    cams = _cameras()
    size = 5
    r = _pixel_rays(cams, size, size)
    centre = (size // 2) * size + size // 2
    eye = np.asarray(cams.cam2world)[:, :3, 3]
    np.testing.assert_allclose(
        r.directions[:, centre],
        -eye / np.linalg.norm(eye, axis=-1, keepdims=True),
        atol=1e-6,
    )
    np.testing.assert_allclose(r.z_scale[:, centre], 1.0, atol=1e-7)

  @parameterized.parameters(3, 8)
  def test_corner_and_edge_angles(self, size):
    fov = 0.5
    cams = _cameras(fov)
    r = _pixel_rays(cams, size, size)
    axis = _optical_axis(cams)[:, None]
    angles = _angle(np.asarray(r.directions, np.float64), axis)
    angles = angles.reshape(3, size, size)
    # Pixel centres sit half a pixel inside the image border.
    edge = np.tan(0.5 * fov) * (1.0 - 1.0 / size)
    for row, col in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
      np.testing.assert_allclose(
          angles[:, row, col], np.arctan(np.sqrt(2.0) * edge), atol=1e-5
      )
    if size % 2:
      mid = size // 2
      for row, col in ((mid, 0), (mid, -1), (0, mid), (-1, mid)):
        np.testing.assert_allclose(
            angles[:, row, col], np.arctan(edge), atol=1e-5
        )
    # No ray leaves the field of view's cone.
    self.assertTrue(np.all(angles <= np.arctan(np.sqrt(2) * np.tan(fov / 2))))

  def test_z_scale_is_cosine_to_optical_axis(self):
    cams = _cameras(0.7)
    r = _pixel_rays(cams, 6, 4)
    axis = _optical_axis(cams)[:, None]
    cos = np.sum(np.asarray(r.directions) * axis, axis=-1)
    np.testing.assert_allclose(r.z_scale, cos, atol=1e-6)
    self.assertTrue(np.all(np.asarray(r.z_scale) < 1.0))
    self.assertTrue(np.all(np.asarray(r.z_scale) > np.cos(0.7)))

  def test_pixel_layout_matches_pinhole_reference(self):
    # Row 0 is the top of the image, column 0 its left; rays are row-major.
    height, width, fov = 3, 4, 0.6
    cams = _cameras(fov)
    r = _pixel_rays(cams, height, width)
    c2w = np.asarray(cams.cam2world, np.float64)
    tan_half = np.tan(fov / 2)
    expected = np.zeros((3, height * width, 3))
    for b in range(3):
      for i in range(height):
        for j in range(width):
          x = ((j + 0.5) / width * 2 - 1) * tan_half * width / height
          y = (1 - (i + 0.5) / height * 2) * tan_half
          d = c2w[b, :3, :3] @ np.array([x, y, -1.0])
          expected[b, i * width + j] = d / np.linalg.norm(d)
    np.testing.assert_allclose(r.directions, expected, atol=1e-6)
    right = c2w[:, None, :3, 0]
    up = c2w[:, None, :3, 1]
    grid = np.asarray(r.directions).reshape(3, height, width, 3)
    self.assertTrue(np.all(np.sum(grid[:, 0] * up, -1) > 0))
    self.assertTrue(np.all(np.sum(grid[:, -1] * up, -1) < 0))
    self.assertTrue(np.all(np.sum(grid[:, :, 0] * right, -1) < 0))
    self.assertTrue(np.all(np.sum(grid[:, :, -1] * right, -1) > 0))


class StratifiedDepthsTest(parameterized.TestCase):

  def test_jittered_one_sample_per_bin(self):
    near, far, num = 0.5, 6.0, 16
    depths = np.asarray(
        _stratified_depths(
            jax.random.key(0), near, far, (3, 50), num, jitter=True
        )
    )
    chex.assert_shape(depths, (3, 50, num))
    self.assertTrue(np.all(np.diff(depths, axis=-1) >= 0))
    self.assertTrue(np.all((depths >= near) & (depths <= far)))
    bins = np.floor((depths - near) / (far - near) * num)
    bins = np.clip(bins, 0, num - 1)  # a draw at a bin's upper edge
    np.testing.assert_array_equal(
        bins, np.broadcast_to(np.arange(num), depths.shape)
    )
    centres = near + (np.arange(num) + 0.5) * (far - near) / num
    self.assertFalse(np.allclose(depths, centres))
    # Offsets inside bins look uniform: mean near the centre, spread wide.
    offsets = (depths - near) / (far - near) * num - np.arange(num)
    self.assertAlmostEqual(offsets.mean(), 0.5, delta=0.05)
    self.assertLess(offsets.min(), 0.05)
    self.assertGreater(offsets.max(), 0.95)

  def test_bin_centres_without_jitter(self):
    near, far, num = 2.0, 3.5, 6
    depths = _stratified_depths(None, near, far, (2, 3), num, False)
    chex.assert_shape(depths, (2, 3, num))
    centres = near + (np.arange(num) + 0.5) * (far - near) / num
    np.testing.assert_allclose(
        depths, np.broadcast_to(centres, (2, 3, num)), rtol=1e-6
    )

  def test_per_ray_intervals(self):
    rng = np.random.default_rng(0)
    near = rng.uniform(0.0, 2.0, (2, 5)).astype(np.float32)
    far = near + rng.uniform(0.0, 3.0, (2, 5)).astype(np.float32)
    far[0, 0] = near[0, 0]  # an empty interval (a ray missing the box)
    depths = np.asarray(
        _stratified_depths(jax.random.key(1), near, far, (2, 5), 8, jitter=True)
    )
    self.assertTrue(np.all(depths >= near[..., None] - 1e-6))
    self.assertTrue(np.all(depths <= far[..., None] + 1e-6))
    self.assertTrue(np.all(np.diff(depths, axis=-1) >= 0))
    np.testing.assert_allclose(depths[0, 0], near[0, 0])


def _brute_force_interval(origin, direction, half, near, far, steps=40001):
  t = np.linspace(near, far, steps)
  points = origin[None] + t[:, None] * direction[None]
  inside = np.all(np.abs(points) <= half, axis=-1)
  if not inside.any():
    return None
  return t[inside].min(), t[inside].max()


class RayBoxTest(parameterized.TestCase):

  def test_against_brute_force(self):
    rng = np.random.default_rng(0)
    num = 64
    half, near, far = 0.4, 0.5, 6.0
    origins = rng.normal(size=(num, 3))
    origins *= rng.uniform(1.0, 3.0, (num, 1)) / np.linalg.norm(
        origins, axis=-1, keepdims=True
    )
    origins[:4] = rng.uniform(-0.3, 0.3, (4, 3))  # starting inside the box
    # Aim roughly at the origin, with enough spread that many rays miss.
    directions = -origins + rng.normal(scale=0.5, size=(num, 3))
    directions[-4:] = rng.normal(size=(4, 3))  # arbitrary directions
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    r = structs.Rays(
        origins[None].astype(np.float32),
        directions[None].astype(np.float32),
        np.ones((1, num)),
    )
    t_enter, t_exit, hit = map(
        np.asarray, _ray_box_interval(r, half, near, far)
    )
    chex.assert_shape([t_enter, t_exit, hit], (1, num))
    step = (far - near) / 40000
    num_hits = 0
    for i in range(num):
      ref = _brute_force_interval(origins[i], directions[i], half, near, far)
      if ref is None:
        self.assertFalse(hit[0, i], msg=f"ray {i}")
        self.assertEqual(t_enter[0, i], far)
        self.assertEqual(t_exit[0, i], far)
        continue
      if ref[1] - ref[0] < 4 * step:  # grazing: the sampling cannot tell
        continue
      num_hits += 1
      self.assertTrue(hit[0, i], msg=f"ray {i}")
      self.assertAlmostEqual(t_enter[0, i], ref[0], delta=2 * step)
      self.assertAlmostEqual(t_exit[0, i], ref[1], delta=2 * step)
    self.assertGreater(num_hits, 10)
    self.assertGreater(np.sum(~hit), 10)

  def test_axis_aligned_rays(self):
    # Exactly-zero direction components take the division guard.
    origins = np.array(
        [
            [0.1, 0.2, 3.0],  # hits the front face
            [0.5, 0.0, 3.0],  # passes beside the box
            [0.0, 0.0, -3.0],  # box behind the camera
            [0.0, 0.0, 0.0],
        ],
        np.float32,
    )  # inside the box
    directions = np.array(
        [[0, 0, -1], [0, 0, -1], [0, 0, -1], [1, 0, 0]], np.float32
    )
    r = structs.Rays(origins[None], directions[None], np.ones((1, 4)))
    t_enter, t_exit, hit = map(np.asarray, _ray_box_interval(r, 0.3, 0.1, 6.0))
    np.testing.assert_array_equal(hit[0], [True, False, False, True])
    np.testing.assert_allclose(t_enter[0], [2.7, 6.0, 6.0, 0.1], atol=1e-6)
    np.testing.assert_allclose(t_exit[0], [3.3, 6.0, 6.0, 0.3], atol=1e-6)

  def test_clipped_to_near_far(self):
    origins = np.array([[[0.0, 0.0, 3.0]]], np.float32)
    directions = np.array([[[0.0, 0.0, -1.0]]], np.float32)
    r = structs.Rays(origins, directions, np.ones((1, 1)))
    t_enter, t_exit, hit = _ray_box_interval(r, 1.0, 2.5, 3.5)
    self.assertTrue(hit[0, 0])
    self.assertAlmostEqual(float(t_enter[0, 0]), 2.5, places=6)
    self.assertAlmostEqual(float(t_exit[0, 0]), 3.5, places=6)
    # The box lies entirely before `near`: a miss.
    _, _, hit = _ray_box_interval(r, 1.0, 4.5, 6.0)
    self.assertFalse(hit[0, 0])


class PointsAlongTest(absltest.TestCase):

  def test_geometry(self):
    rng = np.random.default_rng(0)
    origins = rng.normal(size=(2, 5, 3)).astype(np.float32)
    directions = rng.normal(size=(2, 5, 3))
    directions = (
        directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    ).astype(np.float32)
    depths = np.sort(rng.uniform(0.0, 4.0, (2, 5, 7)), axis=-1)
    depths = depths.astype(np.float32)
    r = structs.Rays(origins, directions, np.ones((2, 5), np.float32))
    points = np.asarray(rays.points_along(r, depths))
    chex.assert_shape(points, (2, 5, 7, 3))
    offsets = points - origins[:, :, None]
    np.testing.assert_allclose(
        np.linalg.norm(offsets, axis=-1), depths, atol=1e-5
    )
    np.testing.assert_allclose(
        np.cross(offsets, directions[:, :, None]), 0.0, atol=1e-5
    )
    np.testing.assert_allclose(
        np.sum(offsets * directions[:, :, None], axis=-1), depths, atol=1e-5
    )


if __name__ == "__main__":
  absltest.main()
