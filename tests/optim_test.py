"""Tests of the optimiser chains: learning-rate schedules and their errors."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl.testing import absltest

from jaxface import errors
from jaxface import optim


def _config(**overrides):
  values = dict(kind="adam", eps=1e-12, rmsprop_decay=0.99, grad_clip=0.0,
                schedule="constant", final_lr_fraction=0.0)
  return ml_collections.ConfigDict(dict(values, **overrides))


def _step_sizes(tx, num_updates: int) -> np.ndarray:
  """Size of each update under a constant gradient of ones."""
  params = jnp.zeros(3)
  state = tx.init(params)
  sizes = []
  for _ in range(num_updates):
    updates, state = tx.update(jnp.ones(3), state, params)
    sizes.append(float(jnp.abs(updates[0])))
  return np.asarray(sizes)


class OptimTest(absltest.TestCase):

  def test_constant_is_plain_adam_with_the_same_state(self):
    tx = optim.make_optimizer(_config(), 0.1, num_steps=10)
    plain = optax.adam(0.1, b1=0.0, b2=0.99, eps=1e-12)
    # Adam with beta1 = 0 moves by the learning rate under a constant
    # gradient; the state is Adam's alone, so old checkpoints still fit.
    np.testing.assert_allclose(_step_sizes(tx, 4), 0.1, rtol=1e-5)
    self.assertEqual(
        jax.tree.structure(tx.init(jnp.zeros(3))),
        jax.tree.structure(plain.init(jnp.zeros(3))))

  def test_cosine_decays_to_the_final_fraction(self):
    num_steps, alpha = 8, 0.1
    tx = optim.make_optimizer(
        _config(schedule="cosine", final_lr_fraction=alpha), 0.1,
        num_steps=num_steps)
    expected = [0.1 * ((1 - alpha) * 0.5 * (1 + math.cos(
        math.pi * min(k, num_steps) / num_steps)) + alpha)
                for k in range(num_steps + 2)]
    # Past num_steps it stays at the final fraction.
    np.testing.assert_allclose(_step_sizes(tx, num_steps + 2), expected,
                               rtol=1e-5)

  def test_unknown_names_are_config_errors(self):
    with self.assertRaisesRegex(errors.ConfigError, "optim.schedule 'step'"):
      optim.make_optimizer(_config(schedule="step"), 0.1, num_steps=10)
    with self.assertRaisesRegex(errors.ConfigError, "optim.kind 'sgd'"):
      optim.make_optimizer(_config(kind="sgd"), 0.1)


if __name__ == "__main__":
  absltest.main()
