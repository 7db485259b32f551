"""TrainState: everything a training step reads and writes."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxface import discriminator
from jaxface import encoders
from jaxface import generator
from jaxface import optim


@flax.struct.dataclass
class TrainState:
  """Parameters and optimiser states as plain pytrees of arrays.

  Module structure (``nnx.GraphDef``) and optax transformations are static,
  so the state can be checkpointed, sharded and donated as a whole.
  """

  step: jax.Array
  g_params: Any
  d_params: Any
  g_ema_params: Any
  g_opt_state: Any
  d_opt_state: Any
  # The identity branch (None when every identity-branch weight is 0):
  # e_params = {"q": Q, "e1": E1 (when an identity weight > 0)}, trained;
  # e2_params: the frozen face-recognition network (not checkpointed, it is
  # read from the run's identity_encoder/ directory).
  e_params: Any = None
  e_opt_state: Any = None
  e2_params: Any = None
  g_graphdef: nnx.GraphDef = flax.struct.field(pytree_node=False,
                                               default=None)
  d_graphdef: nnx.GraphDef = flax.struct.field(pytree_node=False,
                                               default=None)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False,
                                                         default=None)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False,
                                                         default=None)
  # (q_graphdef, e1_graphdef or None) and E2's graphdef.
  e_graphdefs: tuple = flax.struct.field(pytree_node=False, default=None)
  e2_graphdef: nnx.GraphDef = flax.struct.field(pytree_node=False,
                                                default=None)
  e_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False,
                                                         default=None)

  def arrays(self) -> dict:
    """The checkpointed part of the state, as a dict."""
    arrays = dict(step=self.step, g_params=self.g_params,
                  d_params=self.d_params, g_ema_params=self.g_ema_params,
                  g_opt_state=self.g_opt_state, d_opt_state=self.d_opt_state)
    if self.e_params is not None:
      arrays.update(e_params=self.e_params, e_opt_state=self.e_opt_state)
    return arrays

  def with_arrays(self, arrays: dict) -> "TrainState":
    return self.replace(**arrays)


def build_models(config, seed: int):
  """Instantiates generator and discriminator; returns (graphdef, params)."""
  rngs = nnx.Rngs(seed)
  g = generator.Generator(config, rngs=rngs)
  d = discriminator.make_discriminator(config.disc, config.data.image_size,
                                       rngs)
  g_graphdef, g_state = nnx.split(g)
  d_graphdef, d_state = nnx.split(d)
  return (g_graphdef, nnx.to_pure_dict(g_state),
          d_graphdef, nnx.to_pure_dict(d_state))


def uses_identity_branch(config) -> bool:
  """True if any identity-branch weight is non-zero (Q is then trained)."""
  return any(config.loss[name] > 0 for name in BRANCH_WEIGHTS)


def needs_e2(config) -> bool:
  """True if a loss reads the frozen face-recognition network E2."""
  return (config.loss.identity_weight > 0
          or config.loss.identity_random_weight > 0
          or config.loss.perceptual_weight > 0)


def needs_e1(config) -> bool:
  return (config.loss.identity_weight > 0
          or config.loss.identity_random_weight > 0)


BRANCH_WEIGHTS = ("identity_weight", "identity_random_weight", "l1_weight",
                  "perceptual_weight", "kl_weight", "recon_gan_weight",
                  "pose_regression_weight", "code_regression_weight")


def build_encoders(config, seed: int, embedding_dim: int | None):
  """Q (and E1 if an identity weight is set): ((graphdefs), params dict)."""
  rngs = nnx.Rngs(seed + 1)  # not the generator's streams
  q_graphdef, q_state = nnx.split(encoders.LatentPoseEncoder(config,
                                                             rngs=rngs))
  params = dict(q=nnx.to_pure_dict(q_state))
  e1_graphdef = None
  if needs_e1(config):
    e1 = encoders.FeatureEncoder(
        feature_dim=config.field.feature_dim,
        feature_size=config.render.feature_size,
        width=config.identity.e1_width, embedding_dim=embedding_dim,
        rngs=rngs)
    e1_graphdef, e1_state = nnx.split(e1)
    params["e1"] = nnx.to_pure_dict(e1_state)
  return (q_graphdef, e1_graphdef), params


def create_train_state(config, identity_encoder=None) -> TrainState:
  """Fresh state from ``config.seed``; jit-able (only arrays are traced).

  Args:
    config: run config.
    identity_encoder: ``(graphdef, state, embedding_dim)`` of the frozen E2
      (``identity_import.load_identity_encoder``), required when a loss needs
      it (``needs_e2``).
  """
  g_graphdef, g_params, d_graphdef, d_params = build_models(config,
                                                            config.seed)
  g_tx = optim.make_optimizer(config.optim, config.optim.g_lr)
  d_tx = optim.make_optimizer(config.optim, config.optim.d_lr)
  branch = {}
  if uses_identity_branch(config):
    e2_graphdef = e2_params = embedding_dim = None
    if needs_e2(config):
      if identity_encoder is None:
        raise ValueError("the identity and perceptual losses need E2")
      e2_graphdef, e2_state, embedding_dim = identity_encoder
      # A copy: the step donates its state, the caller keeps its E2.
      e2_params = jax.tree.map(jnp.array, nnx.to_pure_dict(e2_state))
    e_graphdefs, e_params = build_encoders(config, config.seed,
                                           embedding_dim)
    e_tx = optim.make_optimizer(config.optim, config.optim.e_lr)
    branch = dict(e_params=e_params, e_opt_state=e_tx.init(e_params),
                  e2_params=e2_params, e_graphdefs=e_graphdefs,
                  e2_graphdef=e2_graphdef, e_tx=e_tx)
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      d_params=d_params,
      g_ema_params=jax.tree.map(jnp.copy, g_params),
      g_opt_state=g_tx.init(g_params),
      d_opt_state=d_tx.init(d_params),
      g_graphdef=g_graphdef,
      d_graphdef=d_graphdef,
      g_tx=g_tx,
      d_tx=d_tx,
      **branch,
  )


def count_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
