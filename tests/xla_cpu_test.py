"""Tests for the training step's XLA:CPU options (jaxface.xla_cpu)."""

import re

from absl.testing import absltest
import jax
import jax.numpy as jnp
import numpy as np

from jaxface import xla_cpu
from tests import testing_utils


def _kernel_gradient(x, w):
  """The weight gradient of a 3x3 convolution: what the option moves."""
  def loss(w):
    y = jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(jnp.tanh(y))
  return jax.grad(loss)(w)


def _ynn_ops(hlo_text: str) -> set[str]:
  """The JAX operations that the compiled program runs inside YNNPACK."""
  return {re.search(r'op_name="[^"]*/(\w+)"', line).group(1)
          for line in hlo_text.splitlines()
          if "__ynn_fusion" in line and "op_name" in line}


class StepCompilerOptionsTest(absltest.TestCase):

  def test_defaults_unless_switched_off(self):
    config = testing_utils.load_config()
    config.train.ynn_convolutions = True
    self.assertIsNone(xla_cpu.step_compiler_options(config))
    config.train.ynn_convolutions = False
    options = xla_cpu.step_compiler_options(config)
    if jax.default_backend() == "cpu":
      self.assertEqual(list(options), ["xla_cpu_experimental_ynn_fusion_type"])
    else:
      self.assertIsNone(options)

  def test_convolutions_leave_ynnpack_with_the_same_result(self):
    if jax.default_backend() != "cpu":
      self.skipTest("an XLA:CPU option")
    config = testing_utils.load_config()
    config.train.ynn_convolutions = False
    rng = np.random.RandomState(0)
    # Big enough that XLA hands it to YNNPACK by default.
    x = jnp.asarray(rng.normal(size=(16, 32, 32, 32)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, 32, 32)) * 0.1, jnp.float32)
    default = jax.jit(_kernel_gradient).lower(x, w).compile()
    moved = jax.jit(
        _kernel_gradient,
        compiler_options=xla_cpu.step_compiler_options(config)).lower(
            x, w).compile()
    self.assertIn("conv_general_dilated", _ynn_ops(default.as_text()))
    self.assertNotIn("conv_general_dilated", _ynn_ops(moved.as_text()))
    # Sums of 16k float32 terms, in another order: equal to 1e-5 of scale.
    expected = np.asarray(default(x, w))
    np.testing.assert_allclose(moved(x, w), expected,
                               atol=1e-5 * np.abs(expected).max())

  def test_an_unknown_option_is_refused_not_fatal(self):
    self.assertFalse(xla_cpu._accepted("xla_cpu_no_such_option", "1"))  # pylint: disable=protected-access


if __name__ == "__main__":
  absltest.main()
