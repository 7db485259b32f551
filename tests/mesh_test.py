"""Tests for mesh extraction, colouring and export (jaxface.mesh)."""

import pathlib

from absl.testing import absltest
from flax import nnx
import jax
import numpy as np
import trimesh

from jaxface import camera
from jaxface import generator
from jaxface import mesh
from jaxface import rays as rays_lib
from jaxface import structs
from tests import testing_utils

# Jitted once so the tests hit the compilation cache instead of op-by-op.
_make_camera = jax.jit(camera.make_camera)
_pixel_rays = jax.jit(rays_lib.pixel_rays, static_argnums=(1, 2))


def _axis(resolution, half):
  return np.linspace(-half, half, resolution)


def _sphere_grid(resolution, half, radius, centre=(0.0, 0.0, 0.0)):
  """Density 5 + 10 (radius - distance), clipped at 0: level 5 is the sphere.

  Returns:
    float32 [r, r, r] on the "ij" grid of ``np.linspace(-half, half, r)``.
  """
  x, y, z = np.meshgrid(*[_axis(resolution, half)] * 3, indexing="ij")
  distance = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2
                     + (z - centre[2]) ** 2)
  return np.maximum(5.0 + 10.0 * (radius - distance), 0.0).astype(np.float32)


def _signed_volume(vertices, faces):
  """Divergence theorem; positive iff the closed mesh's normals point out."""
  a, b, c = (vertices[faces[:, i]].astype(np.float64) for i in range(3))
  return np.sum(np.einsum("fi,fi->f", a, np.cross(b, c))) / 6.0


class ExtractMeshTest(absltest.TestCase):

  def test_sphere(self):
    resolution, half, radius = 40, 1.0, 0.6
    voxel = 2 * half / (resolution - 1)
    vertices, faces = mesh.extract_mesh(
        _sphere_grid(resolution, half, radius), 5.0, half)
    self.assertEqual(vertices.dtype, np.float32)
    self.assertEqual(faces.dtype, np.int32)
    self.assertTrue(trimesh.Trimesh(vertices, faces, process=False)
                    .is_watertight)
    radii = np.linalg.norm(vertices, axis=-1)
    np.testing.assert_allclose(radii, radius, atol=voxel)
    exact = 4.0 / 3.0 * np.pi * radius ** 3
    self.assertAlmostEqual(_signed_volume(vertices, faces) / exact, 1.0,
                           delta=0.03)
    normals = mesh.vertex_normals(vertices, faces)
    outward = np.einsum("vi,vi->v", normals, vertices) > 0
    self.assertGreater(outward.mean(), 0.99)

  def test_vertex_normals_are_radial_on_sphere(self):
    vertices, faces = mesh.extract_mesh(_sphere_grid(32, 1.0, 0.6), 5.0, 1.0)
    normals = mesh.vertex_normals(vertices, faces)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0,
                               atol=1e-5)
    radial = vertices / np.linalg.norm(vertices, axis=-1, keepdims=True)
    cosines = np.einsum("vi,vi->v", normals, radial)
    self.assertGreater(cosines.min(), 0.95)

  def test_sphere_cut_by_box_is_closed(self):
    resolution, half = 32, 1.0
    voxel = 2 * half / (resolution - 1)
    grid = _sphere_grid(resolution, half, 0.6, centre=(0.0, 0.0, 0.8))
    self.assertGreater(grid[:, :, -1].max(), 5.0)  # the box really cuts it
    vertices, faces = mesh.extract_mesh(grid, 5.0, half)
    self.assertTrue(trimesh.Trimesh(vertices, faces, process=False)
                    .is_watertight)
    self.assertGreater(_signed_volume(vertices, faces), 0.0)
    # The cap closing the cut lies between the last grid plane and the pad.
    self.assertGreater(vertices[:, 2].max(), half)
    self.assertLessEqual(vertices[:, 2].max(), half + voxel + 1e-5)

  def test_keeps_largest_blob(self):
    resolution, half = 40, 1.0
    big = _sphere_grid(resolution, half, 0.4, centre=(-0.45, 0.0, 0.0))
    small = _sphere_grid(resolution, half, 0.2, centre=(0.55, 0.0, 0.0))
    vertices, faces = mesh.extract_mesh(np.maximum(big, small), 5.0, half)
    self.assertLess(vertices[:, 0].max(), 0.0)  # nothing of the small one
    self.assertTrue(trimesh.Trimesh(vertices, faces, process=False)
                    .is_watertight)
    self.assertEqual(faces.max(), len(vertices) - 1)  # no unused vertices
    exact = 4.0 / 3.0 * np.pi * 0.4 ** 3
    self.assertAlmostEqual(_signed_volume(vertices, faces) / exact, 1.0,
                           delta=0.05)

  def test_no_surface_raises(self):
    grid = _sphere_grid(16, 1.0, 0.5)
    with self.assertRaisesRegex(ValueError, "no surface"):
      mesh.extract_mesh(grid, float(grid.max()) + 1.0, 1.0)
    with self.assertRaisesRegex(ValueError, "no surface"):
      mesh.extract_mesh(np.zeros((8, 8, 8), np.float32), 1.0, 1.0)


class ThresholdTest(absltest.TestCase):

  def test_bin_half_opaque(self):
    config = testing_utils.load_config("celeba64")
    rc = config.render
    level = mesh.default_threshold(config)
    bin_width = (rc.far - rc.near) / rc.num_samples
    self.assertFalse(rc.sample_in_box)
    self.assertAlmostEqual(1.0 - np.exp(-level * bin_width), 0.5, places=6)

  def test_in_box_sampling_uses_box_edge(self):
    config = testing_utils.load_config("small_cpu")
    rc = config.render
    self.assertTrue(rc.sample_in_box)
    edge = 2 * rc.object_scale * (1 + rc.box_padding)
    level = mesh.default_threshold(config)
    self.assertAlmostEqual(
        1.0 - np.exp(-level * edge / rc.num_samples), 0.5, places=6)

  def test_override(self):
    config = testing_utils.load_config("tiny")
    self.assertEqual(mesh.default_threshold(config, threshold=3), 3.0)


class VertexColorsTest(absltest.TestCase):

  def test_picks_most_frontal_view(self):
    vertices, faces = mesh.extract_mesh(_sphere_grid(24, 0.3, 0.2), 5.0, 0.3)
    normals = mesh.vertex_normals(vertices, faces)
    cams = _make_camera(np.array([-0.6, 0.0, 0.6]), 0.0, 2.7,
                              np.deg2rad(10.0))
    palette = np.array([[200, 0, 0], [0, 200, 0], [0, 0, 200]], np.uint8)
    images = np.broadcast_to(palette[:, None, None], (3, 16, 16, 3))
    colors = mesh.vertex_colors(vertices, normals, images, cams)
    self.assertEqual(colors.dtype, np.uint8)
    self.assertEqual(colors.shape, vertices.shape)
    front = normals[:, 2] > 0.95
    plus_x = normals[:, 0] > 0.95
    minus_x = normals[:, 0] < -0.95
    back = normals[:, 2] < -0.95
    for mask in (front, plus_x, minus_x, back):
      self.assertGreater(mask.sum(), 0)
    np.testing.assert_array_equal(colors[front], palette[[1]].repeat(
        front.sum(), 0))
    # Positive yaw moves the camera towards +x.
    np.testing.assert_array_equal(colors[plus_x], palette[[2]].repeat(
        plus_x.sum(), 0))
    np.testing.assert_array_equal(colors[minus_x], palette[[0]].repeat(
        minus_x.sum(), 0))
    # Seen by no camera: still coloured, from one of the side views.
    self.assertTrue(np.all(colors[back].max(axis=-1) == 200))
    self.assertFalse(np.any(np.all(colors[back] == palette[1], axis=-1)))

  def test_vertex_on_pixel_ray_gets_pixel_colour(self):
    size, row, col = 16, 3, 11
    cams = _make_camera(np.array([0.4]), np.array([0.15]), 2.7,
                              np.deg2rad(12.0))
    rays = _pixel_rays(cams, size, size)
    index = row * size + col
    origin = np.asarray(rays.origins[0, index])
    direction = np.asarray(rays.directions[0, index])
    vertex = origin + 2.6 * direction
    image = np.zeros((1, size, size, 3), np.uint8)
    image[0, row, col] = (255, 128, 7)
    colors = mesh.vertex_colors(vertex[None], -direction[None], image, cams)
    np.testing.assert_array_equal(colors[0], [255, 128, 7])
    # Pixel centres of a twice finer image sit at quarter pixels of this one:
    # fine (2 row + 2, 2 col + 1) is at (row + 0.75, col + 0.25), where the
    # bilinear weight of the marked pixel is 0.25 * 0.75.
    fine = _pixel_rays(cams, 2 * size, 2 * size)
    index = (2 * row + 2) * 2 * size + 2 * col + 1
    vertex = np.asarray(fine.origins[0, index]
                        + 2.6 * fine.directions[0, index])
    colors = mesh.vertex_colors(vertex[None], -direction[None], image, cams)
    np.testing.assert_allclose(colors[0], 0.1875 * np.array([255, 128, 7]),
                               atol=0.6)


def _depth_every_ray_every_triangle(vertices, faces, cameras, size):
  """The reference: no candidate selection, every (pixel, face) pair."""
  triangles = np.asarray(vertices, np.float64)[np.asarray(faces)]
  ray_batch = rays_lib.pixel_rays(cameras, size, size)
  depth = []
  for i in range(ray_batch.origins.shape[0]):
    directions = np.asarray(ray_batch.directions[i], np.float64)
    pixels, faces_ = np.meshgrid(np.arange(len(directions)),
                                 np.arange(len(triangles)), indexing="ij")
    t = mesh._hits(  # pylint: disable=protected-access
        np.asarray(ray_batch.origins[i, 0], np.float64),
        directions[pixels.ravel()], triangles[faces_.ravel()])
    nearest = t.reshape(len(directions), len(triangles)).min(1)
    depth.append(nearest * np.asarray(ray_batch.z_scale[i]))
  depth = np.stack(depth).reshape(-1, size, size)
  return np.where(np.isfinite(depth), depth, np.nan)


class RenderDepthTest(absltest.TestCase):

  def test_projected_boxes_equal_every_ray_against_every_triangle(self):
    # Small faces (a fine sphere) and faces wider than max_extent (a box
    # of 12 triangles), seen from three poses.
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    box = trimesh.creation.box(extents=(0.5, 0.3, 0.1))
    combined = trimesh.util.concatenate(
        [sphere, box.apply_translation((0.05, -0.02, 0.25))])
    cams = camera.make_camera(np.array([0.0, 0.35, -0.5]),
                              np.array([0.0, 0.15, -0.1]), 2.7,
                              np.radians(10.0))
    fast = mesh.render_depth(combined.vertices, combined.faces, cams, 24,
                             max_extent=3)
    reference = _depth_every_ray_every_triangle(combined.vertices,
                                                combined.faces, cams, 24)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(reference))
    self.assertGreater(np.isfinite(fast).mean(), 0.3)
    self.assertGreater(np.isnan(fast).mean(), 0.05)
    np.testing.assert_allclose(fast, reference, atol=1e-5)


class DensityGridTest(absltest.TestCase):

  def test_matches_field_and_chunking(self):
    config = testing_utils.load_config("tiny")
    model = testing_utils.random_module(
        lambda: generator.Generator(config, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(model)
    params = nnx.to_pure_dict(state)
    rng = np.random.default_rng(0)
    fc = config.field
    latents = structs.Latents(
        *[rng.normal(size=(1, dim)).astype(np.float32)
          for dim in (fc.z_shape_dim, fc.z_app_dim, fc.z_bg_shape_dim,
                      fc.z_bg_app_dim)])
    resolution = 12
    grid = mesh.density_grid(graphdef, params, latents, resolution,
                             chunk=500)  # 1728 points: a padded last chunk
    self.assertEqual(grid.shape, (resolution,) * 3)
    self.assertEqual(grid.dtype, np.float32)
    self.assertTrue(np.all(grid >= 0))
    self.assertGreater(grid.std(), 0)
    whole = mesh.density_grid(graphdef, params, latents, resolution)
    np.testing.assert_allclose(grid, whole, rtol=1e-5, atol=1e-6)

    half = rays_lib.box_half_size(config.render)
    axis = _axis(resolution, half)
    picks = rng.integers(0, resolution, size=(6, 3))
    picks[0] = (0, resolution - 1, 0)  # a corner of the box is inside
    points = axis[picks] / config.render.object_scale
    directions = np.broadcast_to([0.0, 0.0, -1.0], points.shape)
    raw, _ = model.field(points[None].astype(np.float32),
                         directions[None].astype(np.float32),
                         latents.z_shape, latents.z_app)
    activation = {"relu": jax.nn.relu, "softplus": jax.nn.softplus}[
        config.render.density_activation]
    expected = config.render.density_scale * activation(np.asarray(raw[0]))
    np.testing.assert_allclose(grid[tuple(picks.T)], expected, rtol=1e-4,
                               atol=1e-6)


class WriteMeshTest(absltest.TestCase):

  def test_round_trip(self):
    vertices, faces = mesh.extract_mesh(_sphere_grid(16, 1.0, 0.6), 5.0, 1.0)
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, size=vertices.shape).astype(np.uint8)
    stem = pathlib.Path(self.create_tempdir().full_path) / "face"
    paths = mesh.write_mesh(stem, vertices, faces, colors)
    self.assertEqual(paths, {"ply": f"{stem}.ply", "obj": f"{stem}.obj"})
    self.assertEqual(sorted(p.name for p in stem.parent.iterdir()),
                     ["face.obj", "face.ply"])  # no temporaries left
    obj_text = pathlib.Path(paths["obj"]).read_text()
    first_vertex = next(line for line in obj_text.splitlines()
                        if line.startswith("v "))
    self.assertLen(first_vertex.split(), 7)  # v x y z r g b
    for path in paths.values():
      loaded = trimesh.load(path, process=False)
      self.assertLen(loaded.vertices, len(vertices))
      np.testing.assert_allclose(loaded.vertices, vertices, atol=1e-6)
      np.testing.assert_array_equal(loaded.faces, faces)
      loaded_colors = loaded.visual.vertex_colors[:, :3].astype(int)
      np.testing.assert_allclose(loaded_colors, colors, atol=1)


if __name__ == "__main__":
  absltest.main()


class SurfaceLevelTest(absltest.TestCase):

  def test_median_density_at_the_rendered_depth(self):
    config = testing_utils.load_config("tiny")
    model = testing_utils.random_module(
        lambda: generator.Generator(config, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(model)
    params = nnx.to_pure_dict(state)
    fc = config.field
    rng = np.random.default_rng(1)
    latents = structs.Latents(
        *[rng.normal(size=(1, dim)).astype(np.float32)
          for dim in (fc.z_shape_dim, fc.z_app_dim, fc.z_bg_shape_dim,
                      fc.z_bg_app_dim)])
    radius, fov, side = 2.732, np.deg2rad(10.0), 4
    cams = camera.make_camera(np.zeros(1), 0.0, radius, fov)
    # Every pixel's expected depth on the plane z = 0 through the origin.
    depth = np.full((1, side, side), radius, np.float32)
    opacity = np.ones((1, side, side), np.float32)
    level = mesh.surface_level(graphdef, params, latents, depth, opacity,
                               cams)
    # Independently: the camera on +z sees (x, y, 0) at pixel centres.
    ndc = (np.arange(side) + 0.5) / side * 2 - 1
    xs, ys = np.meshgrid(ndc, -ndc)
    extent = np.tan(fov / 2) * radius
    points = np.stack([xs * extent, ys * extent, 0 * xs], -1).reshape(-1, 3)
    raw, _ = model.field(
        (points / config.render.object_scale)[None].astype(np.float32),
        np.broadcast_to([0.0, 0.0, -1.0], (1,) + points.shape).astype(
            np.float32), latents.z_shape, latents.z_app)
    activation = {"relu": jax.nn.relu, "softplus": jax.nn.softplus}[
        config.render.density_activation]
    inside = np.all(np.abs(points / config.render.object_scale)
                    <= 1 + config.render.box_padding, -1)
    expected = np.median(np.where(
        inside, config.render.density_scale * activation(np.asarray(raw[0])),
        0))
    self.assertAlmostEqual(level, float(expected), places=4)
    # Transparent renders say nothing about the surface.
    self.assertIsNone(mesh.surface_level(graphdef, params, latents, depth,
                                         0.3 * opacity, cams))
