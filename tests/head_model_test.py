"""Property tests of the SDF head model."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import jax.numpy as jnp
import numpy as np

from jaxface.data import head_model


# Every test uses these shapes so that each function compiles once.
_HEADS, _POINTS = 8, 8192


@jax.jit
def _sample_identities(ids):
  base = jax.random.PRNGKey(0)
  return jax.vmap(
      lambda i: head_model.sample_identity(jax.random.fold_in(base, i)))(ids)


def _identities(n=_HEADS):
  return _sample_identities(jnp.arange(n))


@jax.jit
def _sample_expressions(key):
  keys = jax.random.split(key, _HEADS)
  return jax.vmap(lambda k: head_model.sample_expression(k, 0.0))(keys)


def _expressions():
  return _sample_expressions(jax.random.PRNGKey(1))


@jax.jit
def _sdf_pair(points, shape, expr):
  """Clipped and unclipped SDFs; [heads, points] each."""
  f = lambda clip: jax.vmap(
      lambda p, s, e: head_model.sdf(p, s, e, clip))(points, shape, expr)
  return f(True), f(False)


def _batched_sdf(points, shape, expr, clip=True):
  points = jnp.broadcast_to(points, (_HEADS,) + points.shape[-2:])
  chunks = [_sdf_pair(points[:, i:i + _POINTS], shape, expr)[0 if clip else 1]
            for i in range(0, points.shape[1], _POINTS)]
  return jnp.concatenate(chunks, axis=1)


class HeadModelTest(parameterized.TestCase):

  @parameterized.parameters(1e-3, 1e-2, 0.1)
  def test_sdf_is_1_lipschitz(self, step):
    n_heads, n_pairs = _HEADS, 2 * _POINTS
    shape, _ = _identities()
    expr = _expressions()
    k_a, k_d = jax.random.split(jax.random.PRNGKey(2))
    a = jax.random.uniform(k_a, (n_heads, n_pairs, 3), minval=-0.3,
                           maxval=0.3)
    d = jax.random.normal(k_d, a.shape)
    d = d / jnp.linalg.norm(d, axis=-1, keepdims=True) * step
    fa = _batched_sdf(a, shape, expr, True)
    fb = _batched_sdf(a + d, shape, expr, True)
    ratio = np.asarray(jnp.abs(fa - fb) / step)
    self.assertLessEqual(ratio.max(), 1.0 + 1e-3)
    # Not trivially small either: a real distance has slope ~1 somewhere.
    self.assertGreater(ratio.max(), 0.5)

  def test_inside_and_outside(self):
    shape, _ = _identities()
    expr = jnp.zeros((_HEADS, head_model.NUM_EXPRESSION_PARAMS))
    centre = jnp.zeros((_HEADS, _POINTS, 3))
    corner = jnp.full((_HEADS, _POINTS, 3), 0.22)
    self.assertTrue(np.all(_batched_sdf(centre, shape, expr, True) < 0))
    self.assertTrue(np.all(_batched_sdf(corner, shape, expr, True) > 0))

  def test_head_fits_in_box(self):
    # The unclipped head may only leave the box through the bottom (neck).
    n = _HEADS
    shape, _ = _identities()
    expr = _expressions()
    g = np.linspace(-1.0, 1.0, 41, dtype=np.float32)
    u, v = np.meshgrid(g, g)
    h = head_model.BOX_HALF_SIZE
    faces = []
    for axis in range(3):
      for sign in (-1.0, 1.0):
        if axis == 1 and sign < 0:
          continue
        p = np.zeros(u.shape + (3,), np.float32)
        p[..., axis] = sign * h
        others = [i for i in range(3) if i != axis]
        p[..., others[0]], p[..., others[1]] = u * h, v * h
        faces.append(p.reshape(-1, 3))
    points = np.concatenate(faces)
    points = np.pad(points, ((0, -len(points) % _POINTS), (0, 0)), mode="edge")
    d = _batched_sdf(jnp.asarray(points)[None], shape, expr, False)
    self.assertGreater(float(d.min()), 0.0)

  def test_identity_independent_of_batch(self):
    shape_b, colors_b = _identities()
    shape_1, colors_1 = jax.jit(head_model.sample_identity)(
        jax.random.fold_in(jax.random.PRNGKey(0), 3))
    np.testing.assert_allclose(shape_b[3], shape_1, rtol=1e-6)
    np.testing.assert_allclose(colors_b[3], colors_1, rtol=1e-6)

  def test_identities_differ(self):
    shape, colors = _identities()
    shape = np.asarray(shape)
    for i in range(8):
      for j in range(i):
        self.assertGreater(np.abs(shape[i] - shape[j]).max(), 0.05)
    self.assertTrue(np.all((np.asarray(colors) >= 0) & (colors <= 1)))

  def test_symmetric_identity_is_mirror_symmetric(self):
    shape, _ = _identities()
    expr = _expressions()
    p = jax.random.uniform(jax.random.PRNGKey(4), (_HEADS, _POINTS, 3),
                           minval=-0.23, maxval=0.23)
    mirrored = p * jnp.array([-1.0, 1.0, 1.0])
    sym = jax.vmap(head_model.symmetrize)(shape)
    np.testing.assert_allclose(
        _batched_sdf(p, sym, expr, True), _batched_sdf(mirrored, sym, expr,
                                                       True), atol=1e-6)
    # The unsymmetrized prior does have asymmetric identities (hair sweep).
    asym = shape.at[:, head_model.SHAPE_NAMES.index("hair_sweep")].set(1.0)
    diff = jnp.abs(_batched_sdf(p, asym, expr, True)
                   - _batched_sdf(mirrored, asym, expr, True))
    self.assertGreater(float(diff.max()), 1e-3)

  def test_material_in_range(self):
    shape, colors = _identities()
    expr = _expressions()
    p = jax.random.uniform(jax.random.PRNGKey(5), (_HEADS, 1000, 3),
                           minval=-0.2, maxval=0.2)
    albedo, spec = jax.jit(jax.vmap(head_model.material))(p, shape, expr,
                                                          colors)
    self.assertEqual(albedo.shape, (_HEADS, 1000, 3))
    self.assertTrue(np.all((albedo >= 0) & (albedo <= 1)))
    self.assertTrue(np.all((spec >= 0) & (spec <= 1)))

  def test_expression_moves_the_mouth_only_locally(self):
    shape, _ = _identities()
    neutral = jnp.zeros((_HEADS, head_model.NUM_EXPRESSION_PARAMS))
    open_mouth = neutral.at[:, 0].set(1.0)
    p = jax.random.uniform(jax.random.PRNGKey(6), (_HEADS, _POINTS, 3),
                           minval=-0.23, maxval=0.23)
    diff = np.asarray(jnp.abs(_batched_sdf(p, shape, neutral, True)
                              - _batched_sdf(p, shape, open_mouth, True)))
    self.assertGreater(diff.max(), 1e-3)
    # The top of the head does not move when the mouth opens.
    top = np.asarray(p[..., 1]) > 0.1
    self.assertLess(diff[top].max(), 1e-5)


if __name__ == "__main__":
  absltest.main()
