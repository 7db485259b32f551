"""Stage 7: one pure training iteration, D step then G step.

Both updates use the same batch of generated images, so the generator runs
forward once per iteration: ``jax.vjp`` keeps its pullback, the discriminator
is updated on the (stop-gradient) fakes with the R1 penalty on the reals, and
the generator's gradient is the pullback of the non-saturating loss under the
updated discriminator. This is the usual alternating GAN update; it saves the
second generator forward that separate G and D passes would cost.
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import generator
from jaxface import losses
from jaxface import optim
from jaxface import train_state as train_state_lib


def to_model_range(images_uint8: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1] (the discriminator's input range)."""
  return images_uint8.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def train_step(state: train_state_lib.TrainState, batch: dict, rng: jax.Array,
               *, config) -> tuple[train_state_lib.TrainState, dict]:
  """One GAN iteration.

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

  def generate(g_params):
    model = nnx.merge(state.g_graphdef, g_params)
    return model(latents, cameras, k_depth).images * 2.0 - 1.0

  fake, g_pullback = jax.vjp(generate, state.g_params)

  r1_weight = config.loss.r1_weight

  def d_loss_fn(d_params):
    disc = nnx.merge(state.d_graphdef, d_params)
    if r1_weight > 0:
      r1, real_logits = losses.r1_penalty(disc, real)
    else:
      r1, real_logits = jnp.zeros(()), disc(real)
    fake_logits = disc(jax.lax.stop_gradient(fake))
    gan = losses.discriminator_gan_loss(real_logits, fake_logits)
    aux = dict(d_gan=gan, r1=r1, d_real=jnp.mean(real_logits),
               d_fake=jnp.mean(fake_logits))
    return gan + r1_weight * r1, aux

  (d_loss, d_aux), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
      state.d_params)
  d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state,
                                             state.d_params)
  d_params = optax.apply_updates(state.d_params, d_updates)

  def g_loss_fn(fake_images):
    disc = nnx.merge(state.d_graphdef, d_params)
    return losses.generator_gan_loss(disc(fake_images))

  g_loss, fake_grads = jax.value_and_grad(g_loss_fn)(fake)
  (g_grads,) = g_pullback(fake_grads)
  g_updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state,
                                             state.g_params)
  g_params = optax.apply_updates(state.g_params, g_updates)
  g_ema_params = optim.ema_update(state.g_ema_params, g_params,
                                  config.optim.ema_decay)

  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params,
      g_ema_params=g_ema_params, g_opt_state=g_opt_state,
      d_opt_state=d_opt_state)
  # One flag for the host to check: losses and updated weights all finite
  # (a finite loss can still be followed by an update that overflows).
  finite = jnp.all(jnp.stack(
      [jnp.isfinite(g_loss), jnp.isfinite(d_loss)]
      + [jnp.all(jnp.isfinite(x))
         for x in jax.tree.leaves((g_params, d_params))]))
  metrics = dict(
      g_loss=g_loss, d_loss=d_loss, g_grad_norm=optax.tree.norm(g_grads),
      d_grad_norm=optax.tree.norm(d_grads), finite=finite, **d_aux)
  return new_state, metrics
