"""Tests for the pose prior and look-at cameras (jaxface.camera)."""

import pathlib
import runpy

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import numpy as np

from jaxface import camera

_CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
# One compiled program per batch size costs less than op-by-op dispatch.
_make_camera = jax.jit(camera.make_camera)


def _camera_config():
  return runpy.run_path(str(_CONFIGS / "celeba64.py"))["get_config"]().camera


def _random_poses(seed, batch=16):
  rng = np.random.default_rng(seed)
  yaw = rng.uniform(-np.pi, np.pi, batch).astype(np.float32)
  pitch = rng.uniform(-1.3, 1.3, batch).astype(np.float32)
  radius = rng.uniform(0.5, 5.0, batch).astype(np.float32)
  return yaw, pitch, radius


class LookAtTest(parameterized.TestCase):

  @parameterized.parameters(0, 1, 2)
  def test_cameras_look_at_the_origin(self, seed):
    yaw, pitch, radius = _random_poses(seed)
    cams = _make_camera(yaw, pitch, radius, 0.3)
    c2w = np.asarray(cams.cam2world)
    eye = c2w[:, :3, 3]
    forward = -c2w[:, :3, 2]  # OpenGL cameras look along -z.
    to_origin = -eye / np.linalg.norm(eye, axis=-1, keepdims=True)
    np.testing.assert_allclose(forward, to_origin, atol=1e-5)

  def test_look_at_explicit_target(self):
    eye = np.array([[1.0, 2.0, 3.0], [-2.0, 0.5, 1.0]], np.float32)
    target = np.array([[0.5, -1.0, 0.0], [1.0, 1.0, -1.0]], np.float32)
    c2w = np.asarray(camera.look_at(eye, target))
    expected = target - eye
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    np.testing.assert_allclose(-c2w[:, :3, 2], expected, atol=1e-5)
    np.testing.assert_allclose(c2w[:, :3, 3], eye, atol=1e-6)

  @parameterized.parameters(0, 1)
  def test_rotation_is_proper_orthonormal(self, seed):
    yaw, pitch, radius = _random_poses(seed)
    cams = _make_camera(yaw, pitch, radius, 0.3)
    chex.assert_shape(cams.cam2world, (16, 4, 4))
    c2w = np.asarray(cams.cam2world, np.float64)
    rot = c2w[:, :3, :3]
    eye3 = np.broadcast_to(np.eye(3), rot.shape)
    np.testing.assert_allclose(
        np.einsum("bji,bjk->bik", rot, rot), eye3, atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
    np.testing.assert_array_equal(
        c2w[:, 3], np.broadcast_to([0.0, 0.0, 0.0, 1.0], (16, 4))
    )

  def test_no_roll(self):
    # The world up axis stays in the camera's up/back plane: the camera's
    # x axis (right) is horizontal, so the horizon is level.
    yaw, pitch, radius = _random_poses(3)
    c2w = np.asarray(_make_camera(yaw, pitch, radius, 0.3).cam2world)
    np.testing.assert_allclose(c2w[:, 1, 0], 0.0, atol=1e-6)
    self.assertTrue(np.all(c2w[:, 1, 1] > 0.0))  # camera up points up

  def test_camera_position_has_radius(self):
    yaw, pitch, radius = _random_poses(4)
    eye = np.asarray(camera.camera_position(yaw, pitch, radius))
    chex.assert_shape(eye, (16, 3))
    np.testing.assert_allclose(np.linalg.norm(eye, axis=-1), radius, rtol=1e-5)
    cams = _make_camera(yaw, pitch, radius, 0.3)
    np.testing.assert_allclose(cams.cam2world[:, :3, 3], eye, atol=1e-6)

  def test_front_camera_sits_on_plus_z(self):
    cams = _make_camera(np.zeros(1), 0.0, 2.5, 0.3)
    c2w = np.asarray(cams.cam2world[0])
    np.testing.assert_allclose(c2w[:3, 3], [0.0, 0.0, 2.5], atol=1e-6)
    # Camera frame equals the world frame: x right, y up, looking along -z.
    np.testing.assert_allclose(c2w[:3, :3], np.eye(3), atol=1e-6)

  def test_positive_yaw_moves_towards_plus_x(self):
    yaw = np.array([-0.5, -0.1, 0.1, 0.5], np.float32)
    eye = np.asarray(_make_camera(yaw, 0.0, 2.0, 0.3).cam2world[:, :3, 3])
    np.testing.assert_array_equal(np.sign(eye[:, 0]), np.sign(yaw))
    np.testing.assert_allclose(eye[:, 1], 0.0, atol=1e-6)
    self.assertTrue(np.all(np.diff(eye[:, 0]) > 0))

  def test_positive_pitch_moves_up_and_looks_down(self):
    pitch = np.array([-0.4, -0.1, 0.1, 0.4], np.float32)
    cams = _make_camera(np.full(4, 0.3, np.float32), pitch, 2.0, 0.3)
    c2w = np.asarray(cams.cam2world)
    np.testing.assert_array_equal(np.sign(c2w[:, 1, 3]), np.sign(pitch))
    forward_y = -c2w[:, 1, 2]
    np.testing.assert_array_equal(np.sign(forward_y), -np.sign(pitch))
    np.testing.assert_allclose(c2w[:, 1, 3], 2.0 * np.sin(pitch), atol=1e-6)

  def test_make_camera_broadcasts_fields(self):
    cams = _make_camera(np.zeros(5), 0.1, 2.0, 0.2)
    chex.assert_shape([cams.yaw, cams.pitch, cams.radius, cams.fov], (5,))
    chex.assert_shape(cams.cam2world, (5, 4, 4))
    np.testing.assert_allclose(cams.fov, 0.2)
    np.testing.assert_allclose(cams.radius, 2.0)


class FractionTest(parameterized.TestCase):

  def test_yaw_round_trip(self):
    u = np.linspace(0.0, 1.0, 11, dtype=np.float32)
    np.testing.assert_allclose(
        camera.yaw_to_fraction(camera.fraction_to_yaw(u)), u, atol=1e-6
    )
    yaw = np.linspace(-3.0, 3.0, 13, dtype=np.float32)
    np.testing.assert_allclose(
        camera.fraction_to_yaw(camera.yaw_to_fraction(yaw)), yaw, atol=1e-5
    )

  def test_pitch_round_trip(self):
    v = np.linspace(0.01, 0.99, 11, dtype=np.float32)
    np.testing.assert_allclose(
        camera.pitch_to_fraction(camera.fraction_to_pitch(v)), v, atol=1e-5
    )
    pitch = np.linspace(-1.4, 1.4, 13, dtype=np.float32)
    np.testing.assert_allclose(
        camera.fraction_to_pitch(camera.pitch_to_fraction(pitch)),
        pitch,
        atol=1e-4,
    )

  @parameterized.parameters(
      (0.5, 0.0),
      (0.40278, -35.0),
      (0.59722, 35.0),
      (0.25, -90.0),
  )
  def test_giraffe_azimuth(self, u, yaw_degrees):
    self.assertAlmostEqual(
        float(np.rad2deg(camera.fraction_to_yaw(u))), yaw_degrees, delta=0.01
    )

  @parameterized.parameters(
      (0.5, 0.0),
      (0.4167, 9.6),
      (0.0, 90.0),
      (1.0, -90.0),
  )
  def test_giraffe_elevation(self, v, pitch_degrees):
    self.assertAlmostEqual(
        float(np.rad2deg(camera.fraction_to_pitch(v))),
        pitch_degrees,
        delta=0.02,
    )

  def test_elevation_matches_giraffe_sphere(self):
    # GIRAFFE puts a camera at polar angle arccos(1 - 2v) from the up axis,
    # so its height over the equator is radius * (1 - 2v).
    v = np.linspace(0.05, 0.95, 10)
    pitch = camera.fraction_to_pitch(v.astype(np.float32))
    np.testing.assert_allclose(pitch, np.arcsin(1.0 - 2.0 * v), atol=1e-5)
    eye = camera.camera_position(np.zeros_like(pitch), pitch, 3.0)
    np.testing.assert_allclose(eye[:, 1], 3.0 * (1.0 - 2.0 * v), atol=1e-5)


class PriorTest(absltest.TestCase):

  def test_sample_poses_stay_in_prior(self):
    config = _camera_config()
    config.radius_range = (2.0, 3.0)
    batch = 256
    cams = jax.jit(lambda key: camera.sample_poses(key, batch, config))(
        jax.random.key(0)
    )
    chex.assert_shape([cams.yaw, cams.pitch, cams.radius, cams.fov], (batch,))
    chex.assert_shape(cams.cam2world, (batch, 4, 4))
    yaw_lo, yaw_hi = np.asarray(
        camera.fraction_to_yaw(np.asarray(config.azimuth_range, np.float32))
    )
    # Elevation fraction 0.4167 is above the equator (larger pitch) than 0.5.
    pitch_hi, pitch_lo = np.asarray(
        camera.fraction_to_pitch(np.asarray(config.elevation_range, np.float32))
    )
    eps = 1e-5
    yaw, pitch, radius = map(np.asarray, (cams.yaw, cams.pitch, cams.radius))
    self.assertTrue(np.all((yaw >= yaw_lo - eps) & (yaw <= yaw_hi + eps)))
    self.assertTrue(
        np.all((pitch >= pitch_lo - eps) & (pitch <= pitch_hi + eps))
    )
    self.assertTrue(np.all((radius >= 2.0) & (radius <= 3.0)))
    # The draws cover the prior, not a corner of it.
    for values, lo, hi in (
        (yaw, yaw_lo, yaw_hi),
        (pitch, pitch_lo, pitch_hi),
        (radius, 2.0, 3.0),
    ):
      span = hi - lo
      self.assertLess(values.min(), lo + 0.1 * span)
      self.assertGreater(values.max(), hi - 0.1 * span)
    np.testing.assert_allclose(
        cams.fov, np.deg2rad(config.fov_degrees), rtol=1e-6
    )
    np.testing.assert_allclose(
        np.linalg.norm(cams.cam2world[:, :3, 3], axis=-1), radius, rtol=1e-5
    )

  def test_sample_poses_depends_on_key(self):
    config = _camera_config()
    sample = jax.jit(lambda key: camera.sample_poses(key, 8, config))
    a = sample(jax.random.key(0))
    b = sample(jax.random.key(0))
    c = sample(jax.random.key(1))
    chex.assert_trees_all_equal(a, b)
    self.assertFalse(np.allclose(a.yaw, c.yaw))

  def test_orbit_left_to_right_over_range(self):
    config = _camera_config()
    config.radius_range = (2.0, 3.0)
    num_views = 7
    cams = jax.jit(lambda: camera.orbit(num_views, config))()
    chex.assert_shape(cams.cam2world, (num_views, 4, 4))
    yaw = np.asarray(cams.yaw)
    self.assertTrue(np.all(np.diff(yaw) > 0))
    self.assertTrue(np.all(np.diff(cams.cam2world[:, 0, 3]) > 0))
    np.testing.assert_allclose(
        yaw[[0, -1]], np.deg2rad([-35.0, 35.0]), atol=np.deg2rad(0.01)
    )
    np.testing.assert_allclose(np.diff(yaw), np.diff(yaw)[0], atol=1e-5)
    middle_v = 0.5 * sum(config.elevation_range)
    np.testing.assert_allclose(
        cams.pitch, np.arcsin(1.0 - 2.0 * middle_v), atol=1e-5
    )
    np.testing.assert_allclose(cams.radius, 2.5, atol=1e-6)

  def test_orbit_explicit_pitch(self):
    config = _camera_config()
    cams = jax.jit(lambda: camera.orbit(3, config, pitch=0.2))()
    np.testing.assert_allclose(cams.pitch, 0.2, atol=1e-7)
    np.testing.assert_allclose(
        cams.cam2world[:, 1, 3], 2.732 * np.sin(0.2), atol=1e-5
    )


if __name__ == "__main__":
  absltest.main()
