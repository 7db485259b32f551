"""Stage 7: optax chains for generator and discriminator, and the EMA."""

import optax

from jaxface import errors

SCHEDULES = ("constant", "cosine")


def learning_rate_schedule(config, learning_rate, num_steps: int):
  """``learning_rate`` itself, or a schedule of it over ``num_steps``.

  ``cosine`` decays it to ``final_lr_fraction`` of itself at ``num_steps``
  (a step budget, not ``train.max_minutes``: a run stopped by the clock
  ends before the decay does).
  """
  schedule = config.schedule
  if schedule == "constant":
    return learning_rate
  if schedule == "cosine":
    return optax.cosine_decay_schedule(
        learning_rate, max(int(num_steps), 1),
        alpha=config.final_lr_fraction)
  raise errors.ConfigError(f"unknown optim.schedule {schedule!r}; one of "
                           f"{', '.join(SCHEDULES)}")


def make_optimizer(config, learning_rate: float, num_steps: int = 0,
                   b1: float = 0.0):
  """An optax transformation from the ``optim`` config section.

  ``rmsprop`` matches torch.optim.RMSprop as GIRAFFE uses it (eps outside the
  square root, decay 0.99); ``adam`` uses betas (b1, 0.99), b1 = 0 as usual
  for GANs (the callers pass ``optim.adam_b1`` or ``optim.d_adam_b1``).
  ``num_steps`` is the length of ``config.schedule`` (unused when constant).
  """
  learning_rate = learning_rate_schedule(config, learning_rate, num_steps)
  if config.kind == "rmsprop":
    tx = optax.rmsprop(learning_rate, decay=config.rmsprop_decay,
                       eps=config.eps, eps_in_sqrt=False)
  elif config.kind == "adam":
    tx = optax.adam(learning_rate, b1=b1, b2=0.99, eps=config.eps)
  else:
    raise errors.ConfigError(
        f"unknown optim.kind {config.kind!r}; rmsprop or adam")
  if config.grad_clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), tx)
  return tx


def ema_update(ema_params, params, decay: float):
  """Exponential moving average ``decay * ema + (1 - decay) * params``."""
  return optax.incremental_update(params, ema_params, step_size=1.0 - decay)
