"""Orbax checkpoints of the train state, with architecture checks.

Orbax writes each step into a temporary directory and renames it when the
write is complete, so a run killed mid-save leaves the previous checkpoint
intact and the half-written one is never read.
"""

import pathlib

import jax
import orbax.checkpoint as ocp

from jaxface import errors


def _flat_shapes(tree) -> dict[str, tuple]:
  """{'a/b/0/kernel': shape} for a tree of arrays or orbax metadata."""
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    name = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
    flat[name] = tuple(leaf.shape)
  return flat


def check_compatible(saved_params, model_params, *, what: str, where: str):
  """Raises CheckpointError naming the first parameter that does not match.

  Args:
    saved_params: tree of orbax ArrayMetadata (or arrays) from the checkpoint.
    model_params: tree of arrays or ShapeDtypeStructs the model expects.
    what: name of the tree, e.g. ``g_params``.
    where: checkpoint location, for the message.
  """
  saved = _flat_shapes(saved_params)
  model = _flat_shapes(model_params)
  for name in sorted(set(saved) | set(model)):
    if name not in saved:
      problem = "is missing from the checkpoint"
    elif name not in model:
      problem = "is in the checkpoint but not in the model"
    elif saved[name] != model[name]:
      problem = (f"has shape {saved[name]} in the checkpoint but "
                 f"{model[name]} in the model")
    else:
      continue
    raise errors.CheckpointError(
        f"checkpoint {where} was written by a different architecture: "
        f"parameter {what}/{name} {problem}")


class Checkpointer:
  """A thin wrapper of ``ocp.CheckpointManager`` for ``TrainState``."""

  def __init__(self, directory, config, *, read_only: bool = False):
    self.directory = pathlib.Path(directory).absolute()
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=config.every_steps,
        max_to_keep=config.max_to_keep,
        enable_async_checkpointing=config.async_save,
        read_only=read_only,
        create=not read_only,
    )
    # Naming the handler lets a fresh manager read metadata before restoring.
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers=ocp.StandardCheckpointHandler())

  def latest_step(self):
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, step: int, state, *, force: bool = False) -> bool:
    """Saves ``state`` if ``step`` is on the interval (or ``force``)."""
    return self.manager.save(
        step, args=ocp.args.StandardSave(state.arrays()), force=force)

  def reached_preemption(self, step: int) -> bool:
    return self.manager.reached_preemption(step)

  def restore(self, state, step=None):
    """Restores arrays into ``state``'s structure and shardings.

    Args:
      state: a TrainState (concrete or from ``jax.eval_shape`` with
        shardings) that gives structure, shapes and target shardings.
      step: the step to restore; the latest if None.

    Returns:
      The restored TrainState.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise errors.CheckpointError(f"no checkpoint in {self.directory}")
    where = f"{self.directory / str(step)}"
    target = state.arrays()
    metadata = self.manager.item_metadata(step)
    saved = getattr(metadata, "tree", metadata)
    for name in ("g_params", "d_params", "e_params"):
      if name not in target:
        continue
      if name not in saved:
        raise errors.CheckpointError(f"checkpoint {where} has no {name}")
      check_compatible(saved[name], target[name], what=name, where=where)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
      restored = self.manager.restore(
          step, args=ocp.args.StandardRestore(abstract))
    except (ValueError, KeyError, TypeError) as e:
      first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
      raise errors.CheckpointError(
          f"checkpoint {where} does not fit the optimiser state of this "
          f"config (optim.kind?): {first_line}") from e
    return state.with_arrays(restored)

  def wait_until_finished(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.close()
