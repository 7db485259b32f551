"""The identity branch of the training step: each weight does what it says.

* All branch weights 0: the step equals an independent, straightforward
  GIRAFFE step (separate D and G passes, R1 by per-sample ``jax.grad``).
* Terms that only train Q (KL, pose/code regression) leave G and D exactly
  where plain GIRAFFE puts them; terms that reach G move it.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import absltest
from absl.testing import parameterized
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import encoders
from jaxface import errors
from jaxface import generator
from jaxface import identity_branch
from jaxface import losses
from jaxface import structs
from jaxface import train_state as train_state_lib
from jaxface import train_step as train_step_lib
from tests import testing_utils


def _max_diff(a, b) -> float:
  return max(jax.tree.leaves(jax.tree.map(
      lambda x, y: float(jnp.max(jnp.abs(x - y))), a, b)))


def _batch(config, seed=0):
  size = config.data.image_size
  return {"image": jnp.asarray(np.random.RandomState(seed).randint(
      0, 256, (8, size, size, 3)).astype(np.uint8))}


def _generator_q_and_real(config):
  """(G, Q, the test batch in [-1, 1]) of a fresh train state."""
  state = train_state_lib.create_train_state(config)
  model = nnx.merge(state.g_graphdef, state.g_params)
  q = nnx.merge(state.q_graphdef, state.branch_params["q"])
  return model, q, _batch(config)["image"].astype(jnp.float32) / 127.5 - 1.0


def _reference_giraffe_step(state, batch, rng, config):
  """Plain GIRAFFE written out: D on fakes + R1, then G through the new D."""
  key = jax.random.fold_in(rng, state.step)
  k_cam, k_z, k_depth = jax.random.split(key, 3)
  real = batch["image"].astype(jnp.float32) / 127.5 - 1.0
  cams = camera_lib.sample_poses(k_cam, real.shape[0], config.camera)
  latents = generator.sample_latents(k_z, real.shape[0], config.field)

  low, high = config.disc.input_range  # D reads images in this range
  real = low + (real + 1.0) * 0.5 * (high - low)

  def render(g_params):
    model = nnx.merge(state.g_graphdef, g_params)
    return low + model(latents, cams, k_depth).images * (high - low)

  fake = render(state.g_params)

  def d_loss(d_params):
    disc = nnx.merge(state.d_graphdef, d_params)
    one = lambda x: disc(x[None])[0]
    grads = jax.vmap(jax.grad(one))(real)
    r1 = jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, -1))
    return (jnp.mean(jax.nn.softplus(-disc(real)))
            + jnp.mean(jax.nn.softplus(disc(fake)))
            + config.loss.r1_weight * r1)

  d_grads = jax.grad(d_loss)(state.d_params)
  d_updates, _ = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
  d_params = optax.apply_updates(state.d_params, d_updates)

  def g_loss(g_params):
    disc = nnx.merge(state.d_graphdef, d_params)
    return jnp.mean(jax.nn.softplus(-disc(render(g_params))))

  g_grads = jax.grad(g_loss)(state.g_params)
  g_updates, _ = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
  return optax.apply_updates(state.g_params, g_updates), d_params


# The per-term tests below share one compiled step per group: every term of
# the group is in the program and the traced weights switch all but one off.
ENCODER_ONLY = ("kl_weight", "pose_regression_weight", "code_regression_weight")
RECONSTRUCTION = ("l1_weight", "recon_gan_weight", "identity_weight",
                  "perceptual_weight", "raw_rgb_weight")


@functools.cache
def _group_step(weights: tuple[str, ...]):
  """(config, initial state, jitted step) with every term of ``weights`` on."""
  config = testing_utils.branch_config(0.0)
  for weight in weights:
    config.loss[weight] = 1.0
  e2 = (testing_utils.tiny_identity_encoder()
        if weights == RECONSTRUCTION else None)
  step = jax.jit(functools.partial(train_step_lib.train_step, config=config))
  return config, train_state_lib.create_train_state(config, e2), step


def _one_term_step(weights, weight):
  """One step of ``weights``' program with only ``weight`` at 1, the rest 0."""
  config, init, step = _group_step(weights)
  hparams = {f"loss.{w}": jnp.float32(w == weight) for w in weights}
  state, metrics = step(init, _batch(config), jax.random.key(3), hparams)
  return init, state, jax.device_get(metrics)


def _step(config, e2=None, steps=1):
  state = train_state_lib.create_train_state(config, e2)
  step = jax.jit(functools.partial(train_step_lib.train_step, config=config))
  metrics = None
  for _ in range(steps):
    state, metrics = step(state, _batch(config), jax.random.key(3))
  return state, jax.device_get(metrics)


class IdentityBranchTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.config = testing_utils.branch_config(0.0)
    cls.plain, cls.plain_metrics = _step(cls.config)

  def test_all_weights_zero_is_plain_giraffe(self):
    self.assertFalse(identity_branch.uses_identity_branch(self.config))
    self.assertIsNone(self.plain.branch_params)
    self.assertNotIn("identity", self.plain_metrics)
    # Adam's first step moves each weight by lr * g / (|g| + eps): with eps
    # 1e-8, a gradient of 1e-8 lands anywhere in +-lr, so the rounding of
    # two ways of computing it shows up as update differences of 1e-5 (seen
    # at 2.7e-5 with XLA's classic CPU emitters). An eps of 1e-3 makes the
    # update smooth in the gradient, so a tight tolerance tests the maths.
    config = self.config.copy_and_resolve_references()
    config.optim.eps = 1e-3
    plain, _ = _step(config)
    init = train_state_lib.create_train_state(config)
    g_ref, d_ref = jax.jit(functools.partial(
        _reference_giraffe_step, config=config))(
            init, _batch(config), jax.random.key(3))
    self.assertLess(_max_diff(plain.d_params, d_ref), 1e-6)
    self.assertLess(_max_diff(plain.g_params, g_ref), 1e-6)
    self.assertGreater(_max_diff(init.g_params, g_ref), 1e-4)  # it moved

  def test_a_step_without_the_branch_is_the_plain_step(self):
    # train.branch_every: between branch steps, a run with the branch on
    # takes plain GIRAFFE steps and leaves Q, E1 and their Adam states be.
    config, init, _ = _group_step(RECONSTRUCTION)  # D too sees the branch
    step = jax.jit(functools.partial(train_step_lib.train_step,
                                     config=config, branch=False))
    state, metrics = step(init, _batch(config), jax.random.key(3))
    self.assertLess(_max_diff(state.g_params, self.plain.g_params), 1e-6)
    self.assertLess(_max_diff(state.d_params, self.plain.d_params), 1e-6)
    self.assertEqual(_max_diff(state.branch_params, init.branch_params), 0.0)
    self.assertEqual(_max_diff(state.branch_opt_state, init.branch_opt_state),
                     0.0)
    self.assertIn("e1", state.branch_params)
    self.assertNotIn("l1", metrics)
    self.assertEqual(int(state.step), 1)

  def test_branch_batch_size_reads_the_first_images_only(self):
    config, init, _ = _group_step(RECONSTRUCTION)
    config = config.copy_and_resolve_references()
    config.loss.recon_gan_weight = 0.0  # Q would see D, which sees all
    batch = _batch(config)
    changed = dict(batch, image=np.array(batch["image"]))
    changed["image"][4:] = 255 - changed["image"][4:]
    q_moves = {}
    for size in (4, 0):
      config.train.branch_batch_size = size
      step = jax.jit(functools.partial(train_step_lib.train_step,
                                       config=config))
      a, _ = step(init, batch, jax.random.key(3))
      b, _ = step(init, changed, jax.random.key(3))
      q_moves[size] = _max_diff(a.branch_params, b.branch_params)
      self.assertGreater(_max_diff(a.d_params, b.d_params), 1e-6)  # D: all
    self.assertEqual(q_moves[4], 0.0)  # the branch never saw images 4-7
    self.assertGreater(q_moves[0], 1e-6)
    config.train.branch_batch_size = 3
    with self.assertRaisesRegex(errors.ConfigError, "even number"):
      train_step_lib.train_step(init, batch, jax.random.key(3), config=config)

  @parameterized.parameters(*ENCODER_ONLY)
  def test_encoder_only_terms_leave_the_gan_untouched(self, weight):
    init, state, metrics = _one_term_step(ENCODER_ONLY, weight)
    self.assertLess(_max_diff(state.g_params, self.plain.g_params), 1e-6)
    self.assertLess(_max_diff(state.d_params, self.plain.d_params), 1e-6)
    self.assertGreater(_max_diff(state.branch_params["q"], init.branch_params["q"]),
                       1e-6)
    self.assertNotIn("e1", state.branch_params)  # E1 exists only for identity
    self.assertTrue(np.isfinite(metrics[weight.removesuffix("_weight")]))

  @parameterized.parameters(*RECONSTRUCTION)
  def test_reconstruction_terms_reach_the_generator(self, weight):
    _, state, metrics = _one_term_step(RECONSTRUCTION, weight)
    self.assertGreater(_max_diff(state.g_params, self.plain.g_params), 1e-5)
    self.assertTrue(np.isfinite(metrics[weight.removesuffix("_weight")]))
    d_moved = _max_diff(state.d_params, self.plain.d_params)
    if weight == "recon_gan_weight":  # D also sees the random-pose renders
      self.assertGreater(d_moved, 1e-6)
    else:
      self.assertLess(d_moved, 1e-6)

  def test_real_pose_term_is_q_pose_error_on_the_labels(self):
    config = self.config.copy_and_resolve_references()
    config.loss.real_pose_weight = 1.0
    config.loss.pose_pitch_weight = 7.0
    init = train_state_lib.create_train_state(config)
    labels = camera_lib.sample_poses(jax.random.key(5), 8, config.camera)
    batch = dict(_batch(config), yaw=labels.yaw, pitch=labels.pitch)
    step = jax.jit(functools.partial(train_step_lib.train_step,
                                     config=config))
    state, metrics = step(init, batch, jax.random.key(3))
    # Independently: Q's pose of the real images before the step.
    q = nnx.merge(init.q_graphdef, init.branch_params["q"])
    guess = q(batch["image"].astype(jnp.float32) / 127.5 - 1.0)
    expected = jnp.mean((guess.yaw - labels.yaw) ** 2
                        + 7.0 * (guess.pitch - labels.pitch) ** 2)
    np.testing.assert_allclose(metrics["real_pose"], expected, rtol=1e-5)
    # It trains Q alone: G and D take plain GIRAFFE's step.
    self.assertLess(_max_diff(state.g_params, self.plain.g_params), 1e-6)
    self.assertLess(_max_diff(state.d_params, self.plain.d_params), 1e-6)
    # On a fixed batch Q learns the labels.
    history = [float(metrics["real_pose"])]
    for i in range(30):
      state, metrics = step(state, batch, jax.random.key(i))
      history.append(float(metrics["real_pose"]))
    self.assertLess(np.mean(history[-5:]), 0.5 * history[0])
    # Without labels in the batch the step says what is missing.
    with self.assertRaisesRegex(errors.ConfigError, "yaw and pitch labels"):
      step(init, _batch(config), jax.random.key(3))

  def test_training_lowers_the_branch_losses(self):
    # On one fixed batch Q and E1 fit: reconstruction and identity improve.
    config = testing_utils.branch_config(0.0)
    config.loss.update(identity_weight=1.0, l1_weight=10.0, kl_weight=1e-3)
    e2 = testing_utils.tiny_identity_encoder()
    state = train_state_lib.create_train_state(config, e2)
    step = jax.jit(functools.partial(train_step_lib.train_step,
                                     config=config))
    # Smooth images (noise cannot be reconstructed by any generator).
    yy, xx = np.mgrid[:32, :32] / 32.0
    colours = np.random.RandomState(0).uniform(0, 1, (8, 1, 1, 3))
    blob = (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.1)[None, ..., None]
    images = np.where(blob, colours, 1.0 - colours)
    batch = {"image": jnp.asarray((images * 255).astype(np.uint8))}
    history = []
    for i in range(60):
      state, metrics = step(state, batch, jax.random.key(i))
      history.append(jax.device_get(metrics))
    first = {k: np.mean([m[k] for m in history[:5]]) for k in history[0]}
    last = {k: np.mean([m[k] for m in history[-5:]]) for k in history[0]}
    self.assertLess(last["l1"], 0.8 * first["l1"])
    self.assertLess(last["identity"], 0.8 * first["identity"])


class NovelRenderTest(absltest.TestCase):
  """The random-pose render is drawn only when a term reads it."""

  def test_renders_novel_follows_its_two_readers(self):
    config = testing_utils.branch_config(0.0)
    config.loss.l1_weight = 1.0
    self.assertFalse(identity_branch.renders_novel(config))
    for reader in ("identity_random_weight", "recon_gan_weight"):
      config.loss[reader] = 0.5
      self.assertTrue(identity_branch.renders_novel(config), reader)
      config.loss[reader] = 0.0

  def test_without_novel_the_other_groups_render_as_before(self):
    config = testing_utils.branch_config(0.0)
    config.loss.l1_weight = 1.0
    model, q, real = _generator_q_and_real(config)
    key = jax.random.key(5)
    renders = identity_branch.encode_and_render(
        model, q, real, key, config.camera, cross_view=True, novel=False)
    self.assertIsNone(renders.novel)
    self.assertIsNone(renders.novel_features)
    # Independently: Q's codes and their partners' shapes at Q's pose, one
    # generator call of 2b (the depth jitter is drawn for that batch).
    k_eps, _, k_depth = jax.random.split(key, 3)
    encoding = q(real)
    codes = encoders.sample_codes(k_eps, encoding)
    partner = np.array([1, 0, 3, 2, 5, 4, 7, 6])
    swapped = codes.replace(z_shape=codes.z_shape[partner])
    at_q = camera_lib.prior_camera(encoding.yaw, encoding.pitch,
                                   config.camera)
    cat = lambda *t: jax.tree.map(lambda *x: jnp.concatenate(x), *t)
    out = model(cat(codes, swapped), cat(at_q, at_q), k_depth)
    np.testing.assert_allclose(renders.recon, out.images[:8] * 2 - 1,
                               atol=1e-6)
    np.testing.assert_allclose(renders.swap, out.images[8:] * 2 - 1,
                               atol=1e-6)
    np.testing.assert_allclose(renders.recon_opacity, out.opacity[:8],
                               atol=1e-6)

  def test_a_step_without_its_readers_does_not_pay_for_it(self):
    # XLA's count of the traced step: switching the recon-GAN term on adds
    # the novel render (forward and backward, at least twice the forward)
    # besides D's reading of it. Were the render traced without readers,
    # the difference would be D's part only.
    def step_flops(recon_gan_weight):
      config = testing_utils.branch_config(0.0)
      config.loss.update(l1_weight=1.0, recon_gan_weight=recon_gan_weight)
      state = train_state_lib.create_train_state(config)
      step = jax.jit(functools.partial(train_step_lib.train_step,
                                       config=config))
      lowered = step.lower(state, _batch(config), jax.random.key(3))
      return lowered.cost_analysis()["flops"], config, state

    without, config, state = step_flops(0.0)
    with_novel, _, _ = step_flops(1e-6)
    model = nnx.merge(state.g_graphdef, state.g_params)
    render = jax.jit(lambda latents, cameras: model(
        latents, cameras, jax.random.key(0)).images)
    render_flops = render.lower(
        generator.sample_latents(jax.random.key(1), 8, config.field),
        camera_lib.sample_poses(jax.random.key(2), 8, config.camera),
    ).cost_analysis()["flops"]
    self.assertGreater(with_novel - without, 2 * render_flops)


class CrossViewTest(absltest.TestCase):

  def test_swap_renders_the_partners_shape_with_own_codes_and_pose(self):
    config = testing_utils.branch_config(0.0)
    config.loss.cross_view_weight = 1.0
    model, q, real = _generator_q_and_real(config)
    key = jax.random.key(4)
    renders = identity_branch.encode_and_render(model, q, real, key,
                                                config.camera,
                                                cross_view=True)
    # Independently: the same draws, with each image's partner's (the other
    # of its pair) shape code and its own other codes, at its own Q pose.
    k_eps, k_cam, k_depth = jax.random.split(key, 3)
    encoding = q(real)
    codes = encoders.sample_codes(k_eps, encoding)
    partner = np.array([1, 0, 3, 2, 5, 4, 7, 6])
    swapped = structs.Latents(codes.z_shape[partner], codes.z_app,
                              codes.z_bg_shape, codes.z_bg_app)
    at_q = camera_lib.prior_camera(encoding.yaw, encoding.pitch,
                                   config.camera)
    cams = camera_lib.sample_poses(k_cam, 8, config.camera)
    cat = lambda *t: jax.tree.map(lambda *x: jnp.concatenate(x), *t)
    expected = model(cat(codes, codes, swapped), cat(at_q, cams, at_q),
                     k_depth).images[16:] * 2.0 - 1.0
    np.testing.assert_allclose(renders.swap, expected, atol=1e-6)
    self.assertGreater(float(jnp.abs(renders.swap - renders.recon).max()),
                       1e-3)

  def test_raw_rgb_scores_the_feature_images_at_q_and_swapped(self):
    config = testing_utils.branch_config(0.0)
    config.loss.update(cross_view_weight=1.0, raw_rgb_weight=1.0)
    model, q, real = _generator_q_and_real(config)
    renders = identity_branch.encode_and_render(
        model, q, real, jax.random.key(4), config.camera, cross_view=True)
    got = identity_branch.render_losses(renders, real,
                                        loss_config=config.loss)
    # Independently: each feature pixel's first three channels against the
    # mean of the image pixels it covers.
    real = np.asarray(real)
    h = renders.recon_features.shape[1]
    k = real.shape[1] // h
    want = 0.0
    for features in (renders.recon_features, renders.swap_features):
      raw = np.asarray(features)[..., :3]
      for i in range(h):
        for j in range(h):
          block = real[:, k * i:k * i + k, k * j:k * j + k].mean(axis=(1, 2))
          want += np.abs(raw[:, i, j] - block).mean() / h**2
    self.assertAlmostEqual(float(got.raw_rgb), want, places=5)
    self.assertEqual(set(got.metrics()), {"cross_view", "raw_rgb"})

  def test_training_with_pairs(self):
    config = testing_utils.branch_config(0.0)
    config.loss.update(cross_view_weight=1.0, opacity_binary_weight=1.0)
    state, metrics = _step(config)
    for name in ("cross_view", "opacity_binary"):
      self.assertTrue(np.isfinite(metrics[name]), name)
    init = train_state_lib.create_train_state(config)
    self.assertGreater(_max_diff(state.g_params, init.g_params), 1e-5)


class EncoderTest(parameterized.TestCase):

  def test_kl_is_zero_at_the_prior_and_positive_elsewhere(self):
    config = testing_utils.load_config("tiny")
    zeros = generator.sample_latents(jax.random.key(0), 3, config.field)
    zeros = jax.tree.map(jnp.zeros_like, zeros)
    at_prior = structs.Encoding(zeros, zeros, None, None)
    np.testing.assert_allclose(losses.kl_to_prior(at_prior), 0.0,
                               atol=1e-6)
    shifted = structs.Encoding(jax.tree.map(lambda z: z + 1.0, zeros),
                                zeros, None, None)
    dims = (config.field.z_shape_dim + config.field.z_app_dim
            + config.field.z_bg_shape_dim + config.field.z_bg_app_dim)
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension.
    np.testing.assert_allclose(losses.kl_to_prior(shifted), 0.5 * dims,
                               rtol=1e-6)

  def test_pose_stays_in_the_widened_prior(self):
    config = testing_utils.load_config("tiny")
    q = encoders.LatentPoseEncoder(config, rngs=nnx.Rngs(0))
    images = 50.0 * jax.random.normal(jax.random.key(1), (16, 32, 32, 3))
    encoding = q(images)
    (yc, yh), (pc, ph) = camera_lib.pose_range(config.camera)
    margin = encoders.POSE_RANGE_MARGIN
    self.assertTrue(np.all(np.abs(encoding.yaw - yc) <= margin * yh + 1e-6))
    self.assertTrue(np.all(np.abs(encoding.pitch - pc) <= margin * ph + 1e-6))
    self.assertEqual(encoding.mean.z_shape.shape,
                     (16, config.field.z_shape_dim))
    self.assertEqual(encoding.logvar.z_bg_app.shape,
                     (16, config.field.z_bg_app_dim))

  def test_logvar_is_bounded_so_kl_stays_finite(self):
    config = testing_utils.load_config("tiny")
    q = encoders.LatentPoseEncoder(config, rngs=nnx.Rngs(0))
    images = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    # Ordinary values pass almost unchanged (6 tanh(x / 6) = x - x^3/108...).
    net = jax.nn.leaky_relu(q.hidden(q.trunk(images)), 0.2)
    raw = jnp.split(q.codes(net), 2, axis=-1)[1]
    bounded = jnp.concatenate(jax.tree.leaves(q(images).logvar), axis=-1)
    self.assertLess(float(jnp.max(jnp.abs(raw))), 2.0)
    np.testing.assert_allclose(bounded, raw, atol=0.08)
    # A runaway codes head: raw log-variances in the thousands.
    q.codes.kernel[...] = q.codes.kernel[...] * 1e4
    q.codes.bias[...] = q.codes.bias[...] + 1e4

    def kl(q):
      return jnp.sum(losses.kl_to_prior(q(images)))

    value, grads = nnx.value_and_grad(kl)(q)
    bound = encoders.LOGVAR_BOUND
    for lv in jax.tree.leaves(q(images).logvar):
      self.assertTrue(np.all(np.abs(lv) <= bound))
      self.assertGreater(float(jnp.max(lv)), 0.99 * bound)
    self.assertTrue(np.isfinite(float(value)))
    self.assertTrue(all(np.all(np.isfinite(g))
                        for g in jax.tree.leaves(nnx.state(grads))))

  def test_sampled_codes_follow_mean_and_variance(self):
    mean = structs.Latents(*[jnp.full((4000, 2), 3.0)] * 4)
    logvar = structs.Latents(*[jnp.full((4000, 2), np.log(4.0))] * 4)
    codes = encoders.sample_codes(jax.random.key(0),
                                  structs.Encoding(mean, logvar, None, None))
    for z in jax.tree.leaves(codes):
      self.assertAlmostEqual(float(jnp.mean(z)), 3.0, delta=0.1)
      self.assertAlmostEqual(float(jnp.std(z)), 2.0, delta=0.1)
    # The four codes are drawn independently.
    self.assertGreater(float(jnp.max(jnp.abs(codes.z_shape - codes.z_app))),
                       1.0)
    # identity.code_noise scales the posterior's spread; 0 gives the means.
    encoding = structs.Encoding(mean, logvar, None, None)
    half = encoders.sample_codes(jax.random.key(0), encoding, 0.5)
    for z in jax.tree.leaves(half):
      self.assertAlmostEqual(float(jnp.std(z)), 1.0, delta=0.05)
    for z in jax.tree.leaves(encoders.sample_codes(jax.random.key(0),
                                                   encoding, 0.0)):
      np.testing.assert_array_equal(z, 3.0)

  def test_q_reads_images_at_its_own_size(self):
    config = testing_utils.load_config("tiny")  # 32x32 data
    config.identity.q_image_size = 16
    q = encoders.LatentPoseEncoder(config, rngs=nnx.Rngs(0))
    full = encoders.LatentPoseEncoder(
        testing_utils.load_config("tiny"), rngs=nnx.Rngs(0))
    # One down block fewer: a quarter of the pixels, the same heads.
    self.assertLen(q.trunk.blocks, len(full.trunk.blocks) - 1)
    small = jax.random.normal(jax.random.key(1), (3, 16, 16, 3))
    # Each 16x16 pixel repeated in a 2x2 block: the box filter gives it back,
    # so Q's encoding of the 32x32 image is its encoding of the 16x16 one.
    blocky = jnp.repeat(jnp.repeat(small, 2, axis=1), 2, axis=2)
    close = functools.partial(np.testing.assert_allclose, atol=1e-5)
    jax.tree.map(close, q(blocky), q(small))
    # Stripes inside each block that average out: a mean, not a pick.
    stripes = jnp.where(jnp.arange(32)[None, :, None, None] % 2 == 0,
                        1.0, -1.0)
    jax.tree.map(close, q(blocky + stripes), q(small))
    # ... while a change of the block means changes the encoding.
    self.assertGreater(
        float(jnp.max(jnp.abs(q(blocky + 0.5).yaw - q(blocky).yaw))), 1e-4)

  @parameterized.parameters(24, 64, 2)
  def test_q_image_size_must_divide_the_data(self, size):
    config = testing_utils.load_config("tiny")
    config.identity.q_image_size = size
    with self.assertRaisesRegex(errors.ConfigError, "identity.q_image_size"):
      encoders.LatentPoseEncoder(config, rngs=nnx.Rngs(0))

  def test_feature_encoder_embeds_on_the_unit_sphere(self):
    e1 = encoders.FeatureEncoder(feature_dim=8, feature_size=8, width=4,
                                 embedding_dim=16, rngs=nnx.Rngs(0))
    out = e1(jax.random.normal(jax.random.key(0), (3, 8, 8, 8)))
    self.assertEqual(out.shape, (3, 16))
    np.testing.assert_allclose(jnp.linalg.norm(out, axis=-1), 1.0, atol=1e-5)


if __name__ == "__main__":
  absltest.main()
