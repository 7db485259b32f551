"""A run on disk: its config, its copy of E2, its networks for inference.

A workdir holds ``config.json`` (the exact config, with absolute paths),
``ckpt/<step>/`` (orbax checkpoints), ``identity_encoder/`` (the E2 its
identity losses were trained with) and what commands write. ``restore``
loads what inference runs -- the EMA generator, Q, E1 and E2 -- from an
abstract model, without building the discriminator or any optimiser. It
imports nothing that trains.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import shutil

import jax
import ml_collections
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils

from jaxface import checkpoint as checkpoint_lib
from jaxface import errors
from jaxface import files
from jaxface import generator
from jaxface import identity
from jaxface import identity_branch
from jaxface import identity_import
from jaxface import sharding
from jaxface import structs

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "ckpt"
# Checkpoint steps that could not be read, moved aside (never deleted) by
# `train` so that it can write those steps again.
UNREADABLE_DIR = "ckpt_unreadable"
LOCK_FILE = ".lock"
# The run's own copy of E2, so that a workdir is self-contained.
IDENTITY_ENCODER_DIR = "identity_encoder"

# Written into config.json; raised when a change makes checkpoints of the
# same config unreadable. 1: runs before GIRAFFE's choices were options.
ARCHITECTURE_VERSION = 2
# Config entries added after runs were first written, with the values those
# runs behaved with: an older config.json reads as if it had them.
ADDED_ENTRIES = {
    "refine": dict(lr=0.01, tune_lr=3e-4, l1_weight=1.0,
                   perceptual_weight=1.0, identity_weight=0.5,
                   prior_weight=1e-4, pose_weight=0.0,
                   tune_renderer=True, mirror_pose=False,
                   mirror_weight=0.0),
    "field": dict(frame="jaxface", downscale=1.0, bg_pos_freqs=10,
                  bg_downscale=12.0, kind="mlp", plane_size=32,
                  plane_channels=32, plane_width=64,
                  plane_upsample="nearest", plane_conditioning="input",
                  appearance="code"),
    "render": dict(depth_sampling="bins", yaw="camera", pixel_grid="centres",
                   density_noise=0.0, pixel_jitter=False,
                   density_scale=1.0),
    "neural_renderer": dict(blur=False, upsample="nearest"),
    "disc": dict(use_bias=True, input_range=(-1.0, 1.0)),
    "train": dict(update_order="d_then_g", compute_dtype="float32",
                  ynn_convolutions=True),
    "identity": dict(judge_dir="", code_noise=1.0, q_image_size=0),
    "data": dict(pairs=False, mirror=False),
    "optim": dict(schedule="constant", final_lr_fraction=0.0, adam_b1=0.0,
                  d_adam_b1=0.0, q_ema_decay=0.0),
    "mesh": dict(member=1),
    "loss": dict(cross_view_weight=0.0, cross_view_perceptual_weight=0.0,
                 opacity_binary_weight=0.0, raw_rgb_weight=0.0,
                 real_pose_weight=0.0,
                 pose_pitch_weight=1.0),
}
RENAMED_ENTRIES = {("optim", "e_lr"): ("optim", "branch_lr")}
# field.background was a bool: a map of ray direction, or nothing.
_OLD_BACKGROUNDS = {True: "direction", False: "none"}
# Config paths that name files; stored absolute so a run is found from any
# directory.
PATH_ENTRIES = (("data", "data_dir"), ("identity", "encoder_dir"),
                ("identity", "judge_dir"))


def _absolute(path: str) -> str:
  if not path or "://" in path:  # unset, or a remote file system
    return path
  return str(pathlib.Path(path).expanduser().absolute())


@contextlib.contextmanager
def exclusive(workdir, command: str = "train"):
  """Holds ``workdir``'s lock: a second trainer in the same workdir is refused.

  An ``flock`` is released by the kernel when its process ends, however it
  ends, so a lock left by a killed run never blocks the restart. Process 0
  locks (on a shared file system all processes of a job see one file) and
  tells the others, so that every process of a refused job stops.

  Raises:
    errors.WorkdirBusy: another live process holds the lock.
  """
  workdir = pathlib.Path(workdir)
  handle, holder = None, ""
  if jax.process_index() == 0:
    workdir.mkdir(parents=True, exist_ok=True)
    handle = open(workdir / LOCK_FILE, "a+", encoding="utf-8")
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      handle.seek(0)
      holder = handle.read().strip() or "another process"
      handle.close()
      handle = None
    else:
      handle.seek(0)
      handle.truncate()
      handle.write(f"{command} (pid {os.getpid()})\n")
      handle.flush()
  busy = handle is None and jax.process_index() == 0
  if jax.process_count() > 1:
    busy = bool(multihost_utils.broadcast_one_to_all(np.asarray(busy)))
  if busy:
    raise errors.WorkdirBusy(
        f"{workdir} is in use by a live {holder or 'process'}; wait for it "
        f"to finish or stop it, or use another --workdir")
  try:
    yield
  finally:
    if handle is not None:
      fcntl.flock(handle, fcntl.LOCK_UN)
      handle.close()


def write_config(config, workdir) -> pathlib.Path:
  """Writes ``config.json`` atomically, with its paths made absolute."""
  stored = ml_collections.ConfigDict(config.to_dict())
  stored.architecture_version = ARCHITECTURE_VERSION
  for section, key in PATH_ENTRIES:
    if section in stored and key in stored[section]:
      stored[section][key] = _absolute(stored[section][key])
  return files.write_atomic(
      pathlib.Path(workdir) / CONFIG_FILE,
      stored.to_json_best_effort(indent=2).encode())


def load_config(workdir) -> ml_collections.ConfigDict:
  """The config a run in ``workdir`` was trained with.

  Runs written before an entry existed get the value they behaved with
  (``ADDED_ENTRIES``, ``RENAMED_ENTRIES``).

  Raises:
    errors.CheckpointError: ``workdir`` is missing or is not a run.
  """
  workdir = pathlib.Path(workdir)
  if not workdir.is_dir():
    raise errors.CheckpointError(f"workdir {workdir} does not exist")
  path = workdir / CONFIG_FILE
  if not path.is_file():
    raise errors.CheckpointError(
        f"{workdir} is not a training workdir (no {CONFIG_FILE})")
  return read_config(path)


def read_config(path) -> ml_collections.ConfigDict:
  """A config stored as JSON, read as ``load_config`` reads a run's.

  Entries added or renamed since it was written get the value it behaved
  with, so a stored config keeps meaning what it meant.

  Raises:
    errors.CheckpointError: ``path`` is not JSON.
  """
  path = pathlib.Path(path)
  try:
    values = json.loads(path.read_text())
  except ValueError as e:
    raise errors.CheckpointError(f"cannot read {path}: {e}") from e
  for (section, old), (new_section, new) in RENAMED_ENTRIES.items():
    if old in values.get(section, {}):
      values.setdefault(new_section, {})[new] = values[section].pop(old)
  for section, entries in ADDED_ENTRIES.items():
    values[section] = dict(entries, **values.get(section, {}))
  background = values["field"].get("background")
  values["field"]["background"] = _OLD_BACKGROUNDS.get(background, background)
  values.pop("architecture_version", None)
  return ml_collections.ConfigDict(values)


def stored_version(workdir) -> int | None:
  """The architecture version of the run in ``workdir`` (None: no run)."""
  path = pathlib.Path(workdir) / CONFIG_FILE
  if not path.is_file():
    return None
  try:
    return int(json.loads(path.read_text()).get("architecture_version", 1))
  except (ValueError, AttributeError):
    return None


def identity_encoder(config, workdir, *, training: bool):
  """``(graphdef, state, embedding_dim)`` of E2 if the losses need it.

  Training copies ``config.identity.encoder_dir`` into
  ``workdir/identity_encoder`` (atomically) on first use; every later use of
  the run reads that copy.

  Args:
    config: the run's config.
    workdir: the run's directory.
    training: may make the copy (only the training job does).

  Returns:
    The triple, or None when no loss reads E2.
  """
  if not identity_branch.needs_e2(config):
    return None
  workdir = pathlib.Path(workdir)
  local = workdir / IDENTITY_ENCODER_DIR
  source = local
  if not local.is_dir():
    if not training:
      raise errors.CheckpointError(
          f"{workdir} has no {IDENTITY_ENCODER_DIR}/ (the E2 its identity "
          f"losses were trained with)")
    source = pathlib.Path(config.identity.encoder_dir or "")
    if not config.identity.encoder_dir:
      raise errors.ConfigError(
          "the identity and perceptual losses need identity.encoder_dir: an "
          "E2 written by `jaxface pretrain-identity` or `jaxface "
          "import-identity`")
    if not (source / "identity_config.json").is_file():
      raise errors.ConfigError(
          f"identity.encoder_dir {source} holds no identity encoder (no "
          f"identity_config.json)")
    if jax.process_index() == 0:
      partial = workdir / f".{IDENTITY_ENCODER_DIR}.partial"
      shutil.rmtree(partial, ignore_errors=True)
      shutil.copytree(source, partial)
      partial.rename(local)
  graphdef, state = _read_encoder(source, "identity encoder")
  return graphdef, state, identity.embedding_dim(nnx.merge(graphdef, state))


def _read_encoder(directory, what: str):
  """(graphdef, state) of a face-ID network; a one-line error if unreadable."""
  try:
    graphdef, state, _ = identity_import.load_identity_encoder(directory)
  except (OSError, ValueError) as e:
    raise errors.ConfigError(
        f"cannot read the {what} in {directory}: "
        f"{str(e).strip().splitlines()[0]}") from e
  return graphdef, state


def judge(config, directory=None):
  """``(graphdef, params)`` of the identity judge, or None if there is none.

  The judge is a face-recognition network that neither training nor
  refinement uses, so that evaluation can score identity with a network
  the method never optimised (``evaluate``).

  Args:
    config: the run's config (``identity.judge_dir``).
    directory: overrides ``identity.judge_dir``.

  Raises:
    errors.ConfigError: the directory holds no readable identity encoder.
  """
  directory = directory or config.identity.get("judge_dir", "")
  if not directory:
    return None
  graphdef, state = _read_encoder(directory, "identity judge")
  return graphdef, nnx.to_pure_dict(state)


def _split_abstract(module):
  """(graphdef, pure dict of ShapeDtypeStructs) of an abstract module."""
  graphdef, state = nnx.split(module)
  return graphdef, nnx.to_pure_dict(state)


def restore(workdir, step=None) -> tuple[ml_collections.ConfigDict,
                                         structs.Networks, int]:
  """The networks inference runs, restored from a run's checkpoint.

  Args:
    workdir: the run's directory.
    step: the checkpoint to restore; the latest if None.

  Returns:
    (config, networks, step): the run's config, its EMA generator, Q, E1
    and E2 (``structs.Networks``, replicated over the run's mesh), and the
    step restored.

  Raises:
    errors.CheckpointError: not a run, no checkpoint, or a checkpoint of
      another architecture.
  """
  workdir = pathlib.Path(workdir)
  config = load_config(workdir)
  ckpt_dir = workdir / CHECKPOINT_DIR
  if not ckpt_dir.is_dir():
    raise errors.CheckpointError(f"no checkpoint in {workdir}")
  e2 = identity_encoder(config, workdir, training=False)
  # Shapes only (nnx.eval_shape): no weights are drawn, nothing is computed.
  g_graphdef, g_abstract = _split_abstract(nnx.eval_shape(
      lambda: generator.Generator(config, rngs=nnx.Rngs(0))))
  target = dict(step=jax.ShapeDtypeStruct((), "int32"),
                g_ema_params=g_abstract)
  graphdefs = {}
  if identity_branch.uses_identity_branch(config):
    q, e1 = nnx.eval_shape(lambda: identity_branch.make_networks(
        config, None if e2 is None else e2[2], nnx.Rngs(0)))
    graphdefs["q_graphdef"], q_abstract = _split_abstract(q)
    target["branch_params"] = dict(q=q_abstract)
    if identity_branch.keeps_q_ema(config):
      target["q_ema_params"] = q_abstract
    if e1 is not None:
      graphdefs["e1_graphdef"], target["branch_params"]["e1"] = (
          _split_abstract(e1))
  replicated = sharding.replicated(sharding.make_mesh(config))
  target = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
      target)
  ckpt = checkpoint_lib.Checkpointer(ckpt_dir, config.ckpt, read_only=True)
  try:
    arrays = ckpt.restore_arrays(target, step, partial=True)
  finally:
    ckpt.close()
  branch = arrays.get("branch_params", {})
  e2_graphdef = e2_params = None
  if e2 is not None:
    e2_graphdef = e2[0]
    e2_params = jax.device_put(nnx.to_pure_dict(e2[1]), replicated)
  networks = structs.Networks(
      g_params=arrays["g_ema_params"],
      q_params=arrays.get("q_ema_params", branch.get("q")),
      e1_params=branch.get("e1"), e2_params=e2_params,
      g_graphdef=g_graphdef, e2_graphdef=e2_graphdef, **graphdefs)
  return config, networks, int(sharding.to_host(arrays["step"]))
