"""Stage 6: every loss term, pure.

The GAN terms (non-saturating logistic loss, R1) return batch means. The
identity-branch and reconstruction terms return one value per image, [b]:
training averages them over the batch, test-time refinement sums them so
that each image's variables get gradients from their own terms only. The
perceptual term is ``identity.perceptual_distance`` (it needs E2's maps).
"""

import jax
import jax.numpy as jnp

from jaxface import structs


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


def discriminator_fake_loss(fake_logits: jax.Array) -> jax.Array:
  """The fake half of the discriminator loss, ``E[softplus(D(G(z)))]``."""
  return jnp.mean(jax.nn.softplus(fake_logits))


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


def identity_distance(embedding: jax.Array, target: jax.Array) -> jax.Array:
  """The identity loss: ``||E1(features) - E2(real)||^2`` per image.

  Args:
    embedding: [b, dim] E1's unit-length embeddings of rendered features.
    target: [b, dim] E2's unit-length embeddings of the real images.

  Returns:
    [b] squared distances (``2 - 2 cos`` for unit vectors).
  """
  return jnp.sum((embedding - target) ** 2, axis=-1)


def l1_distance(images: jax.Array, targets: jax.Array) -> jax.Array:
  """Mean absolute difference per image; [b, h, w, c] -> [b]."""
  return jnp.mean(jnp.abs(images - targets), axis=(1, 2, 3))


def box_downsample(images: jax.Array, size: int) -> jax.Array:
  """Block means: [b, s, s, c] -> [b, size, size, c]; ``size`` divides s."""
  b, s, _, c = images.shape
  k = s // size
  return jnp.mean(images.reshape(b, size, k, size, k, c), axis=(2, 4))


def raw_rgb_distance(features: jax.Array, targets: jax.Array) -> jax.Array:
  """L1 of a feature image's first three channels to a box-filtered image.

  The first three channels, drawn by the 3D field and its background alone
  (no 2D renderer), read as a low-resolution RGB image, as EG3D's "raw
  image": the field must then put the head's silhouette and colours where
  the image has them, not leave them to the neural renderer. EG3D's decoder
  bounds its features with a sigmoid (``OSGDecoder``); jaxface's feature
  head is linear, so the channels are compared as they come.

  Args:
    features: [b, h, h, c >= 3] feature images.
    targets: [b, s, s, 3] images in the same range, s a multiple of h.

  Returns:
    [b] mean absolute differences.
  """
  raw = features[..., :3].astype(jnp.float32)
  return l1_distance(raw, box_downsample(targets, features.shape[1]))


def kl_to_prior(encoding: structs.Encoding) -> jax.Array:
  """KL(N(mean, exp(logvar)) || N(0, I)) summed over all codes, [b]."""
  terms = jax.tree.map(
      lambda m, lv: 0.5 * jnp.sum(jnp.exp(lv) + m**2 - 1.0 - lv, axis=-1),
      encoding.mean, encoding.logvar)
  return sum(jax.tree.leaves(terms))


def latent_prior(latents: structs.Latents) -> jax.Array:
  """``sum ||z||^2`` over all codes, [b]: the Gaussian prior's -2 log p."""
  return sum(jnp.sum(z**2, -1) for z in jax.tree.leaves(latents))


def pose_regression(guess: structs.Encoding, cameras: structs.Camera,
                    pitch_weight: float = 1.0):
  """Squared yaw and pitch errors of Q's guess against known poses, [b].

  Either argument is anything with ``yaw`` and ``pitch`` [b] radians. The
  pitch error is counted ``pitch_weight`` times: a prior whose
  pitch range is a seventh of its yaw range gives pitch errors a fiftieth of
  yaw's weight at weight 1, and Q then learns to ignore pitch.
  """
  return ((guess.yaw - cameras.yaw) ** 2
          + pitch_weight * (guess.pitch - cameras.pitch) ** 2)


def code_regression(guess: structs.Encoding, latents: structs.Latents):
  """Q's mean squared error on the codes of prior samples, [b].

  Each of the four codes counts alike, whatever its dimension.
  """
  errors = jax.tree.map(lambda a, b: jnp.mean((a - b) ** 2, axis=-1),
                        guess.mean, latents)
  return sum(jax.tree.leaves(errors)) / 4.0


def binary_opacity(opacity: jax.Array) -> jax.Array:
  """``mean o (1 - o)`` per image, [b, h, w] -> [b]: 0 for solid or empty."""
  return jnp.mean(opacity * (1.0 - opacity), axis=(1, 2))
