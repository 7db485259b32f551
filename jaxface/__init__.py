"""jaxface: a 3D-aware face generator trained with JAX/Flax."""
