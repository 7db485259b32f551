"""TrainState: everything a training step reads and writes."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxface import discriminator
from jaxface import generator
from jaxface import identity_branch
from jaxface import optim
from jaxface import structs


def _static(**kwargs):
  return flax.struct.field(pytree_node=False, **kwargs)


@flax.struct.dataclass
class TrainState:
  """Parameters and optimiser states as plain pytrees of arrays.

  Module structure (``nnx.GraphDef``) and optax transformations are static,
  so the state can be checkpointed, sharded and donated as a whole.

  The identity branch (None when every branch weight is 0) trains
  ``branch_params = {"q": Q, "e1": E1}`` (E1 only when an identity weight is
  set); with ``optim.q_ema_decay`` > 0, ``q_ema_params`` is an EMA of Q's
  weights, which inference reads in place of Q's own. ``e2_params`` is the
  frozen face-recognition network E2: it is not checkpointed, the run reads
  it from its ``identity_encoder/`` directory.
  """

  step: jax.Array
  g_params: Any
  d_params: Any
  g_ema_params: Any
  g_opt_state: Any
  d_opt_state: Any
  branch_params: Any = None
  branch_opt_state: Any = None
  q_ema_params: Any = None
  e2_params: Any = None
  g_graphdef: nnx.GraphDef = _static(default=None)
  d_graphdef: nnx.GraphDef = _static(default=None)
  q_graphdef: nnx.GraphDef = _static(default=None)
  e1_graphdef: nnx.GraphDef = _static(default=None)
  e2_graphdef: nnx.GraphDef = _static(default=None)
  g_tx: optax.GradientTransformation = _static(default=None)
  d_tx: optax.GradientTransformation = _static(default=None)
  branch_tx: optax.GradientTransformation = _static(default=None)

  def arrays(self) -> dict:
    """The checkpointed part of the state, as a dict."""
    arrays = dict(step=self.step, g_params=self.g_params,
                  d_params=self.d_params, g_ema_params=self.g_ema_params,
                  g_opt_state=self.g_opt_state, d_opt_state=self.d_opt_state)
    if self.branch_params is not None:
      arrays.update(branch_params=self.branch_params,
                    branch_opt_state=self.branch_opt_state)
    if self.q_ema_params is not None:
      arrays["q_ema_params"] = self.q_ema_params
    return arrays

  def with_arrays(self, arrays: dict) -> "TrainState":
    return self.replace(**arrays)

  def networks(self) -> structs.Networks:
    """What inference runs: the EMA generator, Q (its EMA if kept), E1, E2."""
    branch = self.branch_params or {}
    q_params = (branch.get("q") if self.q_ema_params is None
                else self.q_ema_params)
    return structs.Networks(
        g_params=self.g_ema_params, q_params=q_params,
        e1_params=branch.get("e1"), e2_params=self.e2_params,
        g_graphdef=self.g_graphdef, q_graphdef=self.q_graphdef,
        e1_graphdef=self.e1_graphdef, e2_graphdef=self.e2_graphdef)


def _split(module):
  graphdef, state = nnx.split(module)
  return graphdef, nnx.to_pure_dict(state)


def create_train_state(config, identity_encoder=None) -> TrainState:
  """Fresh state from ``config.seed``; jit-able (only arrays are traced).

  Args:
    config: run config.
    identity_encoder: ``(graphdef, state, embedding_dim)`` of the frozen E2
      (``workdir.identity_encoder``), required when a loss needs it
      (``identity_branch.needs_e2``).
  """
  rngs = nnx.Rngs(config.seed)
  g_graphdef, g_params = _split(generator.Generator(config, rngs=rngs))
  d_graphdef, d_params = _split(discriminator.make_discriminator(
      config.disc, config.data.image_size, rngs))
  g_tx = optim.make_optimizer(config.optim, config.optim.g_lr,
                              config.train.num_steps, config.optim.adam_b1)
  d_tx = optim.make_optimizer(config.optim, config.optim.d_lr,
                              config.train.num_steps, config.optim.d_adam_b1)
  branch = {}
  if identity_branch.uses_identity_branch(config):
    e2_graphdef = e2_params = embedding_dim = None
    if identity_branch.needs_e2(config):
      if identity_encoder is None:
        raise ValueError("the identity and perceptual losses need E2")
      e2_graphdef, e2_state, embedding_dim = identity_encoder
      # A copy: the step donates its state, the caller keeps its E2.
      e2_params = jax.tree.map(jnp.array, nnx.to_pure_dict(e2_state))
    # Streams of their own, not the generator's.
    q, e1 = identity_branch.make_networks(config, embedding_dim,
                                          nnx.Rngs(config.seed + 1))
    q_graphdef, q_params = _split(q)
    branch_params = dict(q=q_params)
    e1_graphdef = None
    if e1 is not None:
      e1_graphdef, branch_params["e1"] = _split(e1)
    branch_tx = optim.make_optimizer(config.optim, config.optim.branch_lr,
                                       config.train.num_steps,
                                       config.optim.adam_b1)
    if identity_branch.keeps_q_ema(config):
      branch["q_ema_params"] = jax.tree.map(jnp.copy, q_params)
    branch.update(branch_params=branch_params,
                  branch_opt_state=branch_tx.init(branch_params),
                  e2_params=e2_params, q_graphdef=q_graphdef,
                  e1_graphdef=e1_graphdef, e2_graphdef=e2_graphdef,
                  branch_tx=branch_tx)
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
