"""Orbax checkpoints of the train state, with architecture checks.

Orbax writes each step into a temporary directory and renames it when the
write is complete, so a run killed mid-save leaves the previous checkpoint
intact and the half-written one is never read.

A checkpoint is the dict ``TrainState.arrays()``. Training restores all of
it; inference restores only the entries it runs (``restore_arrays`` with
``partial=True``: the EMA generator and the branch's encoders, not the
discriminator or any optimiser state).
"""

import pathlib

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from jaxface import errors

# Entries renamed since checkpoints were first written: {old: current}.
# Checkpoints keep the names they were saved with; restoring maps them.
LEGACY_NAMES = {"e_params": "branch_params",
                "e_opt_state": "branch_opt_state"}
# Entries whose shapes name the architecture (checked before restoring).
PARAMETERS = ("g_params", "g_ema_params", "d_params", "branch_params",
              "q_ema_params")
# A replicated array is written by its replicas in parallel, each a slice,
# only where each slice is at least this big. Orbax's default slices every
# array, and each slice is an op-by-op program, compiled per shape in every
# process (152 compiles on the tiny config's first save on 8 devices). For
# small arrays that costs more than it saves. The demo config's arrays are
# all under 1 MiB; celeba64's largest (8 MiB) are still split.
MIN_REPLICA_SLICE_BYTES = 1 << 20


def _type_handlers():
  """Orbax's standard type handlers, jax.Array's with the slice minimum."""
  registry = ocp.type_handlers.create_type_handler_registry(*[
      (ty, ocp.type_handlers.get_type_handler(ty))
      for ty in ocp.type_handlers.supported_types() if ty is not jax.Array])
  registry.add(jax.Array, ocp.type_handlers.ArrayHandler(
      min_slice_bytes_for_replica_parallel=MIN_REPLICA_SLICE_BYTES))
  return registry


def _flat_shapes(tree) -> dict[str, tuple]:
  """{'a/b/0/kernel': shape} for a tree of arrays or orbax metadata."""
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    # Dict keys, sequence indices and (namedtuple) attribute names alike.
    name = "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(
        k, "name", k)))) for k in path)
    flat[name] = tuple(leaf.shape)
  return flat


def check_compatible(saved_params, model_params, *, what: str, where: str,
                     partial: bool = False):
  """Raises CheckpointError naming the first parameter that does not match.

  Args:
    saved_params: tree of orbax ArrayMetadata (or arrays) from the checkpoint.
    model_params: tree of arrays or ShapeDtypeStructs the model expects.
    what: name of the tree, e.g. ``g_params``.
    where: checkpoint location, for the message.
    partial: the checkpoint may hold more (a sweep's extra networks).
  """
  saved = _flat_shapes(saved_params)
  model = _flat_shapes(model_params)
  for name in sorted(set(saved) | set(model)):
    if name not in saved:
      problem = "is missing from the checkpoint"
    elif name not in model:
      if partial:
        continue
      problem = "is in the checkpoint but not in the model"
    elif saved[name] != model[name]:
      problem = (f"has shape {saved[name]} in the checkpoint but "
                 f"{model[name]} in the model")
    else:
      continue
    raise errors.CheckpointError(
        f"checkpoint {where} was written by a different architecture: "
        f"parameter {what}/{name} {problem}")


class _Unreadable(Exception):
  """A checkpoint whose files cannot be read (as opposed to not fitting)."""


def _first_line(error: BaseException) -> str:
  text = str(error).strip()
  return text.splitlines()[0][:200] if text else type(error).__name__


def _shape_struct(x):
  """An abstract array with ``x``'s shape, dtype and sharding."""
  return jax.ShapeDtypeStruct(x.shape, x.dtype,
                              sharding=getattr(x, "sharding", None))


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
    # Naming the handler lets a fresh manager read metadata before
    # restoring; the PyTree handler (which StandardSave's handler wraps) can
    # also restore a subset of the entries.
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers=ocp.PyTreeCheckpointHandler(
            type_handler_registry=_type_handlers()))
    self.restored_step = None
    self.unreadable_steps = []  # skipped by the last restore, latest first

  def latest_step(self):
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, step: int, state, *, force: bool = False) -> bool:
    """Saves ``state`` if ``step`` is on the interval (or ``force``)."""
    return self.manager.save(
        step, args=ocp.args.PyTreeSave(state.arrays()), force=force)

  def reached_preemption(self, step: int) -> bool:
    return self.manager.reached_preemption(step)

  def restore_arrays(self, target: dict, step=None, *,
                     partial: bool = False) -> dict:
    """Restores checkpoint entries into the shapes and shardings of ``target``.

    Without ``step``, the latest readable checkpoint: one whose files cannot
    be read (truncated, missing) is reported in one line on stderr and the
    one before it is used; nothing is deleted. ``restored_step`` then says
    which step was read.

    Args:
      target: {entry: tree of arrays or ShapeDtypeStructs (with shardings)},
        entries named as ``TrainState.arrays()`` names them now.
      step: the step to restore; the latest readable if None.
      partial: restore only the entries of ``target`` (the checkpoint may
        hold more); otherwise ``target`` must name every entry.

    Returns:
      {entry: restored tree}, keyed like ``target``.

    Raises:
      errors.CheckpointError: no (readable) checkpoint, a missing entry,
        parameters or optimiser states of another architecture (naming the
        first mismatch).
    """
    steps = [step] if step is not None else self.all_steps()[::-1]
    if not steps:
      raise errors.CheckpointError(f"no checkpoint in {self.directory}")
    self.unreadable_steps = []
    for candidate in steps:
      try:
        restored = self._restore_step(target, candidate, partial)
      except _Unreadable as e:
        if step is not None or candidate == steps[-1]:
          raise errors.CheckpointError(str(e)) from e
        errors.report(f"{e}; using the checkpoint before it")
        self.unreadable_steps.append(candidate)
        continue
      self.restored_step = candidate
      if candidate != steps[0]:
        errors.report(f"restored checkpoint step {candidate} of "
                      f"{self.directory}")
      return restored
    raise AssertionError("unreachable")

  def _restore_step(self, target, step, partial):
    where = f"{self.directory / str(step)}"
    try:
      metadata = self.manager.item_metadata(step)
      saved = dict(getattr(metadata, "tree", metadata))
    except Exception as e:  # orbax raises many types for damaged files
      raise _Unreadable(f"checkpoint {where} cannot be read: "
                        f"{_first_line(e)}") from e
    # The name each entry has in this checkpoint.
    current = {LEGACY_NAMES.get(name, name): name for name in saved}
    missing = sorted(set(target) - set(current))
    if missing:
      raise errors.CheckpointError(f"checkpoint {where} has no {missing[0]}")
    for name in PARAMETERS:
      if name in target:
        check_compatible(saved[current[name]], target[name], what=name,
                         where=where, partial=partial)
    for name, tree in target.items():
      have, want = _flat_shapes(saved[current[name]]), _flat_shapes(tree)
      if partial:  # e.g. a sweep member's state without the sweep's terms
        have = {k: v for k, v in have.items() if k in want}
      if name not in PARAMETERS and have != want:
        raise errors.CheckpointError(
            f"checkpoint {where} does not fit the {name} of this config "
            f"(optim.kind?)")
    abstract = {current[name]: jax.tree.map(_shape_struct, tree)
                for name, tree in target.items()}
    args = ocp.args.PyTreeRestore(
        item=abstract,
        restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
        partial_restore=partial)
    try:
      restored = self.manager.restore(step, args=args)
    except Exception as e:  # structure was checked: the files are damaged
      raise _Unreadable(f"checkpoint {where} cannot be read: "
                        f"{_first_line(e)}") from e
    return {name: restored[current[name]] for name in target}

  def set_aside_unreadable(self, destination) -> list[pathlib.Path]:
    """Moves the steps the last restore skipped to ``destination``.

    Training writes those steps again; orbax would refuse an existing step
    and never save a step not later than the latest. Nothing is deleted: a
    step already set aside gets a numbered suffix. Process 0 moves, every
    process then re-reads the directory.

    Returns:
      Where each step went.
    """
    destination = pathlib.Path(destination)
    moved = []
    for step in self.unreadable_steps:
      target = destination / str(step)
      suffix = 1
      while target.exists():
        target = destination / f"{step}.{suffix}"
        suffix += 1
      moved.append(target)
      if jax.process_index() == 0:
        destination.mkdir(parents=True, exist_ok=True)
        (self.directory / str(step)).rename(target)
    if moved:
      if jax.process_count() > 1:
        multihost_utils.sync_global_devices("jaxface_set_aside_checkpoints")
      self.manager.reload()
    self.unreadable_steps = []
    return moved

  def restore(self, state, step=None):
    """Restores a whole ``TrainState`` into ``state``'s shapes and shardings.

    Args:
      state: a TrainState (concrete or from ``jax.eval_shape`` with
        shardings) that gives structure, shapes and target shardings.
      step: the step to restore; the latest if None.

    Returns:
      The restored TrainState.
    """
    return state.with_arrays(self.restore_arrays(state.arrays(), step))

  def wait_until_finished(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.close()
