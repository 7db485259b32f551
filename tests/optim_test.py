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
from jaxface import train_state as train_state_lib
from tests import testing_utils


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


def _step_sizes_alternating(tx) -> np.ndarray:
  """Sizes of two updates under a gradient of +1, then -1."""
  params = jnp.zeros(3)
  state = tx.init(params)
  sizes = []
  for sign in (1.0, -1.0):
    updates, state = tx.update(sign * jnp.ones(3), state, params)
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

  def test_adam_momentum_matches_a_numpy_reference(self):
    # Adam written out: m and v with bias correction, eps outside the root.
    b1, b2, lr, eps = 0.9, 0.99, 0.1, 1e-12
    grads = [1.0, -1.0, 1.0, -2.0, 0.5]
    m = v = 0.0
    expected = []
    for t, g in enumerate(grads, start=1):
      m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
      m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
      expected.append(-lr * m_hat / (math.sqrt(v_hat) + eps))
    tx = optim.make_optimizer(_config(), lr, num_steps=10, b1=b1)
    state, updates = tx.init(jnp.zeros(1)), []
    for g in grads:
      update, state = tx.update(jnp.full(1, g), state, jnp.zeros(1))
      updates.append(float(update[0]))
    np.testing.assert_allclose(updates, expected, rtol=1e-5)
    # Momentum damps an alternating gradient: without it every step is lr.
    self.assertLess(abs(updates[1]), 0.1 * lr)

  def test_train_state_gives_g_and_q_adam_b1_and_d_its_own(self):
    config = testing_utils.branch_config(weight=1.0)
    for name in ("identity_weight", "identity_random_weight",
                 "perceptual_weight"):
      config.loss[name] = 0.0  # no E2 needed: L1, KL and the regressions
    config.optim.update(kind="adam", adam_b1=0.9, d_adam_b1=0.0)
    state = train_state_lib.create_train_state(config)
    second_step = {}
    for name, tx in (("g", state.g_tx), ("d", state.d_tx),
                     ("branch", state.branch_tx)):
      sizes = _step_sizes_alternating(tx)
      second_step[name] = sizes[1] / sizes[0]
    # An alternating gradient: damped by momentum, not without it.
    self.assertLess(second_step["g"], 0.1)
    self.assertLess(second_step["branch"], 0.1)
    np.testing.assert_allclose(second_step["d"], 1.0, rtol=1e-4)

  def test_unknown_names_are_config_errors(self):
    with self.assertRaisesRegex(errors.ConfigError, "optim.schedule 'step'"):
      optim.make_optimizer(_config(schedule="step"), 0.1, num_steps=10)
    with self.assertRaisesRegex(errors.ConfigError, "optim.kind 'sgd'"):
      optim.make_optimizer(_config(kind="sgd"), 0.1)


if __name__ == "__main__":
  absltest.main()
