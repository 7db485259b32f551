"""Device mesh, shardings and global batches.

One code path for 1 CPU, 8 fake CPU devices or a pod slice: the batch is
split over the ``data`` axis of a mesh spanning all devices of all processes;
parameters and optimiser states are replicated.
"""

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxface import errors


def make_mesh(config) -> jax.sharding.Mesh:
  """A 1-D ``data`` mesh over ``config.mesh.data`` devices (-1: all)."""
  devices = jax.devices()
  n = config.mesh.data if config.mesh.data > 0 else len(devices)
  if n > len(devices):
    raise errors.ConfigError(
        f"mesh.data={n} but only {len(devices)} devices are visible")
  # Auto axes: shardings propagate through the step as in GSPMD; only inputs
  # and outputs are annotated.
  return jax.make_mesh((n,), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices[:n])


def data_sharding(mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def local_batch_size(global_batch: int, mesh) -> int:
  """The part of the global batch this process feeds."""
  if global_batch % mesh.size:
    raise errors.ConfigError(
        f"train.batch_size={global_batch} is not divisible by the "
        f"{mesh.size} devices of the mesh")
  return global_batch // jax.process_count()


def global_batch(local: dict, mesh) -> dict:
  """Assembles per-process numpy arrays into globally sharded jax arrays."""
  sharding = data_sharding(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding,
                                                       np.asarray(x)),
      local)


def to_host(tree):
  """Numpy copies of (possibly multi-host, replicated) arrays."""

  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      # Replicated outputs: every process holds the whole value.
      return np.asarray(x.addressable_data(0))
    return np.asarray(x)

  return jax.tree.map(one, tree)


def replicate_like(tree, reference: jax.Array):
  """Host arrays replicated over the devices ``reference`` lives on.

  Built per shard from the host copy, which every process holds, so it also
  works when the parameters span several processes.
  """
  target = reference.sharding
  if isinstance(target, NamedSharding):
    target = NamedSharding(target.mesh, P())
  elif not target.is_fully_replicated:
    target = jax.sharding.SingleDeviceSharding(jax.devices()[0])

  def one(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, target, lambda i: x[i])

  return jax.tree.map(one, tree)
