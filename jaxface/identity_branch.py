"""Stage 7: the identity branch, Q's codes of real images rendered and scored.

For each real image ``x`` of a batch, Q gives codes ``z ~ N(mu, sigma^2)``
and a pose; the generator renders ``z`` at Q's pose ("recon") and, when a
term reads it, at a random prior pose ("novel") -- ``encode_and_render``.
``render_losses`` scores them, and ``inversion_losses`` scores Q on prior
samples of known pose and codes, with the terms of ``config.loss`` (each one
function of ``jaxface.losses``, shared with test-time refinement), as a
``BranchLosses``:

| weight                   | term                                             |
| ------------------------ | ------------------------------------------------ |
| `identity_weight`        | ``||E1(recon features) - E2(x)||^2``             |
| `identity_random_weight` | the same for the novel render                    |
| `l1_weight`              | ``|recon - x|``                                  |
| `perceptual_weight`      | E2 feature-map distance of recon and ``x``       |
| `kl_weight`              | KL of Q's Gaussians to N(0, I)                   |
| `recon_gan_weight`       | D's non-saturating loss on the novel renders     |
| `pose_regression_weight` | Q recovers the pose of prior samples             |
| `code_regression_weight` | Q recovers their codes                           |
| `cross_view_weight`      | one view's shape code renders its pair partner   |
|                          | (partner's other codes and Q pose): L1           |
| `cross_view_perceptual_` | ... and the E2 feature-map distance              |
| `opacity_binary_weight`  | the recon render's opacity pushed to 0 or 1      |
| `raw_rgb_weight`         | the recon (and swap) feature image's first three |
|                          | channels match ``x`` box-filtered to their size: |
|                          | L1 (EG3D's raw image, drawn by the field alone)  |
| `real_pose_weight`       | Q recovers the labelled pose of real images      |
|                          | (data with camera labels, as EG3D's)             |

A weight of 0 leaves its term out of the traced step altogether; with every
weight 0 the branch is off and training is plain GIRAFFE. The trainable
networks of the branch are Q and E1; E2 is the frozen face-recognition
network (``jaxface.identity``).
"""

import flax.struct
import jax
import jax.numpy as jnp
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import encoders
from jaxface import identity
from jaxface import losses
from jaxface import structs

# The branch's loss terms, in report order; ``config.loss.<term>_weight``.
TERMS = ("identity", "identity_random", "l1", "perceptual", "kl",
         "recon_gan", "pose_regression", "code_regression", "cross_view",
         "cross_view_perceptual", "opacity_binary", "raw_rgb", "real_pose")
WEIGHTS = tuple(f"{term}_weight" for term in TERMS)


def uses_identity_branch(config) -> bool:
  """True if any branch weight is non-zero (Q is then trained)."""
  return any(config.loss[name] > 0 for name in WEIGHTS)


def keeps_q_ema(config) -> bool:
  """True if the run keeps an EMA of Q's weights (``optim.q_ema_decay``)."""
  return (uses_identity_branch(config)
          and config.optim.get("q_ema_decay", 0.0) > 0)


def needs_e1(config) -> bool:
  """True if an identity loss compares E1 of renders with E2 of photos."""
  return (config.loss.identity_weight > 0
          or config.loss.identity_random_weight > 0)


def needs_e2(config) -> bool:
  """True if a loss reads the frozen face-recognition network E2."""
  return (needs_e1(config) or config.loss.perceptual_weight > 0
          or config.loss.cross_view_perceptual_weight > 0)


def renders_novel(config) -> bool:
  """True if a term reads the render at a random pose (else it is not drawn).

  The identity-random and recon-GAN terms are its only readers; without
  them the branch renders b images a step instead of 2b (or 3b with pairs).
  """
  return (config.loss.identity_random_weight > 0
          or config.loss.recon_gan_weight > 0)


def cross_view(config) -> bool:
  """True if the cross-view terms are on (they need ``data.pairs``)."""
  return (config.loss.cross_view_weight > 0
          or config.loss.cross_view_perceptual_weight > 0)


def make_networks(config, embedding_dim: int | None, rngs: nnx.Rngs):
  """The branch's trainable networks: (Q, E1 or None).

  Args:
    config: run config.
    embedding_dim: E2's embedding size (E1 embeds into E2's space); needed
      when ``needs_e1(config)``.
    rngs: initialisation streams.
  """
  q = encoders.LatentPoseEncoder(config, rngs=rngs)
  e1 = None
  if needs_e1(config):
    e1 = encoders.make_feature_encoder(config, embedding_dim, rngs)
  return q, e1


@flax.struct.dataclass
class BranchLosses:
  """Each term's batch mean (scalar), or None where its weight is 0."""

  identity: jax.Array | None = None
  identity_random: jax.Array | None = None
  l1: jax.Array | None = None
  perceptual: jax.Array | None = None
  kl: jax.Array | None = None
  recon_gan: jax.Array | None = None
  pose_regression: jax.Array | None = None
  code_regression: jax.Array | None = None
  cross_view: jax.Array | None = None
  cross_view_perceptual: jax.Array | None = None
  opacity_binary: jax.Array | None = None
  raw_rgb: jax.Array | None = None
  real_pose: jax.Array | None = None

  def weighted_sum(self, loss_config) -> jax.Array:
    """``sum_t loss.<t>_weight * t`` over the terms present."""
    return sum(loss_config[f"{name}_weight"] * value
               for name, value in self.metrics().items())

  def metrics(self) -> dict:
    """{term: value} of the terms present."""
    return {name: getattr(self, name) for name in TERMS
            if getattr(self, name) is not None}


def encode_and_render(model, q, real: jax.Array, key: jax.Array,
                      camera_config, cross_view: bool = False,
                      code_noise: float = 1.0,
                      novel: bool = True) -> structs.BranchRenders:
  """Q's codes of the real images rendered at Q's pose and at random poses.

  Args:
    model: the generator (``generator.Generator``).
    q: Q (``encoders.LatentPoseEncoder``).
    real: [b, s, s, 3] real images in [-1, 1]; with ``cross_view``, images
      ``2i`` and ``2i + 1`` show one identity.
    key: PRNG key for the codes' noise, the random poses and depth jitter.
    camera_config: the pose prior.
    cross_view: also render each image's partner's shape code with its own
      appearance and background codes at its own Q pose.
    code_noise: scale of the posterior noise in the rendered codes
      (``identity.code_noise``; 0 renders Q's means).
    novel: also render the codes at random prior poses
      (``renders_novel(config)``); False leaves ``novel`` and
      ``novel_features`` None.

  Returns:
    ``structs.BranchRenders`` of batch b (renders in [-1, 1]).
  """
  k_eps, k_cam, k_depth = jax.random.split(key, 3)
  batch = real.shape[0]
  encoding = q(real)
  codes = encoders.sample_codes(k_eps, encoding, code_noise)
  at_q = camera_lib.prior_camera(encoding.yaw, encoding.pitch, camera_config)
  groups = [(codes, at_q)]
  if novel:
    groups.append((codes, camera_lib.sample_poses(k_cam, batch,
                                                  camera_config)))
  if cross_view:
    partner = jnp.arange(batch) ^ 1  # 0 <-> 1, 2 <-> 3, ...
    groups.append((codes.replace(z_shape=codes.z_shape[partner]), at_q))
  # Every group in one generator call: one batch of (2 or 3) b.
  joined = lambda *trees: jax.tree.map(lambda *x: jnp.concatenate(x), *trees)
  out = model(joined(*[c for c, _ in groups]),
              joined(*[cam for _, cam in groups]), k_depth)
  images = out.images * 2.0 - 1.0
  group = lambda x, i: x[i * batch:(i + 1) * batch]
  swap = 1 + novel  # the cross-view group's index
  return structs.BranchRenders(
      encoding=encoding, recon=group(images, 0),
      recon_features=group(out.features, 0),
      recon_opacity=group(out.opacity, 0),
      novel=group(images, 1) if novel else None,
      novel_features=group(out.features, 1) if novel else None,
      swap=group(images, swap) if cross_view else None,
      swap_features=group(out.features, swap) if cross_view else None)


def render_losses(renders: structs.BranchRenders, real: jax.Array, *,
                  loss_config, e1=None, e2_target=None, e2=None,
                  disc=None, real_pose=None) -> BranchLosses:
  """The terms on Q's renders whose weight in ``loss_config`` is non-zero.

  Args:
    renders: ``encode_and_render``'s output for ``real``.
    real: [b, s, s, 3] the real images in [-1, 1].
    loss_config: the ``loss`` config section (weights).
    e1: E1, for the identity terms.
    e2_target: [b, dim] E2's embeddings of ``real``, for the identity terms.
    e2: (graphdef, params) of E2, for the perceptual term.
    disc: the discriminator, for the recon-GAN term.
    real_pose: the real images' labelled poses, anything with ``yaw`` and
      ``pitch`` [b] (a ``structs.Camera``), for the real-pose term.

  Returns:
    ``BranchLosses`` with the batch mean of each term that is on (the
    regression terms are ``inversion_losses``').
  """
  lc = loss_config
  terms = {}
  if lc.identity_weight > 0:
    terms["identity"] = losses.identity_distance(e1(renders.recon_features),
                                                 e2_target)
  if lc.identity_random_weight > 0:
    terms["identity_random"] = losses.identity_distance(
        e1(renders.novel_features), e2_target)
  if lc.l1_weight > 0:
    terms["l1"] = losses.l1_distance(renders.recon, real)
  if lc.perceptual_weight > 0:
    terms["perceptual"] = identity.perceptual_distance(
        *e2, renders.recon * 0.5 + 0.5, real * 0.5 + 0.5)
  if lc.kl_weight > 0:
    terms["kl"] = losses.kl_to_prior(renders.encoding)
  if lc.recon_gan_weight > 0:
    terms["recon_gan"] = losses.generator_gan_loss(disc(renders.novel))
  if lc.cross_view_weight > 0:
    terms["cross_view"] = losses.l1_distance(renders.swap, real)
  if lc.cross_view_perceptual_weight > 0:
    terms["cross_view_perceptual"] = identity.perceptual_distance(
        *e2, renders.swap * 0.5 + 0.5, real * 0.5 + 0.5)
  if lc.opacity_binary_weight > 0:
    terms["opacity_binary"] = losses.binary_opacity(renders.recon_opacity)
  if lc.raw_rgb_weight > 0:
    # The swap render is the partner's shape at this image's pose: its
    # silhouette is the one a novel view of that shape must have.
    terms["raw_rgb"] = losses.raw_rgb_distance(renders.recon_features, real)
    if renders.swap_features is not None:
      terms["raw_rgb"] = terms["raw_rgb"] + losses.raw_rgb_distance(
          renders.swap_features, real)
  if lc.real_pose_weight > 0:
    terms["real_pose"] = losses.pose_regression(
        renders.encoding, real_pose, lc.pose_pitch_weight)
  return BranchLosses(**{name: jnp.mean(value)
                         for name, value in terms.items()})


def branch_losses(renders: structs.BranchRenders, real: jax.Array, q,
                  fakes: jax.Array, cameras: structs.Camera,
                  latents: structs.Latents, *, loss_config, e2, e1=None,
                  disc=None, real_pose=None) -> BranchLosses:
  """Every branch term of a step: ``render_losses`` and ``inversion_losses``.

  Args:
    renders, real: ``encode_and_render``'s output and its [b, s, s, 3] real
      images in [-1, 1].
    q: Q, for the regression of the prior samples.
    fakes, cameras, latents: the prior samples (in [-1, 1]), their cameras
      and codes.
    loss_config: the ``loss`` config section (weights).
    e2: (graphdef, params) of the frozen E2: the perceptual terms, and,
      with ``e1``, the identity terms' target.
    e1: E1, for the identity terms (None without them).
    disc, real_pose: as ``render_losses``.

  Returns:
    ``BranchLosses`` of every term that is on.
  """
  e2_target = None
  if e1 is not None:
    # E2 is frozen: its embedding of the real image is a constant target.
    e2_target = identity.embed(*e2, real * 0.5 + 0.5)
  terms = render_losses(renders, real, loss_config=loss_config, e1=e1,
                        e2_target=e2_target, e2=e2, disc=disc,
                        real_pose=real_pose)
  return terms.replace(**inversion_losses(
      q, fakes, cameras, latents, loss_config=loss_config).metrics())


def inversion_losses(q, images: jax.Array, cameras: structs.Camera,
                     latents: structs.Latents, *,
                     loss_config) -> BranchLosses:
  """Q's regression of the known pose and codes of prior samples.

  Args:
    q: Q.
    images: [n, s, s, 3] renders of prior samples in [-1, 1]; their gradient
      is stopped, so these terms train Q only.
    cameras: the n cameras they were rendered from.
    latents: their codes.
    loss_config: the ``loss`` config section (weights).

  Returns:
    ``BranchLosses`` with ``pose_regression`` and ``code_regression`` where
    their weights are non-zero.
  """
  lc = loss_config
  if lc.pose_regression_weight <= 0 and lc.code_regression_weight <= 0:
    return BranchLosses()
  guess = q(jax.lax.stop_gradient(images))
  terms = {}
  if lc.pose_regression_weight > 0:
    terms["pose_regression"] = losses.pose_regression(
        guess, cameras, lc.pose_pitch_weight)
  if lc.code_regression_weight > 0:
    terms["code_regression"] = losses.code_regression(guess, latents)
  return BranchLosses(**{name: jnp.mean(value)
                         for name, value in terms.items()})
