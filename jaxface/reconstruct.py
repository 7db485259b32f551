"""Stage 9: a face photo in, its 3D face out.

``encode`` is one forward pass of Q: codes (the posterior means) and a pose.
``refine`` sharpens them by test-time optimisation with the training losses
(L1 and E2-perceptual reconstruction at the estimated pose, E1/E2 identity, a
Gaussian prior on the codes); with ``tune_generator`` it then fine-tunes the
generator itself around the refined codes, as in pivotal tuning (PTI). All
steps are pure functions, jitted once per shape; the optimisation loops are
``jax.lax.scan``.
"""

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from jaxface import encoders
from jaxface import generator
from jaxface import identity
from jaxface import structs
from jaxface.train_step import to_model_range


@flax.struct.dataclass
class Estimate:
  """What reconstruction recovers for a batch of images.

  Attributes:
    latents: ``generator.Latents``, each [b, dim].
    yaw: [b] radians.
    pitch: [b] radians.
  """

  latents: generator.Latents
  yaw: jax.Array
  pitch: jax.Array


@functools.partial(jax.jit, static_argnames=("q_graphdef",))
def _encode(q_graphdef, q_params, images_uint8):
  encoding = nnx.merge(q_graphdef, q_params)(to_model_range(images_uint8))
  return Estimate(encoding.mean, encoding.yaw, encoding.pitch)


def encode(state, images_uint8) -> Estimate:
  """Q's feed-forward estimate (posterior means and pose).

  Args:
    state: a ``TrainState`` trained with the identity branch.
    images_uint8: [b, size, size, 3] at the model's image size.
  """
  return _encode(state.e_graphdefs[0], state.e_params["q"],
                 jnp.asarray(images_uint8))


def camera(estimate: Estimate, config) -> structs.Camera:
  return encoders.encoding_camera(estimate.yaw, estimate.pitch,
                                  config.camera)


def render(g_graphdef, g_params, estimate: Estimate,
           config) -> generator.GeneratorOutput:
  """Renders the estimates at their own poses (bin centres, no jitter)."""
  return nnx.merge(g_graphdef, g_params)(estimate.latents,
                                         camera(estimate, config))


def reconstruction_loss(g_graphdef, g_params, estimate: Estimate,
                        images01: jax.Array, state, config,
                        weights: dict) -> tuple[jax.Array, dict]:
  """Per-image summed test-time loss and its terms (each [b]).

  Summing over the batch keeps images independent: each image's variables
  only receive gradients from their own terms.
  """
  out = render(g_graphdef, g_params, estimate, config)
  terms = dict(l1=jnp.mean(jnp.abs(out.images - images01), axis=(1, 2, 3)))
  if state.e2_params is not None:
    terms["perceptual"] = identity.perceptual_distance(
        state.e2_graphdef, state.e2_params, out.images, images01)
    if state.e_graphdefs[1] is not None:
      e1 = nnx.merge(state.e_graphdefs[1], state.e_params["e1"])
      target = identity.embed(state.e2_graphdef, state.e2_params, images01)
      terms["identity"] = jnp.sum((e1(out.features) - target) ** 2, -1)
  # A Gaussian prior keeps the codes where the generator was trained.
  terms["prior"] = sum(jnp.sum(z**2, -1)
                       for z in jax.tree.leaves(estimate.latents))
  total = sum(weights[name] * value for name, value in terms.items())
  return jnp.sum(total), terms


DEFAULT_WEIGHTS = dict(l1=1.0, perceptual=1.0, identity=0.5, prior=1e-4)


@functools.partial(jax.jit, static_argnames=("steps", "config", "tune"))
def _optimise(state, g_params, estimate, images01, *, steps: int, lr: float,
              config, tune: bool):
  """``steps`` Adam steps on the estimate (or, if ``tune``, on G)."""
  weights = DEFAULT_WEIGHTS
  tx = optax.adam(lr)
  variables = g_params if tune else estimate

  def loss_fn(variables):
    g, e = (variables, estimate) if tune else (g_params, variables)
    return reconstruction_loss(state.g_graphdef, g, e, images01, state,
                               config, weights)

  def step(carry, _):
    variables, opt_state = carry
    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        variables)
    updates, opt_state = tx.update(grads, opt_state, variables)
    return (optax.apply_updates(variables, updates), opt_state), (
        loss, terms["l1"])

  (variables, _), (losses, l1) = jax.lax.scan(
      step, (variables, tx.init(variables)), None, length=steps)
  return variables, losses, l1


def refine(state, config, images_uint8, estimate: Estimate, *, steps: int,
           lr: float = 0.01, tune_generator: bool = False,
           tune_lr: float = 3e-4) -> tuple[Estimate, Any, dict]:
  """Test-time optimisation of codes and pose, optionally then of G.

  Args:
    state: the trained state (EMA generator weights are the starting point).
    config: run config.
    images_uint8: [b, size, size, 3] targets.
    estimate: the starting point (``encode``'s output).
    steps: optimisation steps per phase.
    lr: Adam step size for codes and pose.
    tune_generator: then fine-tune a copy of the generator for ``steps``
      steps with the codes fixed (pivotal tuning); use one image per call,
      the tuned generator is shared by the batch.
    tune_lr: Adam step size for the generator.

  Returns:
    (estimate, g_params, history): refined estimate, the generator weights to
    render it with, and {"loss": [steps], "l1": [steps, b]} per phase.
  """
  images01 = jnp.asarray(images_uint8, jnp.float32) / 255.0
  g_params = state.g_ema_params
  config = ml_collections.FrozenConfigDict(config)  # hashable: a jit key
  history = {}
  if steps > 0:
    estimate, losses, l1 = _optimise(state, g_params, estimate, images01,
                                     steps=steps, lr=lr, config=config,
                                     tune=False)
    history.update(loss=losses, l1=l1)
    if tune_generator:
      g_params, losses, l1 = _optimise(state, g_params, estimate, images01,
                                       steps=steps, lr=tune_lr,
                                       config=config, tune=True)
      history.update(tune_loss=losses, tune_l1=l1)
  return estimate, g_params, history
