"""Stage 7: optax chains for generator and discriminator, and the EMA."""

import optax


def make_optimizer(config, learning_rate: float):
  """An optax transformation from the ``optim`` config section.

  ``rmsprop`` matches torch.optim.RMSprop as GIRAFFE uses it (eps outside the
  square root, decay 0.99); ``adam`` uses betas (0, 0.99) as usual for GANs.
  """
  if config.kind == "rmsprop":
    tx = optax.rmsprop(learning_rate, decay=config.rmsprop_decay,
                       eps=config.eps, eps_in_sqrt=False)
  elif config.kind == "adam":
    tx = optax.adam(learning_rate, b1=0.0, b2=0.99, eps=config.eps)
  else:
    raise ValueError(f"unknown optim.kind {config.kind!r}; rmsprop or adam")
  if config.grad_clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), tx)
  return tx


def ema_update(ema_params, params, decay: float):
  """Exponential moving average ``decay * ema + (1 - decay) * params``."""
  return optax.incremental_update(params, ema_params, step_size=1.0 - decay)
