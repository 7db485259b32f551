"""Stage 9: a face photo in, its 3D face out.

``encode`` is one forward pass of Q: codes (the posterior means) and a pose.
``refine`` sharpens them by test-time optimisation with the training losses
(``jaxface.losses``: L1 and E2-perceptual reconstruction at the estimated
pose, E1/E2 identity, a Gaussian prior on the codes, a pull of the pose
back to Q's estimate and, optionally, the photo's mirror image at the
mirrored pose), weighted by the run's
``config.refine``; with ``tune_generator`` it then fine-tunes the generator
itself around the refined codes, as in pivotal tuning (PTI). All steps are
pure functions, jitted once per shape; the optimisation loops are
``jax.lax.scan``.
"""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from jaxface import camera as camera_lib
from jaxface import encoders
from jaxface import errors
from jaxface import identity
from jaxface import losses
from jaxface import structs

# The terms of the test-time loss; ``config.refine.<term>_weight``.
TERMS = ("l1", "perceptual", "identity", "prior", "pose", "mirror")


@functools.partial(jax.jit, static_argnames=("q_graphdef", "mirror"))
def _encode(q_graphdef, q_params, images_uint8, mirror: bool = False):
  q = nnx.merge(q_graphdef, q_params)
  encoding = q(encoders.to_model_range(images_uint8))
  yaw, pitch = encoding.yaw, encoding.pitch
  if mirror:
    # The mirror image of a head seen from yaw y is the mirrored head seen
    # from -y: Q reads one pose twice, and the two readings are averaged
    # (flip test-time augmentation). Q's errors that do not turn with the
    # image (a constant turn, a face's lighting) cancel. The codes stay the
    # photo's own: the mirror image's codes describe another head.
    flipped = q(encoders.to_model_range(images_uint8[:, :, ::-1]))
    yaw = 0.5 * (yaw - flipped.yaw)
    pitch = 0.5 * (pitch + flipped.pitch)
  return structs.Estimate(encoding.mean, yaw, pitch)


def encode(networks: structs.Networks, images_uint8,
           mirror: bool = False) -> structs.Estimate:
  """Q's feed-forward estimate (posterior means and pose).

  Args:
    networks: a run's networks, with Q.
    images_uint8: [b, size, size, 3] at the model's image size.
    mirror: average Q's pose with that of the image flipped left to right
      (its yaw negated; ``refine.mirror_pose``). Needs a pose prior
      symmetric about yaw 0, as ``mirror_pose`` checks.
  """
  return _encode(networks.q_graphdef, networks.q_params,
                 jnp.asarray(images_uint8), mirror=mirror)


def mirror_pose(config) -> bool:
  """``refine.mirror_pose``, checked against the run's pose prior.

  Raises:
    errors.ConfigError: it is on and the yaw prior is not centred on the
      face (a mirrored photo's pose would lie outside what Q learnt).
  """
  if not config.refine.get("mirror_pose", False):
    return False
  (yaw_centre, _), _ = camera_lib.pose_range(config.camera)
  if abs(yaw_centre) > 1e-3:
    raise errors.ConfigError(
        f"refine.mirror_pose needs a yaw prior centred on 0, got "
        f"camera.azimuth_range {tuple(config.camera.azimuth_range)}")
  return True


def render(g_graphdef, g_params, estimate: structs.Estimate,
           config) -> structs.GeneratorOutput:
  """Renders the estimates at their own poses (bin centres, no jitter)."""
  cams = camera_lib.prior_camera(estimate.yaw, estimate.pitch, config.camera)
  return nnx.merge(g_graphdef, g_params)(estimate.latents, cams)


def reconstruction_loss(networks: structs.Networks, g_params,
                        estimate: structs.Estimate, start: structs.Estimate,
                        images01: jax.Array,
                        config) -> tuple[jax.Array, dict]:
  """Summed test-time loss over the batch, and its terms (each [b]).

  ``estimate`` is scored; ``start`` is where refinement began (Q's
  estimate), which the pose term pulls back to.

  Summing over the batch keeps images independent: each image's variables
  only receive gradients from their own terms. Terms whose network the run
  lacks (E2, E1) are left out, and so are the identity and mirror terms at
  weight 0.
  """
  mirror = config.refine.get("mirror_weight", 0.0) > 0
  if mirror:
    # The photo flipped left to right is the mirrored head at -yaw; for a
    # nearly symmetric face, a second view of the same head for free. Both
    # poses in one generator call.
    both = estimate.replace(
        latents=jax.tree.map(lambda x: jnp.concatenate([x, x]),
                             estimate.latents),
        yaw=jnp.concatenate([estimate.yaw, -estimate.yaw]),
        pitch=jnp.concatenate([estimate.pitch, estimate.pitch]))
    out = render(networks.g_graphdef, g_params, both, config)
    targets = jnp.concatenate([images01, images01[:, :, ::-1]])
  else:
    out = render(networks.g_graphdef, g_params, estimate, config)
    targets = images01
  batch = images01.shape[0]
  l1 = losses.l1_distance(out.images, targets)
  terms = dict(l1=l1[:batch])
  if networks.e2_params is not None:
    perceptual = identity.perceptual_distance(
        networks.e2_graphdef, networks.e2_params, out.images, targets)
    terms["perceptual"] = perceptual[:batch]
    # E1 and E2's embedding run only where the term counts (the demo's
    # weight is 0).
    if (networks.e1_params is not None
        and config.refine.get("identity_weight", 0.0) > 0):
      target = identity.embed(networks.e2_graphdef, networks.e2_params,
                              images01)
      terms["identity"] = losses.identity_distance(
          networks.e1()(out.features[:batch]), target)
  if mirror:
    # The mirror view's pixel terms, weighed as the photo's.
    terms["mirror"] = config.refine.l1_weight * l1[batch:]
    if networks.e2_params is not None:
      terms["mirror"] += config.refine.perceptual_weight * perceptual[batch:]
  # A Gaussian prior keeps the codes where the generator was trained.
  terms["prior"] = losses.latent_prior(estimate.latents)
  # The pixels alone move the pose off Q's estimate, which was trained on
  # poses (prior samples' and, with labels, the data's): held near it.
  terms["pose"] = losses.pose_regression(estimate, start,
                                         config.loss.pose_pitch_weight)
  total = sum(config.refine[f"{name}_weight"] * value
              for name, value in terms.items())
  return jnp.sum(total), terms


def split_tunable(g_params, config) -> tuple[dict, dict]:
  """(the generator weights pivotal tuning moves, those it keeps).

  Without ``refine.tune_renderer`` the 2D neural renderer stays as trained:
  what tuning adds must then live in the 3D field. ``{**tunable,
  **frozen}`` is ``g_params`` again.
  """
  frozen = ({} if config.refine.tune_renderer
            else {"renderer": g_params["renderer"]})
  return {k: v for k, v in g_params.items() if k not in frozen}, frozen


@functools.partial(jax.jit, static_argnames=("steps", "config", "tune"))
def _optimise(networks, g_params, estimate, images01, *, steps: int,
              lr: float, config, tune: bool):
  """``steps`` Adam steps on the estimate (or, if ``tune``, on G)."""
  tx = optax.adam(lr)
  variables, frozen = (split_tunable(g_params, config) if tune
                       else (estimate, {}))

  def loss_fn(variables):
    g, e = ({**variables, **frozen}, estimate) if tune else (g_params,
                                                              variables)
    return reconstruction_loss(networks, g, e, estimate, images01, config)

  def step(carry, _):
    variables, opt_state = carry
    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        variables)
    updates, opt_state = tx.update(grads, opt_state, variables)
    return (optax.apply_updates(variables, updates), opt_state), (
        loss, terms["l1"])

  (variables, _), (loss_history, l1) = jax.lax.scan(
      step, (variables, tx.init(variables)), None, length=steps)
  return ({**variables, **frozen} if tune else variables), loss_history, l1


def refine(networks: structs.Networks, config, images_uint8,
           estimate: structs.Estimate, *, steps: int,
           lr: float | None = None, tune_generator: bool = False,
           tune_lr: float | None = None) -> tuple[structs.Estimate, Any,
                                                   dict]:
  """Test-time optimisation of codes and pose, optionally then of G.

  Args:
    networks: the run's networks (the EMA generator is the starting point).
    config: run config; ``config.refine`` weighs the terms.
    images_uint8: [b, size, size, 3] targets.
    estimate: the starting point (``encode``'s output).
    steps: optimisation steps per phase.
    lr: Adam step size for codes and pose (``config.refine.lr`` if None).
    tune_generator: then fine-tune a copy of the generator for ``steps``
      steps with the codes fixed (pivotal tuning); use one image per call,
      the tuned generator is shared by the batch.
    tune_lr: Adam step size for the generator (``config.refine.tune_lr``
      if None).

  Returns:
    (estimate, g_params, history): refined estimate, the generator weights to
    render it with, and {"loss": [steps], "l1": [steps, b]} per phase.
  """
  images01 = jnp.asarray(images_uint8, jnp.float32) / 255.0
  g_params = networks.g_params
  lr = config.refine.lr if lr is None else lr
  frozen = ml_collections.FrozenConfigDict(config)  # hashable: a jit key
  history = {}
  if steps > 0:
    estimate, loss_history, l1 = _optimise(
        networks, g_params, estimate, images01, steps=steps, lr=lr,
        config=frozen, tune=False)
    history.update(loss=loss_history, l1=l1)
    if tune_generator:
      g_params, tuned = tune(networks, config, images_uint8, estimate,
                             steps=steps, tune_lr=tune_lr)
      history.update(tuned)
  return estimate, g_params, history


def tune(networks: structs.Networks, config, images_uint8,
         estimate: structs.Estimate, *, steps: int,
         tune_lr: float | None = None) -> tuple[Any, dict]:
  """Pivotal tuning: a copy of the generator fitted with the codes fixed.

  Args:
    networks: the run's networks (the EMA generator is the starting point).
    config: run config; ``config.refine`` weighs the terms and says whether
      the neural renderer is tuned too (``tune_renderer``).
    images_uint8: [b, size, size, 3] targets; use one image per call, the
      tuned generator is shared by the batch.
    estimate: the codes and pose to tune for (``refine``'s output).
    steps: Adam steps.
    tune_lr: step size (``config.refine.tune_lr`` if None).

  Returns:
    (g_params, {"tune_loss": [steps], "tune_l1": [steps, b]}).
  """
  images01 = jnp.asarray(images_uint8, jnp.float32) / 255.0
  tune_lr = config.refine.tune_lr if tune_lr is None else tune_lr
  g_params, loss_history, l1 = _optimise(
      networks, networks.g_params, estimate, images01, steps=steps,
      lr=tune_lr, config=ml_collections.FrozenConfigDict(config), tune=True)
  return g_params, dict(tune_loss=loss_history, tune_l1=l1)
