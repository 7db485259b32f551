"""TrainState: everything a training step reads and writes."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxface import discriminator
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
  g_graphdef: nnx.GraphDef = flax.struct.field(pytree_node=False)
  d_graphdef: nnx.GraphDef = flax.struct.field(pytree_node=False)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  def arrays(self) -> dict:
    """The checkpointed part of the state, as a dict."""
    return dict(step=self.step, g_params=self.g_params,
                d_params=self.d_params, g_ema_params=self.g_ema_params,
                g_opt_state=self.g_opt_state, d_opt_state=self.d_opt_state)

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


def create_train_state(config) -> TrainState:
  """Fresh state from ``config.seed``; jit-able (only arrays are traced)."""
  g_graphdef, g_params, d_graphdef, d_params = build_models(config,
                                                            config.seed)
  g_tx = optim.make_optimizer(config.optim, config.optim.g_lr)
  d_tx = optim.make_optimizer(config.optim, config.optim.d_lr)
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
  )


def count_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
