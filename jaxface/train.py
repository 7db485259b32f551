"""The host loop: ``train_and_evaluate(config, workdir)``.

Sections: mesh, input, model and shardings, checkpoint/resume, update, loop
(logging, samples, checkpoints, preemption), final samples. The workdir is
locked while training (``workdir.exclusive``).
"""

import functools
import json
import pathlib
import time

import jax
import numpy as np
import tqdm
from jax.experimental import multihost_utils

from jaxface import checkpoint as checkpoint_lib
from jaxface import errors
from jaxface import evaluate
from jaxface import identity_branch
from jaxface import layers
from jaxface import preemption as preemption_lib
from jaxface import sampling
from jaxface import sharding
from jaxface import summary
from jaxface import train_state as train_state_lib
from jaxface import train_step as train_step_lib
from jaxface import workdir as workdir_lib
from jaxface import xla_cpu
from jaxface.data import input_pipeline


def _first_nonfinite(pending: list[tuple[int, dict]]):
  """Description of the first step whose loss or weights are not finite."""
  if not pending:
    return None
  host = jax.device_get([m for _, m in pending])
  for (step, _), metrics in zip(pending, host):
    if not bool(metrics["finite"]):
      losses = ", ".join(f"{k}={float(metrics[k]):.4g}"
                         for k in ("g_loss", "d_loss"))
      return f"non-finite loss or weights at step {step} ({losses})"
  return None


def create_sharded_state(config, mesh, identity_encoder=None):
  """(state, shardings): a fresh replicated state and its shardings.

  The sharding tree is derived from the state object itself so that its
  static fields (graph definitions, optax transformations) are identical.
  The state is initialised by one jitted program, not op by op: a single
  (cacheable) compile instead of one per initialiser; the values are the
  same.
  """
  e2_graphdef, e2_state, e2_dim = identity_encoder or (None, None, None)

  def make(e2_state):
    e2 = None if identity_encoder is None else (e2_graphdef, e2_state, e2_dim)
    return train_state_lib.create_train_state(config, e2)

  state = jax.jit(make)(e2_state)
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), state)
  return jax.device_put(state, state_sharding), state_sharding


def make_step_fn(config, state_sharding, mesh, branch: bool = True):
  """The jitted, sharded ``train_step`` (compiled on first call).

  Called as ``step_fn(state, batch, rng, hparams)`` with ``hparams =
  train_step.config_hparams(config)``: learning rates and loss weights are
  arguments, not constants of the program. ``branch=False``: the step
  without the identity branch (``train.branch_every``).
  """
  return jax.jit(
      functools.partial(train_step_lib.train_step, config=config,
                        branch=branch),
      in_shardings=(state_sharding, sharding.data_sharding(mesh),
                    sharding.replicated(mesh), sharding.replicated(mesh)),
      out_shardings=(state_sharding, sharding.replicated(mesh)),
      donate_argnums=(0,),
      compiler_options=xla_cpu.step_compiler_options(config),
  )


def _restore(ckpt, state, workdir):
  """The latest readable checkpoint; a run of an older architecture says so.

  Unreadable later steps are moved to ``workdir/ckpt_unreadable/`` (not
  deleted) so that training can write those steps again.
  """
  try:
    state = ckpt.restore(state)
    for moved in ckpt.set_aside_unreadable(workdir /
                                           workdir_lib.UNREADABLE_DIR):
      errors.report(f"moved the unreadable checkpoint to {moved}; resuming "
                    f"from step {ckpt.restored_step}")
    return state
  except errors.CheckpointError as e:
    version = workdir_lib.stored_version(workdir)
    if version is not None and version < workdir_lib.ARCHITECTURE_VERSION:
      raise errors.CheckpointError(
          f"{workdir} holds a run of an older jaxface architecture (version "
          f"{version}, this is {workdir_lib.ARCHITECTURE_VERSION}); render, "
          f"reconstruct and evaluate still read it, training it needs a new "
          f"workdir ({e})") from e
    raise


def train_and_evaluate(config, workdir) -> train_state_lib.TrainState:
  """Trains (resuming from the latest checkpoint in ``workdir``).

  Args:
    config: run config.
    workdir: directory for checkpoints, TensorBoard logs and samples.

  Returns:
    The final train state.

  Raises:
    errors.WorkdirBusy: another live process trains in ``workdir``.
    errors.Preempted: SIGTERM stopped the run after a checkpoint.
  """
  workdir = pathlib.Path(workdir)
  with workdir_lib.exclusive(workdir, "train"):
    return _train_locked(config, workdir)


def _train_locked(config, workdir: pathlib.Path):
  is_main = jax.process_index() == 0
  if config.train.get("compute_dtype", "float32") not in ("float32",
                                                          "bfloat16"):
    raise errors.ConfigError(
        f"train.compute_dtype {config.train.compute_dtype!r}: float32 or "
        f"bfloat16")
  if identity_branch.cross_view(config) and not config.data.pairs:
    raise errors.ConfigError(
        "loss.cross_view_weight and loss.cross_view_perceptual_weight need "
        "batches of pairs: set data.pairs=True (identity-labelled data)")
  workdir.mkdir(parents=True, exist_ok=True)

  # Mesh and model.
  mesh = sharding.make_mesh(config)
  local_batch = sharding.local_batch_size(config.train.batch_size, mesh)
  state, state_sharding = create_sharded_state(
      config, mesh,
      workdir_lib.identity_encoder(config, workdir, training=True))

  # Resume.
  ckpt = checkpoint_lib.Checkpointer(workdir / workdir_lib.CHECKPOINT_DIR,
                                     config.ckpt)
  if ckpt.latest_step() is not None:
    state = _restore(ckpt, state, workdir)
  start_step = int(state.step)
  if is_main:  # only now: a config that fails to restore must not replace it
    workdir_lib.write_config(config, workdir)
  num_steps = config.train.num_steps

  # Input: batch i is a function of (seed, i) only.
  dataset = input_pipeline.train_dataset(config, local_batch)
  batches = input_pipeline.iterate_from(dataset, start_step, config)

  step_fn = make_step_fn(config, state_sharding, mesh)
  # The identity branch on every k-th step only; between them, plain GAN
  # steps (compiled on their first call).
  branch_every = branch_interval(config)
  plain_step_fn = (make_step_fn(config, state_sharding, mesh, branch=False)
                   if branch_every > 1
                   and identity_branch.uses_identity_branch(config)
                   else step_fn)
  hparams = train_step_lib.config_hparams(config)
  rng = jax.random.key(config.seed)
  held_out = _held_out_batch(config, state)
  writer = None
  if is_main:
    writer = summary.summary_writer(workdir / "tb")
  progress = tqdm.tqdm(
      total=num_steps, initial=start_step, unit="step", dynamic_ncols=True,
      disable=not (is_main and config.log.progress_bar))

  pending = []  # (step, metrics on device) not yet checked for finiteness
  branch_metrics = {}  # the last branch step's, logged with every step's
  last_log = (start_step, time.perf_counter())
  # A wall-time budget (e.g. for comparisons at equal cost) ends the run
  # early, with a checkpoint, as if num_steps were reached.
  deadline = (time.perf_counter() + 60.0 * config.train.max_minutes
              if config.train.max_minutes else None)
  step = start_step
  preempted = False
  with preemption_lib.Preemption(ckpt) as preemption:
    try:
      while step < num_steps:
        batch = sharding.global_batch(next(batches), mesh)
        with_branch = (step + 1) % branch_every == 0
        state, metrics = (step_fn if with_branch else plain_step_fn)(
            state, batch, rng, hparams)
        if with_branch:
          branch_metrics = metrics
        step += 1
        pending.append((step, metrics))
        progress.update(1)
        if deadline is not None and _past(deadline):
          num_steps = step  # this step is the last: saved and sampled

        log_now = step % config.log.every_steps == 0 or step == num_steps
        preempted = preemption.reached(step)
        save_now = (ckpt.manager.should_save(step) or step == num_steps
                    or preempted)
        if log_now or save_now:
          bad = _first_nonfinite(pending)
          if bad is not None:
            ckpt.wait_until_finished()
            last = ckpt.latest_step()
            kept = ("no checkpoint was written yet" if last is None else
                    f"the last good checkpoint is step {last}")
            raise errors.NonFiniteLossError(f"{bad}; stopped, {kept}")
          if log_now and writer is not None:
            now = time.perf_counter()
            rate = (step - last_log[0]) * config.train.batch_size / (
                now - last_log[1])
            last_log = (step, now)
            _log_metrics(writer, progress,
                         {**branch_metrics, **pending[-1][1]}, step, rate)
          pending.clear()
        if save_now:
          ckpt.save(step, state, force=step == num_steps or preempted)
        if preempted:
          break
        _periodic_summaries(state, config, step, writer, held_out)
    finally:
      progress.close()
      ckpt.wait_until_finished()
      if writer is not None:
        writer.close()

  ckpt.close()
  if preempted:
    raise errors.Preempted(
        f"preempted (SIGTERM): saved step {step} to {ckpt.directory}; run "
        f"the same command to resume", preemption_lib.EXIT_CODE)
  write_samples(state, config, workdir)
  return state


def branch_interval(config) -> int:
  """The checked ``train.branch_every`` k: the branch runs on steps k, 2k...

  Steps are counted from 1, so a run resumed at any step keeps the rhythm.
  """
  every = config.train.get("branch_every", 1)
  if not isinstance(every, int) or every < 1:
    raise errors.ConfigError(
        f"train.branch_every {every!r}: a whole number of steps >= 1")
  return every


def _past(deadline: float) -> bool:
  """Whether ``deadline`` has passed, as process 0 sees it (all agree)."""
  past = time.perf_counter() > deadline
  if jax.process_count() > 1:
    past = bool(multihost_utils.broadcast_one_to_all(np.asarray(past)))
  return past


def _log_metrics(writer, progress, metrics, step: int, rate: float):
  """Training scalars to TensorBoard, the losses to the progress bar."""
  host = jax.device_get(metrics)
  for name, value in host.items():
    if name != "finite":
      writer.add_scalar(f"train/{name}", float(value), step)
  writer.add_scalar("train/images_per_sec", rate, step)
  progress.set_postfix(g=f"{float(host['g_loss']):.3f}",
                       d=f"{float(host['d_loss']):.3f}")


def _periodic_summaries(state, config, step: int, writer, held_out):
  """The EMA sample grid and held-out metrics, each on its interval.

  Every process calls this (the parameters may span hosts); only the one
  with a ``writer`` writes.
  """
  lc = config.log
  if lc.images_every_steps and step % lc.images_every_steps == 0:
    views = sampling.render_views(
        state.g_graphdef, state.g_ema_params, config, seed=0,
        num_faces=lc.num_sample_faces, num_views=lc.num_sample_views)
    if writer is not None:
      writer.add_image("samples/ema", sampling.make_grid(views), step,
                       dataformats="HWC")
  if held_out is not None and step % lc.eval_every_steps == 0:
    batch, judge = held_out
    results = evaluate.held_out_metrics(state.networks(), config, batch,
                                        judge)
    if writer is not None:
      for name, value in results.items():
        if not name.split("/")[-1].startswith(("num_", "refine_steps")):
          writer.add_scalar(f"eval/{name}", value, step)


def _held_out_batch(config, state):
  """(held-out batch, judge) that training logs metrics on, or None.

  Only runs that train Q on ``synthetic_faces`` with test identities log
  held-out metrics; the batch is each held-out set's first
  ``log.eval_num_identities`` identities, read once.
  """
  if (not config.log.get("eval_every_steps", 0)
      or state.branch_params is None or not evaluate.can_log_held_out(config)):
    return None
  num = int(config.log.get("eval_num_identities", 8))
  return (evaluate.load_held_out_batch(config, num),
          workdir_lib.judge(config))


def write_samples(state, config, workdir: pathlib.Path, seed: int = 0):
  """Multi-view grids (RGB, depth) and an orbit GIF from the EMA weights."""
  lc = config.log
  samples = workdir / "samples"
  sampling.write_sample_views(
      samples / "multiview_", state.g_graphdef, state.g_ema_params, config,
      seed=seed, num_faces=lc.num_sample_faces, num_views=lc.num_sample_views)
  sampling.write_sample_orbit(
      samples / "orbit.gif", state.g_graphdef, state.g_ema_params, config,
      seed=seed, num_faces=min(lc.num_sample_faces, 4))
  if jax.process_index() == 0:
    summary = dict(step=int(state.step),
                   g_params=layers.count_params(state.g_params))
    (samples / "summary.json").write_text(json.dumps(summary))
