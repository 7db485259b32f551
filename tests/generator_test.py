"""Tests for the generator that chains stages 1-5 (jaxface.generator)."""

import pathlib
import runpy

from absl.testing import absltest
from absl.testing import parameterized
import chex
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from jaxface import camera
from jaxface import errors
from jaxface import generator
from jaxface import rays as rays_lib
from jaxface import structs
from tests import testing_utils

_CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
_BATCH = 2
_make_camera = jax.jit(camera.make_camera)
_pixel_rays = jax.jit(rays_lib.pixel_rays, static_argnums=(1, 2))
_ray_box_interval = jax.jit(rays_lib.ray_box_interval)


def _config(name="tiny", **render):
  config = runpy.run_path(str(_CONFIGS / f"{name}.py"))["get_config"]()
  config.render.update(render)
  return config


def _scene(config, batch=_BATCH, seed=0, fov_degrees=None):
  """Latents and cameras drawn from the priors (numpy, nothing to compile)."""
  rng = np.random.default_rng(seed)
  fc, cc = config.field, config.camera
  latents = structs.Latents(
      *[
          rng.normal(size=(batch, dim)).astype(np.float32)
          for dim in (
              fc.z_shape_dim,
              fc.z_app_dim,
              fc.z_bg_shape_dim,
              fc.z_bg_app_dim,
          )
      ]
  )
  u = rng.uniform(*cc.azimuth_range, batch).astype(np.float32)
  v = rng.uniform(*cc.elevation_range, batch).astype(np.float32)
  radius = rng.uniform(*cc.radius_range, batch).astype(np.float32)
  fov = np.deg2rad(cc.fov_degrees if fov_degrees is None else fov_degrees)
  cams = _make_camera(
      camera.fraction_to_yaw(u), camera.fraction_to_pitch(v), radius, fov
  )
  return latents, cams


def _init_generator(config, seed=0):
  """A generator with random (LeCun-normal-like) parameters.

  The parameters are drawn in numpy into the abstract module: the properties
  tested hold for any parameters, and this avoids compiling the initialisers.
  """
  return testing_utils.random_module(
      lambda: generator.Generator(config, rngs=nnx.Rngs(0)),
      seed=seed,
  )


def _box_interval(g, cams):
  """(rays, t_enter, t_exit, hit) for the generator's padded object box."""
  rays = _pixel_rays(cams, g.feature_size, g.feature_size)
  half = g.object_scale * (1.0 + g.box_padding)
  t_enter, t_exit, hit = _ray_box_interval(rays, half, g.near, g.far)
  return rays, t_enter, t_exit, hit


def _empty_field(g):
  """Makes the object field transparent everywhere."""
  layer = g.field.density_out
  layer.kernel[...] = jnp.zeros_like(layer.kernel[...])
  layer.bias[...] = jnp.full_like(layer.bias[...], -1e4)


class GeneratorShapeTest(parameterized.TestCase):

  def test_sample_latents(self):
    config = _config()
    latents = generator.sample_latents(jax.random.key(0), 3, config.field)
    fc = config.field
    chex.assert_shape(latents.z_shape, (3, fc.z_shape_dim))
    chex.assert_shape(latents.z_app, (3, fc.z_app_dim))
    chex.assert_shape(latents.z_bg_shape, (3, fc.z_bg_shape_dim))
    chex.assert_shape(latents.z_bg_app, (3, fc.z_bg_app_dim))
    self.assertFalse(np.allclose(latents.z_shape[0], latents.z_shape[1]))

  @parameterized.parameters(("tiny", "mlp"), ("small_cpu", "mlp"),
                            ("celeba64", "mlp"), ("small_cpu", "triplane"),
                            ("celeba64", "triplane"))
  def test_output_shapes_per_config(self, name, kind):
    # Traced only (no compilation), so the large configs stay cheap.
    config = _config(name)
    config.field.kind = kind
    abstract = nnx.eval_shape(
        lambda: generator.Generator(config, rngs=nnx.Rngs(0))
    )
    graphdef, state = nnx.split(abstract)
    latents, cams = _scene(config)

    def render(state, latents, cams):
      return nnx.merge(graphdef, state)(latents, cams, jax.random.key(0))

    out = jax.eval_shape(render, state, latents, cams)
    size = config.data.image_size
    fsize = config.render.feature_size
    chex.assert_shape(out.images, (_BATCH, size, size, 3))
    chex.assert_shape(
        out.features, (_BATCH, fsize, fsize, config.field.feature_dim)
    )
    chex.assert_shape([out.depth, out.opacity], (_BATCH, fsize, fsize))

  def test_unknown_field_kind_is_refused(self):
    config = _config()
    config.field.kind = "octree"
    with self.assertRaisesRegex(errors.ConfigError, "field.kind.*octree"):
      generator.Generator(config, rngs=nnx.Rngs(0))


@nnx.jit
def _render(g, latents, cams, depth_key):
  return g(latents, cams, depth_key)


@nnx.jit
def _background(g, directions, latents):
  return g.background(directions, latents.z_bg_shape, latents.z_bg_app)


@nnx.jit
def _upsample(g, features):
  return g.renderer(features)


class GeneratorRenderTest(parameterized.TestCase):
  """Renders the tiny config; compiled once per configuration and key kind."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.config = _config()
    assert cls.config.render.sample_in_box
    cls.box = _init_generator(cls.config)
    # GIRAFFE's setting: all of [near, far] sampled, relu density.
    cls.full = _init_generator(
        _config(sample_in_box=False, density_activation="relu", num_samples=16)
    )
    # A positive density bias so that the object is visible under relu.
    cls.full.field.density_out.bias[...] = jnp.full((1,), 2.0)
    cls.latents, cls.cams = _scene(cls.config)
    # A wide field of view so that the border rays pass beside the box.
    cls.wide_latents, cls.wide_cams = _scene(
        cls.config, seed=1, fov_degrees=30.0
    )

  def _check_ranges(self, g, out, cams):
    size, fsize = self.config.data.image_size, self.config.render.feature_size
    chex.assert_shape(out.images, (_BATCH, size, size, 3))
    chex.assert_shape(
        out.features, (_BATCH, fsize, fsize, self.config.field.feature_dim)
    )
    chex.assert_shape([out.depth, out.opacity], (_BATCH, fsize, fsize))
    chex.assert_tree_all_finite(out)
    images, opacity = np.asarray(out.images), np.asarray(out.opacity)
    self.assertTrue(np.all((images >= 0) & (images <= 1)))
    self.assertTrue(np.all((opacity >= 0) & (opacity <= 1)))
    rays, t_enter, t_exit, hit = _box_interval(g, cams)
    z = np.asarray(rays.z_scale).reshape(out.depth.shape)
    depth = np.asarray(out.depth)
    eps = 1e-4
    self.assertTrue(np.all(depth >= g.near * z - eps))
    self.assertTrue(np.all(depth <= g.far * z + eps))
    if g.sample_in_box:
      t_enter = np.asarray(t_enter).reshape(depth.shape)
      t_exit = np.asarray(t_exit).reshape(depth.shape)
      self.assertTrue(np.all(depth >= t_enter * z - eps))
      self.assertTrue(np.all(depth <= t_exit * z + eps))
    # Only rays that cross the object box can be opaque.
    hit = np.asarray(hit).reshape(opacity.shape)
    np.testing.assert_array_equal(opacity[~hit], 0.0)
    # The visible matter lies inside the box, even where the expected depth
    # (which counts the transparent remainder at `far`) does not.
    visible = opacity > 1e-2
    self.assertTrue(visible.any())
    surface = np.asarray(out.surface_depth)[visible]
    box_enter = (np.asarray(t_enter).reshape(depth.shape) * z)[visible]
    box_exit = (np.asarray(t_exit).reshape(depth.shape) * z)[visible]
    self.assertTrue(np.all(surface >= box_enter - 1e-3))
    self.assertTrue(np.all(surface <= box_exit + 1e-3))

  def test_output_ranges_sampling_in_box(self):
    for cams, latents in (
        (self.cams, self.latents),
        (self.wide_cams, self.wide_latents),
    ):
      out = _render(self.box, latents, cams, jax.random.key(1))
      self._check_ranges(self.box, out, cams)

  def test_output_ranges_sampling_full_range(self):
    for cams, latents in (
        (self.cams, self.latents),
        (self.wide_cams, self.wide_latents),
    ):
      out = _render(self.full, latents, cams, None)
      self._check_ranges(self.full, out, cams)

  def test_rays_missing_box_are_transparent(self):
    g, cams = self.box, self.wide_cams
    out = _render(g, self.wide_latents, cams, jax.random.key(2))
    rays, _, _, hit = _box_interval(g, cams)
    hit = np.asarray(hit).reshape(out.opacity.shape)
    self.assertTrue(np.any(hit) and np.any(~hit))
    opacity = np.asarray(out.opacity)
    np.testing.assert_array_equal(opacity[~hit], 0.0)
    self.assertTrue(np.all(opacity[hit] > 0.0))
    # A ray that sees only background is at the far end of its interval.
    z = np.asarray(rays.z_scale).reshape(opacity.shape)
    np.testing.assert_allclose(out.depth[~hit], g.far * z[~hit], rtol=1e-5)

  def test_empty_field_renders_background(self):
    g = nnx.clone(self.box)
    _empty_field(g)
    latents, cams = self.wide_latents, self.wide_cams
    out = _render(g, latents, cams, jax.random.key(3))
    np.testing.assert_array_equal(out.opacity, 0.0)
    rays, _, t_exit, _ = _box_interval(g, cams)
    background = _background(g, rays.directions, latents)
    fsize = self.config.render.feature_size
    background = np.asarray(background).reshape(_BATCH, fsize, fsize, -1)
    np.testing.assert_allclose(out.features, background, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        out.depth, np.reshape(t_exit * rays.z_scale, out.depth.shape), rtol=1e-5
    )
    np.testing.assert_allclose(
        out.images, _upsample(g, out.features), atol=1e-6
    )
    # The unmodified field is not empty, so the check above can fail.
    self.assertGreater(
        float(
            np.max(_render(self.box, latents, cams, jax.random.key(3)).opacity)
        ),
        0.1,
    )

  def test_skipping_empty_samples_changes_nothing(self):
    # Evaluating only the bins that can meet the box must give the image of
    # evaluating all of them (the others have zero density).
    dense = _init_generator(
        _config(
            sample_in_box=False,
            density_activation="relu",
            num_samples=16,
            skip_empty_samples=False,
        )
    )
    nnx.update(dense, nnx.state(self.full))
    self.assertIsNotNone(self.full.window)
    self.assertIsNone(dense.window)
    for cams, latents, key in (
        (self.cams, self.latents, None),
        (self.wide_cams, self.wide_latents, None),
        (self.wide_cams, self.wide_latents, jax.random.key(6)),
    ):
      windowed = _render(self.full, latents, cams, key)
      self.assertGreater(float(np.max(windowed.opacity)), 0.1)
      chex.assert_trees_all_close(
          windowed, _render(dense, latents, cams, key), atol=1e-5, rtol=1e-5
      )

  def test_density_scale_raises_transmittance_to_its_power(self):
    # Explicit scales: the tiny config inherits the demo's.
    base = _init_generator(_config(density_scale=1.0))
    nnx.update(base, nnx.state(self.box))
    scaled = _init_generator(_config(density_scale=3.0))
    nnx.update(scaled, nnx.state(self.box))
    points = jnp.asarray(np.random.default_rng(2).uniform(
        -0.2, 0.2, (_BATCH, 64, 3)).astype(np.float32))
    density = np.asarray(base.density(points, self.latents))
    self.assertGreater(density.max(), 0.0)
    np.testing.assert_allclose(scaled.density(points, self.latents),
                               3.0 * density, rtol=1e-5)
    # exp(-sum 3 sigma delta) = exp(-sum sigma delta)^3 along every ray.
    one = _render(base, self.latents, self.cams, None)
    three = _render(scaled, self.latents, self.cams, None)
    self.assertGreater(float(np.max(one.opacity)), 0.1)
    np.testing.assert_allclose(1.0 - three.opacity,
                               (1.0 - one.opacity) ** 3, atol=1e-5)

  def test_deterministic_without_depth_key(self):
    g = self.full
    first = _render(g, self.latents, self.cams, None)
    chex.assert_trees_all_equal(
        first, _render(g, self.latents, self.cams, None)
    )

  def test_depth_key_jitters_samples(self):
    g = self.box
    out = _render(g, self.latents, self.cams, jax.random.key(5))
    chex.assert_trees_all_equal(
        out, _render(g, self.latents, self.cams, jax.random.key(5))
    )
    jittered = _render(g, self.latents, self.cams, jax.random.key(4))
    self.assertGreater(
        float(np.max(np.abs(jittered.features - out.features))), 1e-6
    )

  def test_appearance_code_changes_colour_not_opacity(self):
    g = self.full
    out = _render(g, self.latents, self.cams, None)
    other = self.latents.replace(z_app=self.latents.z_app + 1.0)
    changed = _render(g, other, self.cams, None)
    np.testing.assert_allclose(changed.opacity, out.opacity, atol=1e-6)
    self.assertGreater(float(np.max(np.abs(changed.images - out.images))), 1e-6)


if __name__ == "__main__":
  absltest.main()
