"""Compiler options for the jitted training steps on XLA's CPU backend.

XLA:CPU hands each convolution to YNNPACK by default. For the demo's step
(its neural renderer then saw 48 images of 32x32), a profile found the
step's largest operations there: the weight gradients of those
convolutions (a convolution whose window is the whole image). XLA's own
convolution emitter is faster for them. ``train.ynn_convolutions``
= False compiles the step with convolutions kept out of YNNPACK (dots and
reductions stay in it). A step of ``configs/small_cpu.py`` (as it was
then, with the full identity branch) then took 1.01-1.14 s against
1.21-1.43 s on 2 cores (four pairs of ``experiments/bench_train_step.py``
runs), while ``configs/celeba64.py`` at
64x64 gains nothing (1.27 against 1.20 s), so it is a per-config choice.
Other backends ignore it.
"""

import functools
import sys

import jax
import jax.numpy as jnp

_OPTION = "xla_cpu_experimental_ynn_fusion_type"
# XLA:CPU's default YNNPACK fusion types (jaxlib 0.10) less
# INDIVIDUAL_CONVOLUTION: the same program as XLA_FLAGS=
# --xla_cpu_experimental_ynn_fusion_type=-individual_convolution.
_WITHOUT_CONVOLUTIONS = ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,"
                         "LIBRARY_FUSION_TYPE_REDUCE")


@functools.cache
def _accepted(name: str, value: str) -> bool:
  """True if this jaxlib knows the option (it compiles a trivial program)."""
  try:
    jax.jit(jnp.negative, compiler_options={name: value}).lower(
        jnp.zeros(2)).compile()
  except jax.errors.JaxRuntimeError:
    return False
  return True


def step_compiler_options(config) -> dict[str, str] | None:
  """``compiler_options`` for ``jax.jit`` of a training step, or None.

  None (XLA's defaults) unless ``train.ynn_convolutions`` is False and the
  backend is the CPU; a jaxlib that does not know the option gets its
  defaults too, with a one-line notice.
  """
  if config.train.ynn_convolutions or jax.default_backend() != "cpu":
    return None
  if not _accepted(_OPTION, _WITHOUT_CONVOLUTIONS):
    print(f"jaxface: this jaxlib has no {_OPTION}; train.ynn_convolutions="
          "False is ignored", file=sys.stderr)
    return None
  return {_OPTION: _WITHOUT_CONVOLUTIONS}
