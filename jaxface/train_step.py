"""Stage 7: one pure training iteration, D step then G step.

Both updates use the same batch of generated images, so the generator runs
forward once per iteration: ``jax.vjp`` keeps its pullback, the discriminator
is updated on the (stop-gradient) fakes with the R1 penalty on the reals, and
the generator's gradient is the pullback of the non-saturating loss under the
updated discriminator. This is the usual alternating GAN update; it saves the
second generator forward that separate G and D passes would cost.

The identity branch (any ``config.loss`` branch weight > 0) adds, in the same
pass: Q encodes each real image into codes and a pose; those codes are
rendered at Q's pose and at random poses; the losses are the identity loss
(E1 of the rendered features against the frozen E2 of the real image), L1 and
perceptual reconstruction at Q's pose, Q's KL to the prior, the
discriminator's verdict on the random-pose renders, and Q's regression of the
known codes and pose of the prior samples. Generator and Q are one ``jax.vjp``;
E1 and Q's regression term take their gradients directly. With every branch
weight 0 none of this is traced and the step is plain GIRAFFE.
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import encoders
from jaxface import generator
from jaxface import identity
from jaxface import losses
from jaxface import optim
from jaxface import train_state as train_state_lib


def to_model_range(images_uint8: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1] (the discriminator's input range)."""
  return images_uint8.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def _squared_distance(a: jax.Array, b: jax.Array) -> jax.Array:
  """Mean over the batch of ``||a - b||^2``; a, b [batch, dim]."""
  return jnp.mean(jnp.sum((a - b) ** 2, axis=-1))


def _encode_and_render(model, q, real, key, config) -> dict:
  """Q's codes of the real images rendered at Q's pose and at random poses.

  Returns a dict of [batch, ...] arrays: ``recon`` / ``novel`` images in
  [-1, 1], their feature images, and Q's means and log-variances.
  """
  k_eps, k_cam, k_depth = jax.random.split(key, 3)
  batch = real.shape[0]
  encoding = q(real)
  codes = encoders.sample_codes(k_eps, encoding)
  cams = jax.tree.map(
      lambda a, b: jnp.concatenate([a, b]),
      encoders.encoding_camera(encoding.yaw, encoding.pitch, config.camera),
      camera_lib.sample_poses(k_cam, batch, config.camera))
  out = model(jax.tree.map(lambda z: jnp.concatenate([z, z]), codes), cams,
              k_depth)
  images = out.images * 2.0 - 1.0
  return dict(recon=images[:batch], novel=images[batch:],
              recon_features=out.features[:batch],
              novel_features=out.features[batch:],
              mean=encoding.mean, logvar=encoding.logvar)


def _branch_losses(outs, e_params, state, real, target, latents, cameras,
                   disc, config) -> tuple[jax.Array, dict]:
  """Weighted identity-branch generator/encoder losses and their values.

  ``real`` are the real images in [-1, 1], like the renders in ``outs``.
  Terms with weight 0 are not computed at all.
  """
  lc = config.loss
  q_graphdef, e1_graphdef = state.e_graphdefs
  terms = {}
  if lc.identity_weight > 0 or lc.identity_random_weight > 0:
    e1 = nnx.merge(e1_graphdef, e_params["e1"])
    if lc.identity_weight > 0:
      terms["identity"] = (lc.identity_weight, _squared_distance(
          e1(outs["recon_features"]), target))
    if lc.identity_random_weight > 0:
      terms["identity_random"] = (lc.identity_random_weight, _squared_distance(
          e1(outs["novel_features"]), target))
  if lc.l1_weight > 0:
    terms["l1"] = (lc.l1_weight, jnp.mean(jnp.abs(outs["recon"] - real)))
  if lc.perceptual_weight > 0:
    terms["perceptual"] = (lc.perceptual_weight, jnp.mean(
        identity.perceptual_distance(state.e2_graphdef, state.e2_params,
                                     outs["recon"] * 0.5 + 0.5,
                                     real * 0.5 + 0.5)))
  if lc.kl_weight > 0:
    terms["kl"] = (lc.kl_weight, jnp.mean(encoders.kl_to_prior(
        encoders.Encoding(outs["mean"], outs["logvar"], None, None))))
  if lc.recon_gan_weight > 0:
    terms["recon_gan"] = (lc.recon_gan_weight,
                          losses.generator_gan_loss(disc(outs["novel"])))
  if lc.pose_regression_weight > 0 or lc.code_regression_weight > 0:
    # Prior samples have known codes and pose: Q learns to invert G on them.
    q = nnx.merge(q_graphdef, e_params["q"])
    guess = q(jax.lax.stop_gradient(outs["fake"]))
    if lc.pose_regression_weight > 0:
      terms["pose_regression"] = (lc.pose_regression_weight, jnp.mean(
          (guess.yaw - cameras.yaw) ** 2 + (guess.pitch - cameras.pitch) ** 2))
    if lc.code_regression_weight > 0:
      errors = jax.tree.map(lambda a, b: jnp.mean((a - b) ** 2),
                            guess.mean, latents)
      terms["code_regression"] = (lc.code_regression_weight,
                                  sum(jax.tree.leaves(errors)) / 4.0)
  total = sum(weight * value for weight, value in terms.values())
  return total, {name: value for name, (_, value) in terms.items()}


def train_step(state: train_state_lib.TrainState, batch: dict, rng: jax.Array,
               *, config) -> tuple[train_state_lib.TrainState, dict]:
  """One GAN iteration (plus the identity branch when it is on).

  Args:
    state: the current state.
    batch: dict with ``image`` uint8 [batch, size, size, 3] real images.
    rng: the run's base PRNG key; the step is folded in here.
    config: the run config (static).

  Returns:
    (new_state, metrics) with scalar metrics.
  """
  key = jax.random.fold_in(rng, state.step)
  k_cam, k_z, k_depth = jax.random.split(key, 3)
  real = to_model_range(batch["image"])
  batch_size = real.shape[0]
  cameras = camera_lib.sample_poses(k_cam, batch_size, config.camera)
  latents = generator.sample_latents(k_z, batch_size, config.field)
  branch = state.e_params is not None
  lc = config.loss

  def generate(g_params, e_params):
    model = nnx.merge(state.g_graphdef, g_params)
    outs = dict(fake=model(latents, cameras, k_depth).images * 2.0 - 1.0)
    if branch:
      q = nnx.merge(state.e_graphdefs[0], e_params["q"])
      outs.update(_encode_and_render(model, q, real,
                                     jax.random.fold_in(key, 1), config))
    return outs

  outs, pullback = jax.vjp(generate, state.g_params, state.e_params)
  judge_novel = branch and lc.recon_gan_weight > 0

  r1_weight = lc.r1_weight

  def d_loss_fn(d_params):
    disc = nnx.merge(state.d_graphdef, d_params)
    if r1_weight > 0:
      r1, real_logits = losses.r1_penalty(disc, real)
    else:
      r1, real_logits = jnp.zeros(()), disc(real)
    fake_logits = disc(jax.lax.stop_gradient(outs["fake"]))
    gan = losses.discriminator_gan_loss(real_logits, fake_logits)
    aux = dict(d_gan=gan, r1=r1, d_real=jnp.mean(real_logits),
               d_fake=jnp.mean(fake_logits))
    loss = gan + r1_weight * r1
    if judge_novel:
      novel_logits = disc(jax.lax.stop_gradient(outs["novel"]))
      loss += lc.recon_gan_weight * jnp.mean(jax.nn.softplus(novel_logits))
      aux["d_novel"] = jnp.mean(novel_logits)
    return loss, aux

  (d_loss, d_aux), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
      state.d_params)
  d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state,
                                             state.d_params)
  d_params = optax.apply_updates(state.d_params, d_updates)

  target = None
  if branch and train_state_lib.needs_e1(config):
    # E2 is frozen: its embedding of the real image is a constant target.
    target = identity.embed(state.e2_graphdef, state.e2_params,
                            real * 0.5 + 0.5)

  def g_loss_fn(outs, e_params):
    disc = nnx.merge(state.d_graphdef, d_params)
    gan = losses.generator_gan_loss(disc(outs["fake"]))
    if not branch:
      return gan, dict(g_gan=gan)
    extra, terms = _branch_losses(outs, e_params, state, real, target,
                                  latents, cameras, disc, config)
    return gan + extra, dict(g_gan=gan, **terms)

  (g_loss, g_aux), (out_grads, e_direct_grads) = jax.value_and_grad(
      g_loss_fn, argnums=(0, 1), has_aux=True)(outs, state.e_params)
  g_grads, e_pulled_grads = pullback(out_grads)
  g_updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state,
                                             state.g_params)
  g_params = optax.apply_updates(state.g_params, g_updates)
  g_ema_params = optim.ema_update(state.g_ema_params, g_params,
                                  config.optim.ema_decay)
  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params,
      g_ema_params=g_ema_params, g_opt_state=g_opt_state,
      d_opt_state=d_opt_state)
  metrics = {}
  if branch:
    e_grads = jax.tree.map(jnp.add, e_direct_grads, e_pulled_grads)
    e_updates, e_opt_state = state.e_tx.update(e_grads, state.e_opt_state,
                                               state.e_params)
    new_state = new_state.replace(
        e_params=optax.apply_updates(state.e_params, e_updates),
        e_opt_state=e_opt_state)
    metrics["e_grad_norm"] = optax.tree.norm(e_grads)

  # One flag for the host to check: losses and updated weights all finite
  # (a finite loss can still be followed by an update that overflows).
  finite = jnp.all(jnp.stack(
      [jnp.isfinite(g_loss), jnp.isfinite(d_loss)]
      + [jnp.all(jnp.isfinite(x))
         for x in jax.tree.leaves((new_state.g_params, new_state.d_params,
                                   new_state.e_params))]))
  metrics.update(
      g_loss=g_loss, d_loss=d_loss, g_grad_norm=optax.tree.norm(g_grads),
      d_grad_norm=optax.tree.norm(d_grads), finite=finite, **d_aux, **g_aux)
  return new_state, metrics
