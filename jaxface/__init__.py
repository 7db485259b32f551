"""jaxface: a 3D-aware face generator trained with JAX/Flax."""

import jax

# Random draws must not depend on how arrays are sharded: a step on 8
# devices has to sample the same cameras and codes as on 1.
jax.config.update("jax_threefry_partitionable", True)
