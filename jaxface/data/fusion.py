"""Control over XLA operator fusion for long elementwise programs on CPU.

XLA fuses an elementwise producer into each of its consumers. For a signed
distance field of dozens of primitives read by several consumers (three
colour channels, a channels-last ``stack``, ...) that means recomputing the
whole field once per consumer, which made shading 10-50x slower than
tracing. ``jax.lax.optimization_barrier`` does not help: the CPU pipeline
removes it before fusion. A loop whose trip count is only known at run time
does: its results are materialized in memory.
"""

import jax
import jax.numpy as jnp


def materialize(tree):
  """Identity on a pytree of arrays that XLA cannot fuse through.

  Args:
    tree: pytree of arrays (float, int or bool).

  Returns:
    The same values, computed once and stored.
  """
  leaves = jax.tree.leaves(tree)
  probe = jnp.ravel(leaves[0])[0]
  # 1 unless the probe is NaN, and unknown at compile time either way. The
  # body is the identity for 0 or 1 trips, so the result never changes.
  trips = (probe == probe).astype(jnp.int32)

  def body(i, values):
    return jax.tree.map(lambda v: v * (i + 1).astype(v.dtype), values)

  return jax.lax.fori_loop(0, trips, body, tree)
