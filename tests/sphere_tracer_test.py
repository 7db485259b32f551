"""Tests of the sphere tracer: exact geometry on a sphere, mask/depth
consistency and mirror symmetry of rendered heads."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from jaxface import camera
from jaxface import rays as rays_lib
from jaxface.data import head_model
from jaxface.data import sphere_tracer
from jaxface.data import synthetic_faces

_RADIUS = 0.15
_SIZE = 32


def _sphere_sdf(scene, x, y, z):
  return jnp.sqrt(x * x + y * y + z * z) - scene["radius"]


def _flat_material(scene, x, y, z):
  del scene
  grey = jnp.full_like(x, 0.5)
  return (grey, grey, grey), jnp.zeros_like(x)


@functools.partial(jax.jit, static_argnames=("supersample",))
def _render_sphere(cam, supersample):
  batch = cam.yaw.shape[0]
  scene = {"radius": jnp.full((batch,), _RADIUS)}
  return sphere_tracer.render(
      _sphere_sdf, _flat_material, scene, cam,
      sphere_tracer.symmetric_lighting(batch), _SIZE, _SIZE,
      supersample=supersample, num_steps=48, box_half_size=0.23)


def _cameras():
  return camera.make_camera(jnp.array([0.0, 0.4, -0.6]),
                            jnp.array([0.0, 0.15, 0.05]), 2.732,
                            np.deg2rad(10.0))


def _analytic_depth(cam):
  """Camera-axis depth of the ray/sphere hit per pixel, 0 on a miss."""
  r = rays_lib.pixel_rays(cam, _SIZE, _SIZE)
  b = jnp.sum(r.origins * r.directions, -1)
  c = jnp.sum(r.origins ** 2, -1) - _RADIUS ** 2
  disc = b * b - c
  t = -b - jnp.sqrt(jnp.maximum(disc, 0.0))
  depth = jnp.where(disc > 0, t * r.z_scale, 0.0)
  return np.asarray(depth.reshape(-1, _SIZE, _SIZE)), np.asarray(
      disc.reshape(-1, _SIZE, _SIZE))


class SphereTracerTest(parameterized.TestCase):

  def test_depth_matches_ray_sphere_hit(self):
    cam = _cameras()
    out = _render_sphere(cam, supersample=1)
    expected, disc = _analytic_depth(cam)
    depth, mask = np.asarray(out["depth"]), np.asarray(out["mask"])
    # Away from the silhouette (more than the hit tolerance), hit or miss
    # must agree exactly.
    pixel = 2.732 * np.tan(np.deg2rad(5.0)) * 2 / _SIZE
    clearance = np.abs(np.sqrt(np.maximum(_RADIUS ** 2 - disc, 0)) - _RADIUS)
    clear = clearance > 0.2 * pixel
    np.testing.assert_array_equal(mask[clear], expected[clear] > 0)
    both = mask & (expected > 0)
    self.assertGreater(both.sum(), 100)
    # Rays stop within a fraction of a pixel of the surface; the depth error
    # is that distance over the cosine of the incidence angle.
    cos = np.sqrt(np.maximum(disc, 0.0)) / _RADIUS
    np.testing.assert_allclose(depth[both], expected[both], atol=0.25 * pixel)
    facing = both & (cos > 0.3)
    self.assertGreater(facing.sum(), 100)
    np.testing.assert_allclose(depth[facing], expected[facing],
                               atol=0.07 * pixel)

  def test_normals_of_sphere_point_outwards(self):
    cam = _cameras()
    out = _render_sphere(cam, supersample=1)
    expected, _ = _analytic_depth(cam)
    r = rays_lib.pixel_rays(cam, _SIZE, _SIZE)
    hit = np.asarray(out["mask"]).reshape(3, -1)
    t = expected.reshape(3, -1) / np.asarray(r.z_scale)
    points = np.asarray(r.origins) + t[..., None] * np.asarray(r.directions)
    normals = np.asarray(out["normals"]).reshape(3, -1, 3)
    true = points / _RADIUS
    cos = np.sum(normals * true, -1)[hit & (expected.reshape(3, -1) > 0)]
    self.assertGreater(cos.min(), 0.99)
    np.testing.assert_array_equal(normals[~hit], 0.0)

  @parameterized.parameters(1, 2)
  def test_mask_equals_positive_depth(self, supersample):
    out = _render_sphere(_cameras(), supersample=supersample)
    np.testing.assert_array_equal(np.asarray(out["mask"]),
                                  np.asarray(out["depth"]) > 0)
    rgb = np.asarray(out["rgb"])
    self.assertEqual(rgb.shape, (3, _SIZE, _SIZE, 3))
    self.assertTrue(np.all((rgb >= 0) & (rgb <= 1)))

  def test_compaction_matches_plain_marching(self):
    cam = _cameras()
    r = rays_lib.pixel_rays(cam, _SIZE, _SIZE)
    t0, t1, _ = rays_lib.ray_box_interval(r, 0.23, 0.0, 1e4)
    sdf = lambda x, y, z: jnp.sqrt(x * x + y * y + z * z) - _RADIUS
    o = tuple(r.origins[0, :, i] for i in range(3))
    d = tuple(r.directions[0, :, i] for i in range(3))
    trace = jax.jit(functools.partial(
        sphere_tracer.trace, sdf, num_steps=48, tolerance=1e-5),
                    static_argnames="stages")
    t_a, hit_a = trace(o, d, t0[0], t1[0], stages=None)
    t_b, hit_b = trace(o, d, t0[0], t1[0], stages=((48, 1.0),))
    np.testing.assert_array_equal(hit_a, hit_b)
    np.testing.assert_allclose(t_a[hit_a], t_b[hit_b], atol=1e-5)


class HeadRenderTest(absltest.TestCase):

  def test_mirror_yaw_gives_mirror_image(self):
    ids = jnp.arange(2)
    shape, colors = synthetic_faces.identity_params(0, ids)
    shape = jax.vmap(head_model.symmetrize)(shape)
    expr = jnp.zeros((4, head_model.NUM_EXPRESSION_PARAMS))
    expr = expr.at[:, head_model.EXPRESSION_NAMES.index("smile")].set(0.5)
    theta = 0.5
    cam = camera.make_camera(jnp.array([theta, -theta, theta, -theta]), 0.1,
                             2.732, np.deg2rad(10.0))
    shape = jnp.repeat(shape, 2, axis=0)
    colors = jnp.repeat(colors, 2, axis=0)
    render = jax.jit(synthetic_faces.render_heads, static_argnums=5)
    out = render(shape, expr, colors, cam,
                 sphere_tracer.symmetric_lighting(4), _SIZE)
    rgb, mask = np.asarray(out["rgb"]), np.asarray(out["mask"])
    for a in (0, 2):
      flipped = rgb[a + 1, :, ::-1]
      self.assertLess(np.abs(rgb[a] - flipped).mean(), 2e-3)
      self.assertGreater((mask[a] == mask[a + 1, :, ::-1]).mean(), 0.995)
      # The view is not itself symmetric, so the test could fail.
      self.assertGreater(np.abs(rgb[a] - rgb[a, :, ::-1]).mean(), 0.01)
    np.testing.assert_array_equal(mask, np.asarray(out["depth"]) > 0)


if __name__ == "__main__":
  absltest.main()
