"""Stage 6: loss functions (pure)."""

import jax
import jax.numpy as jnp


def generator_gan_loss(fake_logits: jax.Array) -> jax.Array:
  """Non-saturating generator loss ``E[softplus(-D(G(z)))]``.

  Args:
    fake_logits: [batch] discriminator logits of generated images.

  Returns:
    Scalar loss.
  """
  return jnp.mean(jax.nn.softplus(-fake_logits))


def discriminator_gan_loss(real_logits, fake_logits) -> jax.Array:
  """Logistic discriminator loss ``E[softplus(-D(x))] + E[softplus(D(G(z)))]``.

  Args:
    real_logits: [batch] logits of real images.
    fake_logits: [batch] logits of generated images.

  Returns:
    Scalar loss.
  """
  return (jnp.mean(jax.nn.softplus(-real_logits))
          + jnp.mean(jax.nn.softplus(fake_logits)))


def r1_penalty(disc_fn, real_images) -> tuple[jax.Array, jax.Array]:
  """R1 gradient penalty ``E[||grad_x D(x)||^2]`` on real images.

  Args:
    disc_fn: images [batch, h, w, 3] -> logits [batch].
    real_images: [batch, h, w, 3].

  Returns:
    (penalty, real_logits): the scalar penalty (unweighted, as GIRAFFE's
    ``compute_grad2(...).mean()``) and [batch] logits, so the caller need not
    evaluate D on the real batch twice.
  """
  logits, vjp = jax.vjp(disc_fn, real_images)
  (grads,) = vjp(jnp.ones_like(logits))
  penalty = jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1))
  return penalty, logits
