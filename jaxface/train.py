"""The host loop: ``train_and_evaluate(config, workdir)``.

Sections: mesh, input, model and shardings, checkpoint/resume, update, loop
(logging, samples, checkpoints, preemption), final samples.
"""

import functools
import json
import pathlib
import shutil
import time

import jax
import tqdm
from flax import nnx

from jaxface import checkpoint as checkpoint_lib
from jaxface import errors
from jaxface import sampling
from jaxface import sharding
from jaxface import train_state as train_state_lib
from jaxface import train_step as train_step_lib
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


def write_config(config, workdir: pathlib.Path):
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))


# The run's own copy of E2, so that a workdir is self-contained.
IDENTITY_ENCODER_DIR = "identity_encoder"


def identity_encoder_for(config, workdir: pathlib.Path, *, training: bool):
  """``(graphdef, state, embedding_dim)`` of E2 if the losses need it.

  Training copies ``config.identity.encoder_dir`` into
  ``workdir/identity_encoder`` (atomically) on first use; every later use of
  the run reads that copy.
  """
  if not train_state_lib.needs_e2(config):
    return None
  from jaxface import identity  # pylint: disable=g-import-not-at-top
  from jaxface import identity_import  # pylint: disable=g-import-not-at-top
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
  try:
    graphdef, state, _ = identity_import.load_identity_encoder(source)
  except (OSError, ValueError) as e:
    raise errors.ConfigError(
        f"cannot read the identity encoder in {source}: "
        f"{str(e).strip().splitlines()[0]}") from e
  return graphdef, state, identity.embedding_dim(nnx.merge(graphdef, state))


def create_sharded_state(config, mesh, identity_encoder=None):
  """(state, shardings): a fresh replicated state and its shardings.

  The sharding tree is derived from the state object itself so that its
  static fields (graph definitions, optax transformations) are identical.
  """
  state = train_state_lib.create_train_state(config, identity_encoder)
  state_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), state)
  return jax.device_put(state, state_sharding), state_sharding


def make_step_fn(config, state_sharding, mesh):
  """The jitted, sharded ``train_step`` (compiled on first call)."""
  return jax.jit(
      functools.partial(train_step_lib.train_step, config=config),
      in_shardings=(state_sharding, sharding.data_sharding(mesh),
                    sharding.replicated(mesh)),
      out_shardings=(state_sharding, sharding.replicated(mesh)),
      donate_argnums=(0,),
  )


def train_and_evaluate(config, workdir) -> train_state_lib.TrainState:
  """Trains (resuming from the latest checkpoint in ``workdir``).

  Args:
    config: run config.
    workdir: directory for checkpoints, TensorBoard logs and samples.

  Returns:
    The final train state.
  """
  workdir = pathlib.Path(workdir)
  is_main = jax.process_index() == 0
  workdir.mkdir(parents=True, exist_ok=True)

  # Mesh and model.
  mesh = sharding.make_mesh(config)
  local_batch = sharding.local_batch_size(config.train.batch_size, mesh)
  state, state_sharding = create_sharded_state(
      config, mesh, identity_encoder_for(config, workdir, training=True))

  # Resume.
  ckpt = checkpoint_lib.Checkpointer(workdir / "ckpt", config.ckpt)
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
  start_step = int(state.step)
  if is_main:  # only now: a config that fails to restore must not replace it
    write_config(config, workdir)
  num_steps = config.train.num_steps

  # Input: batch i is a function of (seed, i) only.
  dataset = input_pipeline.train_dataset(config, local_batch)
  batches = input_pipeline.iterate_from(dataset, start_step, config)

  step_fn = make_step_fn(config, state_sharding, mesh)
  rng = jax.random.key(config.seed)
  writer = None
  if is_main:
    # Imported here: tensorboardX loads PyTorch whenever it is installed.
    import tensorboardX  # pylint: disable=g-import-not-at-top
    writer = tensorboardX.SummaryWriter(str(workdir / "tb"))
  progress = tqdm.tqdm(
      total=num_steps, initial=start_step, unit="step", dynamic_ncols=True,
      disable=not (is_main and config.log.progress_bar))

  pending = []  # (step, metrics on device) not yet checked for finiteness
  last_log = (start_step, time.perf_counter())
  step = start_step
  try:
    while step < num_steps:
      batch = sharding.global_batch(next(batches), mesh)
      state, metrics = step_fn(state, batch, rng)
      step += 1
      pending.append((step, metrics))
      progress.update(1)

      log_now = step % config.log.every_steps == 0 or step == num_steps
      save_now = (ckpt.manager.should_save(step) or step == num_steps
                  or ckpt.reached_preemption(step))
      if log_now or save_now:
        bad = _first_nonfinite(pending)
        if bad is not None:
          ckpt.wait_until_finished()
          last = ckpt.latest_step()
          kept = ("no checkpoint was written yet" if last is None else
                  f"the last good checkpoint is step {last}")
          raise errors.NonFiniteLossError(f"{bad}; stopped, {kept}")
        if log_now and writer is not None:
          host = jax.device_get(pending[-1][1])
          now = time.perf_counter()
          rate = (step - last_log[0]) * config.train.batch_size / (
              now - last_log[1])
          last_log = (step, now)
          for name, value in host.items():
            if name != "finite":
              writer.add_scalar(f"train/{name}", float(value), step)
          writer.add_scalar("train/images_per_sec", rate, step)
          progress.set_postfix(g=f"{float(host['g_loss']):.3f}",
                               d=f"{float(host['d_loss']):.3f}")
        pending.clear()
      if save_now:
        ckpt.save(step, state, force=step == num_steps)
      if (config.log.images_every_steps
          and step % config.log.images_every_steps == 0):
        # Rendered by every process: the parameters may span hosts.
        views = sampling.render_views(
            state.g_graphdef, state.g_ema_params, config, seed=0,
            num_faces=config.log.num_sample_faces,
            num_views=config.log.num_sample_views)
        if writer is not None:
          writer.add_image("samples/ema", sampling.make_grid(views), step,
                           dataformats="HWC")
      if (config.log.get("eval_every_steps", 0)
          and step % config.log.eval_every_steps == 0):
        # Held-out reconstruction metrics (runs with Q on synthetic faces
        # only). Imported here: evaluate imports this module.
        from jaxface import evaluate  # pylint: disable=g-import-not-at-top
        evaluate.log_held_out(state, config, step, writer)
      if ckpt.reached_preemption(step):
        ckpt.wait_until_finished()
        break
  finally:
    progress.close()
    ckpt.wait_until_finished()
    if writer is not None:
      writer.close()

  if step == num_steps:
    write_samples(state, config, workdir)
  ckpt.close()
  return state


def write_views(path_prefix: pathlib.Path, state, config, *, seed: int,
                num_faces: int, num_views: int) -> dict:
  """``<prefix>grid.png`` (RGB) and ``<prefix>depth.png`` of random faces.

  Every process must call this (the parameters may span hosts); only
  process 0 writes.
  """
  out = sampling.sample_views(state.g_graphdef, state.g_ema_params, config,
                              seed=seed, num_faces=num_faces,
                              num_views=num_views)
  size = config.data.image_size
  upscale = max(1, 128 // size)
  paths = dict(grid=f"{path_prefix}grid.png", depth=f"{path_prefix}depth.png")
  images = sampling.to_uint8(out.images)
  depth = sampling.depth_to_uint8(out.depth, out.opacity, config, size)
  if jax.process_index() == 0:
    sampling.write_grid(paths["grid"], images, upscale=upscale)
    sampling.write_grid(paths["depth"], depth, upscale=upscale)
  return paths


def write_orbit(path, state, config, *, seed: int, num_faces: int,
                num_frames: int = 16):
  """Orbit GIF of random faces; every process calls, process 0 writes."""
  views = sampling.render_views(state.g_graphdef, state.g_ema_params, config,
                                seed=seed, num_faces=num_faces,
                                num_views=num_frames)
  if jax.process_index() == 0:
    sampling.write_orbit(path, views,
                         upscale=max(1, 128 // config.data.image_size))
  return str(path)


def write_samples(state, config, workdir: pathlib.Path, seed: int = 0):
  """Multi-view grids (RGB, depth) and an orbit GIF from the EMA weights."""
  lc = config.log
  write_views(workdir / "samples" / "multiview_", state, config, seed=seed,
              num_faces=lc.num_sample_faces, num_views=lc.num_sample_views)
  write_orbit(workdir / "samples" / "orbit.gif", state, config, seed=seed,
              num_faces=min(lc.num_sample_faces, 4))
  if jax.process_index() == 0:
    summary = dict(step=int(state.step),
                   g_params=train_state_lib.count_params(state.g_params))
    (workdir / "samples" / "summary.json").write_text(json.dumps(summary))


def load_config(workdir):
  """The config a run in ``workdir`` was trained with."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(workdir) / "config.json"
  if not path.is_file():
    raise errors.CheckpointError(
        f"{workdir} is not a training workdir (no config.json)")
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def restore_for_inference(workdir):
  """(config, state) of the latest checkpoint in ``workdir``."""
  workdir = pathlib.Path(workdir)
  if not workdir.is_dir():
    raise errors.CheckpointError(f"workdir {workdir} does not exist")
  config = load_config(workdir)
  ckpt_dir = workdir / "ckpt"
  if not ckpt_dir.is_dir():
    raise errors.CheckpointError(f"no checkpoint in {workdir}")
  ckpt = checkpoint_lib.Checkpointer(ckpt_dir, config.ckpt, read_only=True)
  mesh = sharding.make_mesh(config)
  state, _ = create_sharded_state(
      config, mesh, identity_encoder_for(config, workdir, training=False))
  state = ckpt.restore(state)
  ckpt.close()
  return config, state


def render_command(workdir, out, *, seed: int, num_faces: int,
                   num_views: int) -> dict:
  """``jaxface render``: grid and orbit of the latest EMA generator."""
  config, state = restore_for_inference(workdir)
  out = pathlib.Path(out or pathlib.Path(workdir) / "renders")
  paths = write_views(out / f"seed{seed}_", state, config, seed=seed,
                      num_faces=num_faces, num_views=num_views)
  orbit_path = write_orbit(out / f"seed{seed}_orbit.gif", state, config,
                           seed=seed, num_faces=min(num_faces, 4))
  return dict(step=int(state.step), **paths, orbit=orbit_path)
