"""Tests for the positional encoding and the feature fields."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from jaxface import field
from tests import testing_utils

_BATCH, _POINTS = 2, 5
_Z_SHAPE, _Z_APP, _FEATURES = 6, 4, 7


def _encoding_reference(x, num_freqs):
  """[sin(2^k pi x_d)] then [cos(2^k pi x_d)], frequency-major."""
  x = np.asarray(x, np.float64)
  dims = x.shape[-1]
  out = np.zeros(x.shape[:-1] + (2 * num_freqs * dims,))
  for k in range(num_freqs):
    for d in range(dims):
      angle = 2.0**k * np.pi * x[..., d]
      out[..., k * dims + d] = np.sin(angle)
      out[..., num_freqs * dims + k * dims + d] = np.cos(angle)
  return out


def _make_field(view_freqs=2, skips=(1,), num_layers=3):
  return testing_utils.random_module(
      lambda: field.FeatureField(
          hidden=16,
          num_layers=num_layers,
          skips=skips,
          pos_freqs=3,
          view_freqs=view_freqs,
          z_shape_dim=_Z_SHAPE,
          z_app_dim=_Z_APP,
          feature_dim=_FEATURES,
          rngs=nnx.Rngs(0),
      )
  )


@nnx.jit
def _apply(module, *args):
  return module(*args)


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  points = rng.uniform(-1, 1, (_BATCH, _POINTS, 3)).astype(np.float32)
  dirs = rng.normal(size=(_BATCH, _POINTS, 3))
  dirs = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
  z_shape = rng.normal(size=(_BATCH, _Z_SHAPE)).astype(np.float32)
  z_app = rng.normal(size=(_BATCH, _Z_APP)).astype(np.float32)
  return points, dirs.astype(np.float32), z_shape, z_app


def _differs(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) > 1e-6


class PositionalEncodingTest(parameterized.TestCase):

  @parameterized.parameters((1, 3), (4, 3), (3, 2))
  def test_matches_reference(self, num_freqs, dims):
    rng = np.random.default_rng(num_freqs)
    x = rng.uniform(-1, 1, (2, 4, dims)).astype(np.float32)
    enc = field.positional_encoding(x, num_freqs)
    chex.assert_shape(enc, (2, 4, 2 * num_freqs * dims))
    np.testing.assert_allclose(
        enc, _encoding_reference(x, num_freqs), atol=1e-5
    )

  def test_known_values(self):
    enc = np.asarray(
        field.positional_encoding(np.array([[0.0], [0.5]], np.float32), 2)
    )
    # x=0: sin 0, sin 0, cos 0, cos 0; x=1/2: sin pi/2, sin pi, cos..., cos pi.
    np.testing.assert_allclose(enc[0], [0, 0, 1, 1], atol=1e-6)
    np.testing.assert_allclose(enc[1], [1, 0, 0, -1], atol=1e-6)


class FeatureFieldTest(parameterized.TestCase):

  @parameterized.parameters(
      dict(view_freqs=2, skips=(1,), num_layers=3),
      dict(view_freqs=0, skips=(), num_layers=2),
      dict(view_freqs=1, skips=(1, 2), num_layers=4),
  )
  def test_output_shapes(self, view_freqs, skips, num_layers):
    f = _make_field(view_freqs, skips, num_layers)
    density, features = _apply(f, *_inputs())
    chex.assert_shape(density, (_BATCH, _POINTS))
    chex.assert_shape(features, (_BATCH, _POINTS, _FEATURES))
    chex.assert_tree_all_finite((density, features))

  def test_density_ignores_appearance_and_view(self):
    f = _make_field()
    points, dirs, z_shape, z_app = _inputs()
    _, dirs2, _, z_app2 = _inputs(seed=1)
    density, features = _apply(f, points, dirs, z_shape, z_app)
    density_app, features_app = _apply(f, points, dirs, z_shape, z_app2)
    density_dir, features_dir = _apply(f, points, dirs2, z_shape, z_app)
    density_none, _ = _apply(f, points, None, z_shape, z_app)
    np.testing.assert_array_equal(density_app, density)
    np.testing.assert_array_equal(density_dir, density)
    np.testing.assert_array_equal(density_none, density)
    self.assertTrue(_differs(features_app, features))
    self.assertTrue(_differs(features_dir, features))

  def test_density_depends_on_shape_and_position(self):
    f = _make_field()
    points, dirs, z_shape, z_app = _inputs()
    points2, _, z_shape2, _ = _inputs(seed=1)
    density, _ = _apply(f, points, dirs, z_shape, z_app)
    self.assertTrue(
        _differs(_apply(f, points, dirs, z_shape2, z_app)[0], density)
    )
    self.assertTrue(
        _differs(_apply(f, points2, dirs, z_shape, z_app)[0], density)
    )

  def test_codes_act_per_scene(self):
    # Changing scene 0's codes leaves scene 1 untouched.
    f = _make_field()
    points, dirs, z_shape, z_app = _inputs()
    density, features = _apply(f, points, dirs, z_shape, z_app)
    z_shape2, z_app2 = z_shape.copy(), z_app.copy()
    z_shape2[0] += 1.0
    z_app2[0] += 1.0
    density2, features2 = _apply(f, points, dirs, z_shape2, z_app2)
    np.testing.assert_array_equal(density2[1], density[1])
    np.testing.assert_array_equal(features2[1], features[1])
    self.assertTrue(_differs(density2[0], density[0]))

  def test_no_view_dependence_without_view_freqs(self):
    f = _make_field(view_freqs=0)
    points, dirs, z_shape, z_app = _inputs()
    _, dirs2, _, _ = _inputs(seed=1)
    _, features = _apply(f, points, dirs, z_shape, z_app)
    np.testing.assert_array_equal(
        _apply(f, points, dirs2, z_shape, z_app)[1], features
    )


def _bilinear_reference(plane, x, y):
  """Plane [r, r, c] at x (columns) and y (rows) in [-1, 1], float64."""
  size = plane.shape[0]
  col = min(max((x + 1) / 2 * (size - 1), 0.0), size - 1.0)
  row = min(max((y + 1) / 2 * (size - 1), 0.0), size - 1.0)
  c0, r0 = min(int(np.floor(col)), size - 2), min(int(np.floor(row)), size - 2)
  fx, fy = col - c0, row - r0
  return ((1 - fx) * (1 - fy) * plane[r0, c0] + fx * (1 - fy) * plane[r0, c0 + 1]
          + (1 - fx) * fy * plane[r0 + 1, c0] + fx * fy * plane[r0 + 1, c0 + 1])


def _make_triplane(view_freqs=2, plane_size=8, plane_upsample="nearest",
                   plane_conditioning="input", appearance="code"):
  return testing_utils.random_module(
      lambda: field.TriPlaneField(
          plane_size=plane_size, plane_channels=5, plane_width=6, hidden=16,
          view_freqs=view_freqs, z_shape_dim=_Z_SHAPE, z_app_dim=_Z_APP,
          feature_dim=_FEATURES, plane_upsample=plane_upsample,
          plane_conditioning=plane_conditioning, appearance=appearance,
          rngs=nnx.Rngs(0)))


def _trained_init_triplane(**overrides):
  """A tri-plane field initialised as in training (not ``random_module``,
  whose draws follow the sorted parameter paths), so init order counts."""
  kwargs = dict(plane_size=16, plane_channels=5, plane_width=6, hidden=16,
                view_freqs=2, z_shape_dim=_Z_SHAPE, z_app_dim=_Z_APP,
                feature_dim=_FEATURES, rngs=nnx.Rngs(0))
  return field.TriPlaneField(**{**kwargs, **overrides})


class TriPlaneFieldTest(absltest.TestCase):

  def test_sample_planes_matches_bilinear_reference(self):
    rng = np.random.default_rng(0)
    planes = rng.normal(size=(3, 6, 6, 4)).astype(np.float32)
    # Inside the box, on its faces and beyond them (clamped to the edge).
    points = np.concatenate([rng.uniform(-1, 1, (20, 3)),
                             [[-1, -1, -1], [1, 1, 1], [1.3, -1.2, 0.4]]])
    points = points.astype(np.float32)
    got = np.asarray(field.sample_planes(planes, points))
    p = planes.astype(np.float64)
    for n, (x, y, z) in enumerate(points.astype(np.float64)):
      want = (_bilinear_reference(p[0], x, y) + _bilinear_reference(p[1], x, z)
              + _bilinear_reference(p[2], y, z))
      np.testing.assert_allclose(got[n], want, atol=1e-5, err_msg=str(n))
    # At texel centres the planes are read exactly.
    grid = np.linspace(-1, 1, 6, dtype=np.float32)
    corner = np.asarray(field.sample_planes(
        planes, np.array([[grid[2], grid[4], grid[1]]], np.float32)))
    np.testing.assert_allclose(
        corner[0], planes[0, 4, 2] + planes[1, 1, 2] + planes[2, 1, 4],
        atol=1e-5)

  def test_sample_planes_gradient_matches_map_coordinates(self):
    # The written-out gradient against autodiff of an independent bilinear
    # read: jax.scipy's map_coordinates (order 1, edges clamped).
    rng = np.random.default_rng(1)
    size = 6
    planes = jnp.asarray(rng.normal(size=(3, size, size, 4)), jnp.float32)
    # Inside the box and beyond its faces on every axis.
    points = jnp.asarray(np.concatenate([rng.uniform(-1, 1, (40, 3)),
                                         rng.uniform(-1.4, 1.4, (40, 3))]),
                         jnp.float32)
    cotangent = jnp.asarray(rng.normal(size=(80, 4)), jnp.float32)

    def reference(planes, points):
      total = 0.0
      for plane, (u, v) in enumerate(((0, 1), (0, 2), (1, 2))):
        coords = [(points[:, v] + 1) / 2 * (size - 1),
                  (points[:, u] + 1) / 2 * (size - 1)]
        read = jax.vmap(lambda channel, c=coords: jax.scipy.ndimage
                        .map_coordinates(channel, c, order=1,
                                         mode="nearest"),
                        in_axes=-1, out_axes=-1)
        total = total + read(planes[plane])
      return total

    want_out, want_vjp = jax.vjp(reference, planes, points)
    got_out, got_vjp = jax.vjp(field.sample_planes, planes, points)
    np.testing.assert_allclose(got_out, want_out, atol=1e-5)
    for got, want in zip(got_vjp(cotangent), want_vjp(cotangent)):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Under vmap (scenes), as the field calls it.
    batched = jax.vjp(jax.vmap(field.sample_planes), planes[None],
                      points[None])[1](cotangent[None])
    np.testing.assert_allclose(batched[1][0], got_vjp(cotangent)[1],
                               atol=1e-6)

  def test_planes_shape(self):
    f = _make_triplane(plane_size=16)
    z_shape = _inputs()[2]
    chex.assert_shape(nnx.jit(lambda m, z: m.planes(z))(f, z_shape),
                      (_BATCH, 3, 16, 16, 5))

  def test_density_ignores_appearance_and_view(self):
    f = _make_triplane()
    points, dirs, z_shape, z_app = _inputs()
    _, dirs2, z_shape2, z_app2 = _inputs(seed=1)
    density, features = _apply(f, points, dirs, z_shape, z_app)
    chex.assert_shape(density, (_BATCH, _POINTS))
    chex.assert_shape(features, (_BATCH, _POINTS, _FEATURES))
    density_app, features_app = _apply(f, points, dirs, z_shape, z_app2)
    density_dir, features_dir = _apply(f, points, dirs2, z_shape, z_app)
    np.testing.assert_array_equal(density_app, density)
    np.testing.assert_array_equal(density_dir, density)
    self.assertTrue(_differs(features_app, features))
    self.assertTrue(_differs(features_dir, features))
    # ... while the shape code and the position move it.
    self.assertTrue(_differs(_apply(f, points, dirs, z_shape2, z_app)[0],
                             density))
    self.assertTrue(_differs(_apply(f, points * 0.5, dirs, z_shape, z_app)[0],
                             density))

  def test_codes_act_per_scene_and_rays_share_directions(self):
    f = _make_triplane()
    points, dirs, z_shape, z_app = _inputs()
    density, features = _apply(f, points, dirs, z_shape, z_app)
    z_shape2 = z_shape.copy()
    z_shape2[0] += 1.0
    density2, features2 = _apply(f, points, dirs, z_shape2, z_app)
    np.testing.assert_array_equal(density2[1], density[1])
    np.testing.assert_array_equal(features2[1], features[1])
    self.assertTrue(_differs(density2[0], density[0]))
    # Points [b, rays, samples, 3] with one direction per ray give what
    # the same points flattened, each with its ray's direction, give.
    rays = points.reshape(_BATCH, _POINTS, 1, 3).repeat(2, axis=2)
    per_ray, _ = _apply(f, rays, dirs, z_shape, z_app)
    np.testing.assert_allclose(per_ray[..., 0], density, atol=1e-6)

  def test_composite_is_the_weighted_sum_of_features(self):
    f = _make_triplane()
    points, dirs, z_shape, z_app = _inputs()
    rays = points.reshape(_BATCH, 1, _POINTS, 3)
    weights = np.random.default_rng(3).uniform(
        0, 1, (_BATCH, 1, _POINTS)).astype(np.float32)
    _, features = _apply(f, rays, dirs[:, :1], z_shape, z_app)
    composite = nnx.jit(lambda m, w, r, d, zs, za: m.composite(
        w, m.hidden(r, d, zs, za)[1]))(f, weights, rays, dirs[:, :1],
                                       z_shape, z_app)
    np.testing.assert_allclose(
        composite, np.einsum("brs,brsf->brf", weights, features), atol=1e-4)

  def test_plane_size_must_be_reachable(self):
    with self.assertRaisesRegex(ValueError, "plane_size 12"):
      _make_triplane(plane_size=12)

  def test_plane_upsample_changes_only_the_planes_interpolation(self):
    z_shape = _inputs()[2]
    planes = lambda f: np.asarray(nnx.jit(lambda m, z: m.planes(z))(
        f, z_shape))
    nearest = _make_triplane(plane_size=16)
    bilinear = _make_triplane(plane_size=16, plane_upsample="bilinear")
    # Same parameters (same seed), different planes of the same shape.
    chex.assert_trees_all_equal(nnx.state(nearest, nnx.Param),
                                nnx.state(bilinear, nnx.Param))
    self.assertEqual(planes(bilinear).shape, planes(nearest).shape)
    self.assertTrue(_differs(planes(bilinear), planes(nearest)))
    with self.assertRaisesRegex(ValueError, "plane_upsample 'cubic'"):
      _make_triplane(plane_upsample="cubic")


  def test_film_conditioning_reaches_every_level(self):
    z_shape, z_shape2 = _inputs()[2], _inputs(seed=1)[2]
    planes = lambda f, z: np.asarray(nnx.jit(lambda m, z: m.planes(z))(f, z))
    make = lambda conditioning: _trained_init_triplane(
        plane_conditioning=conditioning)
    plain, film = make("input"), make("film")
    # The other layers start from the same weights (same seed) ...
    chex.assert_trees_all_equal(
        nnx.state(plain, nnx.Param),
        nnx.state(film, nnx.All(nnx.Param,
                                nnx.Not(nnx.PathContains("plane_films")))))
    self.assertTrue(_differs(planes(film, z_shape), planes(plain, z_shape)))
    # ... and with the scales and shifts zeroed, the planes are the same.
    neutral = make("film")
    for film_layer in neutral.plane_films:
      film_layer.kernel[...] = 0.0
      film_layer.bias[...] = 0.0
    np.testing.assert_allclose(planes(neutral, z_shape),
                               planes(plain, z_shape), atol=1e-6)
    # With the code cut from the first 4x4 map, only FiLM carries it.
    for f in (plain, film):
      f.fc_planes.kernel[...] = 0.0
    np.testing.assert_array_equal(planes(plain, z_shape),
                                  planes(plain, z_shape2))
    self.assertTrue(_differs(planes(film, z_shape), planes(film, z_shape2)))

  def test_film_density_ignores_appearance_and_view(self):
    f = _make_triplane(plane_conditioning="film")
    points, dirs, z_shape, z_app = _inputs()
    _, dirs2, z_shape2, z_app2 = _inputs(seed=1)
    density, _ = _apply(f, points, dirs, z_shape, z_app)
    np.testing.assert_array_equal(
        _apply(f, points, dirs2, z_shape, z_app2)[0], density)
    self.assertTrue(_differs(_apply(f, points, dirs, z_shape2, z_app)[0],
                             density))
    with self.assertRaisesRegex(ValueError, "plane_conditioning 'style'"):
      _make_triplane(plane_conditioning="style")

  def test_appearance_planes_carry_the_appearance_code(self):
    points, dirs, z_shape, z_app = _inputs()
    z_app2 = _inputs(seed=1)[3]
    make = lambda appearance, conditioning="input": _trained_init_triplane(
        appearance=appearance, plane_conditioning=conditioning)
    code, planes = make("code"), make("planes")
    # The other layers start from the same weights (same seed) ...
    chex.assert_trees_all_equal(
        nnx.state(code, nnx.Param),
        nnx.state(planes, nnx.All(
            nnx.Param, nnx.Not(nnx.PathContains("app_planes")),
            nnx.Not(nnx.PathContains("fc_app_planes")))))
    features = lambda f, za: _apply(f, points, dirs, z_shape, za)[1]
    self.assertTrue(_differs(features(planes, z_app), features(code, z_app)))
    # ... density still ignores the appearance code ...
    np.testing.assert_array_equal(
        _apply(planes, points, dirs, z_shape, z_app2)[0],
        _apply(planes, points, dirs, z_shape, z_app)[0])
    # ... with the planes' read zeroed, the features are "code"'s ...
    neutral = make("planes")
    neutral.fc_app_planes.kernel[...] = 0.0
    neutral.fc_app_planes.bias[...] = 0.0
    np.testing.assert_allclose(features(neutral, z_app),
                               features(code, z_app), atol=1e-6)
    # ... and with the per-image bias cut, only the planes carry the code.
    for f in (code, planes):
      f.fc_app.kernel[...] = 0.0
    np.testing.assert_array_equal(features(code, z_app),
                                  features(code, z_app2))
    self.assertTrue(_differs(features(planes, z_app),
                             features(planes, z_app2)))
    # Under FiLM both generators are conditioned, and density still
    # ignores appearance.
    film = make("planes", "film")
    self.assertLen(film.app_planes.films, len(film.plane_films))
    np.testing.assert_array_equal(
        _apply(film, points, dirs, z_shape, z_app2)[0],
        _apply(film, points, dirs, z_shape, z_app)[0])
    with self.assertRaisesRegex(ValueError, "appearance 'texture'"):
      _make_triplane(appearance="texture")

  def test_appearance_planes_vary_colour_over_the_head(self):
    points, _, z_shape, z_app = _inputs()
    features = lambda f: _apply(f, points, None, z_shape, z_app)[1]
    # With the shape planes cut from the feature layer and no view
    # direction, "code" colours every point of an image alike; appearance
    # planes still colour points differently.
    for appearance in ("code", "planes"):
      f = _trained_init_triplane(view_freqs=0, appearance=appearance)
      f.feature_view.kernel[...] = 0.0
      got = features(f)
      spread = np.abs(got - got[:, :1]).max()
      if appearance == "code":
        self.assertLess(spread, 1e-6)
      else:
        self.assertGreater(spread, 1e-3)


class BackgroundFieldTest(absltest.TestCase):

  def test_shapes_and_dependence(self):
    bg = testing_utils.random_module(
        lambda: field.BackgroundField(
            hidden=8,
            num_layers=2,
            view_freqs=2,
            z_shape_dim=3,
            z_app_dim=5,
            feature_dim=_FEATURES,
            rngs=nnx.Rngs(0),
        )
    )
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(_BATCH, 9, 3)).astype(np.float32)
    z_shape = rng.normal(size=(_BATCH, 3)).astype(np.float32)
    z_app = rng.normal(size=(_BATCH, 5)).astype(np.float32)
    out = _apply(bg, dirs, z_shape, z_app)
    chex.assert_shape(out, (_BATCH, 9, _FEATURES))
    chex.assert_tree_all_finite(out)
    self.assertTrue(_differs(_apply(bg, -dirs, z_shape, z_app), out))
    self.assertTrue(_differs(_apply(bg, dirs, z_shape, z_app + 1.0), out))
    self.assertTrue(_differs(_apply(bg, dirs, z_shape + 1.0, z_app), out))


if __name__ == "__main__":
  absltest.main()
