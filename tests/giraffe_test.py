"""GIRAFFE's choices, each checked against an independent formula.

The formulas are written here from GIRAFFE's definitions (its world is z up
with the camera on +x; box points are ``R_z(2 pi r) p / s``; compositing is
``alpha = 1 - exp(-sigma delta)``, ``T = cumprod(1 - alpha + 1e-10)``, the
last interval 1e10; features mix by density; the neural renderer's RGB is
bilinearly upsampled with half-pixel centres and blurred by
``[1, 2, 1]^2 / 16`` with mirrored borders; D is a bias-free DCGAN), not
from jaxface's code.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import absltest
from absl.testing import parameterized
from flax import nnx
from jax import lax
from scipy import ndimage

from jaxface import camera as camera_lib
from jaxface import discriminator
from jaxface import field
from jaxface import generator
from jaxface import layers
from jaxface import neural_renderer
from jaxface import rays as rays_lib
from jaxface import train_state as train_state_lib
from jaxface import train_step as train_step_lib
from jaxface import volume_render
from tests import testing_utils


def _giraffe_world(q):
  """A point of this world in GIRAFFE's (z up, camera on +x at u = 0)."""
  q = np.asarray(q)
  return np.stack([q[..., 2], q[..., 0], q[..., 1]], -1)


def _rz(angle):
  c, s = np.cos(angle), np.sin(angle)
  return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class FrameTest(parameterized.TestCase):

  @parameterized.parameters(0.4167, 0.45, 0.5)
  def test_camera_is_giraffes_camera(self, v):
    # GIRAFFE: loc = r (sin phi cos theta, sin phi sin theta, cos phi),
    # theta = 2 pi u = 0, phi = arccos(1 - 2 v); look-at with up = +z.
    radius = 2.732
    phi = np.arccos(1 - 2 * v)
    loc = radius * np.array([np.sin(phi), 0.0, np.cos(phi)])
    z_axis = loc / np.linalg.norm(loc)
    x_axis = np.cross([0.0, 0.0, 1.0], z_axis)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    cam = camera_lib.make_camera(np.zeros(1), camera_lib.fraction_to_pitch(v),
                                 radius, np.deg2rad(10.0))
    c2w = np.asarray(cam.cam2world[0])
    np.testing.assert_allclose(_giraffe_world(c2w[:3, 3]), loc, atol=1e-5)
    for column, axis in zip(range(3), (x_axis, y_axis, z_axis)):
      np.testing.assert_allclose(_giraffe_world(c2w[:3, column]), axis,
                                 atol=1e-5)

  @parameterized.parameters(0.40278, 0.5, 0.59722, 0.9)
  def test_object_rotation_is_giraffes_box_rotation(self, r):
    yaw = 2 * np.pi * (r - 0.5)
    points = np.random.default_rng(0).normal(size=(5, 3))
    ours = np.asarray(camera_lib.object_rotation(np.array([yaw]),
                                                 "giraffe")[0]) @ points.T
    giraffe = _rz(2 * np.pi * r) @ _giraffe_world(points).T
    np.testing.assert_allclose(ours, giraffe, atol=1e-5)

  def test_turning_the_object_looks_like_moving_the_camera(self):
    # Without a background the two yaw modes draw the same object.
    config = testing_utils.giraffe_tiny_config()
    config.field.background = "none"
    config.render.yaw = "object"
    turned = testing_utils.random_module(
        lambda: generator.Generator(config, rngs=nnx.Rngs(0)), seed=3)
    config.render.yaw = "camera"
    graphdef, _ = nnx.split(nnx.eval_shape(
        lambda: generator.Generator(config, rngs=nnx.Rngs(0))))
    moved = nnx.merge(graphdef, nnx.state(turned))
    latents = generator.sample_latents(jax.random.key(1), 3, config.field)
    cams = camera_lib.make_camera(jnp.array([-0.5, 0.1, 0.6]),
                                  jnp.array([0.0, 0.1, 0.15]), 2.732,
                                  np.deg2rad(10.0))
    a, b = turned(latents, cams), moved(latents, cams)
    self.assertGreater(float(a.opacity.max()), 0.05)  # something is drawn
    for name in ("features", "depth", "opacity", "images"):
      np.testing.assert_allclose(getattr(a, name), getattr(b, name),
                                 atol=2e-5, err_msg=name)


class SamplingTest(absltest.TestCase):

  def test_giraffe_depths(self):
    z_scale = jnp.array([[1.0, 0.9]])
    fixed = rays_lib.giraffe_depths(None, 0.5, 6.0, z_scale, 64)
    linspace = np.linspace(0.5, 6.0, 64)
    np.testing.assert_allclose(fixed[0, 1] * 0.9, linspace, rtol=1e-6)
    jittered = np.asarray(rays_lib.giraffe_depths(
        jax.random.key(0), 0.5, 6.0, jnp.ones((50, 10)), 64))
    middle = 0.5 * (linspace[1:] + linspace[:-1])
    lower = np.concatenate([[0.5], middle])
    upper = np.concatenate([middle, [6.0]])
    self.assertTrue(np.all(jittered >= lower - 1e-6))
    self.assertTrue(np.all(jittered <= upper + 1e-6))
    # Uniform within each interval: the mean sits in its middle.
    np.testing.assert_allclose(jittered.mean((0, 1)), 0.5 * (lower + upper),
                               atol=0.01)

  def test_edge_pixel_grid_is_linspace(self):
    np.testing.assert_allclose(rays_lib.pixel_ndc(16, "edges"),
                               np.linspace(-1, 1, 16), atol=1e-7)


class CompositingTest(absltest.TestCase):

  def test_mixture_with_infinite_last_interval(self):
    rng = np.random.default_rng(0)
    shape = (2, 3, 12)
    obj = np.where(rng.uniform(size=shape) < 0.5, 0.0,
                   rng.uniform(0, 10, shape))
    bg = rng.uniform(0, 2, shape)
    bg[0, 0] = 0.0  # a ray where both are empty somewhere
    obj[0, 0, :4] = 0.0
    f_obj, f_bg = rng.normal(size=shape + (4,)), rng.normal(size=shape + (4,))
    depths = np.cumsum(rng.uniform(0.05, 0.2, shape), -1)
    intervals = volume_render.sample_intervals(jnp.asarray(depths), 0.0,
                                               "infinite")
    c_obj, c_bg = volume_render.mixture_weights(
        [jnp.asarray(obj), jnp.asarray(bg)], intervals)
    ours = (jnp.einsum("brs,brsc->brc", c_obj, f_obj)
            + jnp.einsum("brs,brsc->brc", c_bg, f_bg))
    # GIRAFFE's formulas, in float64.
    total = obj + bg
    denominator = np.where(total == 0, 1e-4, total)
    feats = (obj[..., None] * f_obj + bg[..., None] * f_bg) / denominator[
        ..., None]
    dists = np.concatenate([np.diff(depths, axis=-1),
                            np.full(shape[:-1] + (1,), 1e10)], -1)
    alpha = 1 - np.exp(-total * dists)
    transmittance = np.cumprod(
        np.concatenate([np.ones(shape[:-1] + (1,)), 1 - alpha + 1e-10], -1),
        -1)[..., :-1]
    expected = np.sum((alpha * transmittance)[..., None] * feats, -2)
    np.testing.assert_allclose(ours, expected, atol=1e-5)


class NeuralRendererTest(absltest.TestCase):

  def test_blur(self):
    x = np.random.default_rng(0).normal(size=(2, 7, 9, 3)).astype(np.float32)
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    expected = np.stack([np.stack([
        ndimage.correlate(x[b, :, :, c], kernel, mode="mirror")
        for c in range(3)], -1) for b in range(2)])
    np.testing.assert_allclose(neural_renderer.blur(x), expected, atol=1e-6)

  def test_bilinear_is_half_pixel_with_clamped_borders(self):
    x = np.random.default_rng(1).normal(size=(1, 5, 6, 2)).astype(np.float32)

    def axis_weights(n):  # PyTorch's align_corners=False, scale 2
      src = np.maximum((np.arange(2 * n) + 0.5) / 2 - 0.5, 0.0)
      low = np.floor(src).astype(int)
      high = np.minimum(low + 1, n - 1)
      matrix = np.zeros((2 * n, n))
      matrix[np.arange(2 * n), low] += 1 - (src - low)
      matrix[np.arange(2 * n), high] += src - low
      return matrix

    expected = np.einsum("ih,jw,bhwc->bijc", axis_weights(5), axis_weights(6),
                         x)
    np.testing.assert_allclose(layers.upsample_bilinear(x), expected,
                               atol=1e-6)


class DiscriminatorTest(absltest.TestCase):

  def test_bias_free_dcgan(self):
    config = testing_utils.giraffe_tiny_config()
    disc = testing_utils.random_module(
        lambda: discriminator.make_discriminator(config.disc, 16,
                                                 nnx.Rngs(0)))
    params = nnx.to_pure_dict(nnx.state(disc))
    names = {p[-1].key for p, _ in jax.tree_util.tree_flatten_with_path(
        params)[0]}
    self.assertEqual(names, {"kernel"})
    images = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype(
        np.float32)
    net = images
    for block in disc.blocks:
      net = lax.conv_general_dilated(net, block.kernel[...], (2, 2),
                                     ((1, 1), (1, 1)),
                                     dimension_numbers=("NHWC", "HWIO",
                                                        "NHWC"))
      net = jnp.where(net > 0, net, 0.2 * net)
    logits = lax.conv_general_dilated(net, disc.conv_out.kernel[...], (1, 1),
                                      "VALID", dimension_numbers=(
                                          "NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(disc(images), logits.reshape(3), atol=1e-5)


class FieldTest(absltest.TestCase):

  def test_downscale_divides_points_and_directions(self):
    make = lambda downscale: testing_utils.random_module(
        lambda: field.FeatureField(
            hidden=8, num_layers=3, skips=(1,), pos_freqs=3, view_freqs=2,
            z_shape_dim=4, z_app_dim=4, feature_dim=5, downscale=downscale,
            rngs=nnx.Rngs(0)), seed=1)
    rng = np.random.default_rng(0)
    points = rng.uniform(-1.1, 1.1, (1, 6, 3)).astype(np.float32)
    dirs = rng.normal(size=(1, 6, 3)).astype(np.float32)
    z = rng.normal(size=(1, 4)).astype(np.float32)
    halved = make(2.0)(points, dirs, z, z)
    plain = make(1.0)(points / 2, dirs / 2, z, z)
    for a, b in zip(halved, plain):
      np.testing.assert_allclose(a, b, atol=1e-5)


class ParameterCountTest(parameterized.TestCase):
  # GIRAFFE's own counts (its models built from its configs, counted with
  # sum(p.numel() for p in module.parameters())).

  @parameterized.parameters(("celeba64", 411_595, 2_763_776),
                            ("ffhq256", 748_497, 2_802_432),
                            ("celebahq256", 748_497, 2_802_432))
  def test_matches_official_model(self, name, g_count, d_count):
    config = testing_utils.load_config(name)
    state = jax.eval_shape(
        lambda: train_state_lib.create_train_state(config))
    self.assertEqual(layers.count_params(state.g_params), g_count)
    self.assertEqual(layers.count_params(state.d_params), d_count)


def _reference_giraffe_step(state, batch, rng, config):
  """GIRAFFE's iteration written out: G step, EMA, D step on fresh fakes.

  D sees [0, 1] images; R1 is the per-sample input gradient of D on the
  reals, squared, summed and averaged, times the weight.
  """
  key = jax.random.fold_in(rng, state.step)
  k_cam, k_z, k_depth = jax.random.split(key, 3)
  real01 = batch["image"].astype(jnp.float32) / 255.0
  n = real01.shape[0]

  def render(g_params, k_cam, k_z, k_depth):
    model = nnx.merge(state.g_graphdef, g_params)
    return model(generator.sample_latents(k_z, n, config.field),
                 camera_lib.sample_poses(k_cam, n, config.camera),
                 k_depth).images

  def g_loss(g_params):
    disc = nnx.merge(state.d_graphdef, state.d_params)
    return jnp.mean(jax.nn.softplus(-disc(render(g_params, k_cam, k_z,
                                                 k_depth))))

  g_grads = jax.grad(g_loss)(state.g_params)
  updates, _ = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  decay = config.optim.ema_decay
  ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p,
                     state.g_ema_params, g_params)
  fresh = render(g_params, *jax.random.split(jax.random.fold_in(key, 2), 3))

  def d_loss(d_params):
    disc = nnx.merge(state.d_graphdef, d_params)
    grads = jax.vmap(jax.grad(lambda x: disc(x[None])[0]))(real01)
    r1 = jnp.mean(jnp.sum(grads.reshape(n, -1) ** 2, -1))
    return (jnp.mean(jax.nn.softplus(-disc(real01)))
            + jnp.mean(jax.nn.softplus(disc(jax.lax.stop_gradient(fresh))))
            + config.loss.r1_weight * r1)

  d_grads = jax.grad(d_loss)(state.d_params)
  updates, _ = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
  return g_params, ema, optax.apply_updates(state.d_params, updates)


class TrainStepTest(absltest.TestCase):

  def test_giraffe_order_matches_a_written_out_step(self):
    config = testing_utils.giraffe_tiny_config()
    config.optim.ema_decay = 0.5  # so the EMA visibly moves
    state = train_state_lib.create_train_state(config)
    batch = {"image": jnp.asarray(np.random.RandomState(0).randint(
        0, 256, (4, 16, 16, 3)).astype(np.uint8))}
    rng = jax.random.key(2)
    new, metrics = jax.jit(functools.partial(train_step_lib.train_step,
                                             config=config))(
                                                 state, batch, rng)
    g_ref, ema_ref, d_ref = jax.jit(functools.partial(
        _reference_giraffe_step, config=config))(state, batch, rng)
    for name, ours, ref in (("g", new.g_params, g_ref),
                            ("ema", new.g_ema_params, ema_ref),
                            ("d", new.d_params, d_ref)):
      diff = max(jax.tree.leaves(jax.tree.map(
          lambda a, b: float(jnp.max(jnp.abs(a - b))), ours, ref)))
      self.assertLess(diff, 1e-5, name)
    moved = max(jax.tree.leaves(jax.tree.map(
        lambda a, b: float(jnp.max(jnp.abs(a - b))), state.d_params,
        new.d_params)))
    self.assertGreater(moved, 1e-5)
    self.assertTrue(bool(metrics["finite"]))


if __name__ == "__main__":
  absltest.main()
