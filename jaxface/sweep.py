"""``jaxface sweep``: a grid of runs trained as one compiled step.

``--grid optim.g_lr=1e-4,5e-4 --grid loss.identity_weight=0,1`` makes K = 4
members, every combination. Their train states are stacked on a leading
``member`` axis and ``train_step`` runs under ``jax.vmap``. Learning rates,
the EMA decay and loss weights are traced per-member arrays
(``train_step.TRACEABLE``), so one compiled step serves the whole grid.
Anything that would change shapes or the program (widths, image size,
optimiser kind, the seed and with it the data order) is refused.

The step traces a loss term if any member weighs it; a member with weight 0
multiplies it by 0, which leaves its updates exactly those of a run without
the term. All members read the same batches.

The members axis is sharded over the ``member`` axis of a 2-D
(``member``, ``data``) mesh (``mesh.member`` devices, default 1).

On disk::

  DIR/sweep.json          the grid and the members
  DIR/results.json, .md   the table of members by a held-out metric
  DIR/members/NN/         member NN: config.json (its own values), ckpt/,
                          tb/, metrics.json, frozen.json if it diverged

A member directory is read by ``render``, ``reconstruct``, ``export-mesh``
and ``evaluate`` as it is. ``export_member`` turns one into a run that
``train`` continues (its own optimiser states, without the sweep's extra
terms).

A member whose loss or weights turn non-finite is reported and frozen at its
last finite state; the others go on.
"""

import dataclasses
import itertools
import json
import pathlib
import shutil
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxface import checkpoint as checkpoint_lib
from jaxface import errors
from jaxface import evaluate
from jaxface import identity_branch
from jaxface import preemption as preemption_lib
from jaxface import sharding
from jaxface import summary
from jaxface import train_state as train_state_lib
from jaxface import train_step as train_step_lib
from jaxface import workdir as workdir_lib
from jaxface import xla_cpu
from jaxface.data import input_pipeline

SWEEP_FILE = "sweep.json"
MEMBERS_DIR = "members"
FROZEN_FILE = "frozen.json"
DEFAULT_METRIC = "clean/psnr_head_novel"


@dataclasses.dataclass(frozen=True)
class Member:
  """One combination of the grid: {dotted config key: value}."""

  index: int
  values: dict

  @property
  def name(self) -> str:
    return ",".join(f"{k.split('.')[-1]}={v:g}"
                    for k, v in self.values.items())


def parse_grid(items: list[str], config) -> dict[str, list[float]]:
  """``["optim.g_lr=1e-4,5e-4", ...]`` -> {key: [values]}, checked.

  Raises:
    errors.ConfigError: a malformed item, an unknown key, or a key whose
      value changes shapes or the compiled program.
  """
  grid = {}
  for item in items:
    key, sep, values = item.partition("=")
    if not sep or not values:
      raise errors.ConfigError(
          f"--grid {item!r}: expected KEY=V1,V2,... e.g. optim.g_lr=1e-4,5e-4")
    section, _, name = key.partition(".")
    if section not in config or name not in config[section]:
      raise errors.ConfigError(f"--grid {key}: no such config key")
    if key not in train_step_lib.TRACEABLE:
      raise errors.ConfigError(
          f"--grid {key}: changes shapes or the compiled program; a sweep "
          f"varies only {', '.join(train_step_lib.TRACEABLE)}")
    try:
      grid[key] = [float(v) for v in values.split(",")]
    except ValueError as e:
      raise errors.ConfigError(f"--grid {key}: {e}") from e
  if not grid:
    raise errors.ConfigError("sweep needs at least one --grid KEY=V1,V2,...")
  return grid


def members_of(grid: dict) -> list[Member]:
  keys = list(grid)
  return [Member(i, dict(zip(keys, combo)))
          for i, combo in enumerate(itertools.product(*grid.values()))]


def member_config(config, member: Member) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(config.to_dict())
  for key, value in member.values.items():
    section, name = key.split(".")
    config[section][name] = value
  return config


def structure_config(config, members: list[Member]):
  """The config the step is built from: a loss term any member weighs is in.

  Learning rates and the EMA decay do not change the program; a loss
  weight's largest value decides whether its term is traced.
  """
  config = ml_collections.ConfigDict(config.to_dict())
  for key in members[0].values:
    section, name = key.split(".")
    if section == "loss":
      config[section][name] = max(m.values[key] for m in members)
  return config


def member_dir(workdir, index: int) -> pathlib.Path:
  return pathlib.Path(workdir) / MEMBERS_DIR / f"{index:02d}"


def _hparams(members: list[Member]) -> dict:
  """{key: float32 [K]}: the traced per-member values."""
  return {key: np.asarray([m.values[key] for m in members], np.float32)
          for key in members[0].values}


def _member_axes(state: train_state_lib.TrainState):
  """vmap axes: 0 for each member's arrays, None for the shared E2."""
  axes = {name: (None if value is None else 0)
          for name, value in state.arrays().items()}
  return state.replace(e2_params=None, **axes)


def make_mesh(config, num_members: int) -> jax.sharding.Mesh:
  """A (``member``, ``data``) mesh: members over ``mesh.member`` devices."""
  devices = jax.devices()
  m = config.mesh.get("member", 1)
  if num_members % m:
    raise errors.ConfigError(
        f"mesh.member={m} does not divide the {num_members} members")
  d = config.mesh.data if config.mesh.data > 0 else len(devices) // m
  if m * d > len(devices) or d < 1:
    raise errors.ConfigError(
        f"mesh.member={m} x mesh.data={d} needs more than the "
        f"{len(devices)} devices visible")
  auto = jax.sharding.AxisType.Auto
  return jax.make_mesh((m, d), ("member", "data"), axis_types=(auto, auto),
                       devices=devices[:m * d])


def _stack(states: list) -> train_state_lib.TrainState:
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs),
                         *[s.replace(e2_params=None) for s in states])
  return stacked.replace(e2_params=states[0].e2_params)


def _take(stacked: train_state_lib.TrainState, index):
  one = jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(
      x, index, keepdims=False), stacked.replace(e2_params=None))
  return one.replace(e2_params=stacked.e2_params)


def unstack(stacked: train_state_lib.TrainState, index: int, mesh):
  """Member ``index``'s own TrainState, replicated over ``mesh``.

  Compiled, so that it also gathers members held by other processes.
  """
  replicated = jax.tree.map(lambda _: sharding.replicated(mesh), stacked)
  return jax.jit(_take, out_shardings=replicated)(stacked, index)


def _members_in(config) -> str:
  """``sweep.members_in``: "vmap" (batched), "unroll" (K copies of the
  step in one program, compiled K times larger), or "auto": unroll on CPU,
  vmap on accelerators."""
  how = config.get("sweep", {}).get("members_in", "auto")
  if how not in ("auto", "vmap", "unroll"):
    raise errors.ConfigError(
        f"sweep.members_in {how!r}: auto, vmap or unroll")
  if how == "auto":
    return "unroll" if jax.default_backend() == "cpu" else "vmap"
  return how


def make_step_fn(config, state, mesh):
  """The jitted sweep step: ``(stacked, batch, rng, hparams, active) ->
  (stacked, metrics [K], active)``.

  A member whose step is not finite keeps its previous state (frozen) and
  drops out of ``active``.
  """
  axes = _member_axes(state)

  def one(member_state, batch, rng, hparams):
    return train_step_lib.train_step(member_state, batch, rng, hparams,
                                     config=config)

  def local_step(stacked, batch, rng, hparams, active):
    if _members_in(config) == "unroll":
      # The members' steps side by side in one program: XLA:CPU runs the
      # grouped convolutions vmap makes of per-member kernels 4x slower
      # than K ordinary ones (experiments/bench_vmap_conv.py).
      e2 = stacked.e2_params
      count = stacked.step.shape[0]
      outs = [one(_take(stacked, k), batch, rng,
                  jax.tree.map(lambda h, k=k: h[k], hparams))
              for k in range(count)]
      new = jax.tree.map(lambda *xs: jnp.stack(xs),
                         *[o[0].replace(e2_params=None) for o in outs])
      new = new.replace(e2_params=e2)
      metrics = jax.tree.map(lambda *xs: jnp.stack(xs), *[o[1] for o in outs])
    else:
      new, metrics = jax.vmap(one, in_axes=(axes, None, None, 0),
                              out_axes=(axes, 0))(stacked, batch, rng,
                                                  hparams)
    keep = active & metrics["finite"]

    def select(n, o):
      return jnp.where(keep.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)

    arrays = jax.tree.map(select, new.arrays(), stacked.arrays())
    return new.with_arrays(arrays), metrics, keep

  # Members are independent: each device group runs its own members
  # (manual over `member`), and the compiler splits each member's batch
  # over `data` as in `train`. (Leaving `member` to the compiler too fails:
  # XLA cannot partition the grouped convolutions vmap makes of the
  # members' convolutions.)
  member_specs = jax.tree.map(lambda _: P("member"),
                              state.replace(e2_params=None))
  member_specs = member_specs.replace(
      e2_params=jax.tree.map(lambda _: P(), state.e2_params))
  step = jax.shard_map(
      local_step, mesh=mesh,
      in_specs=(member_specs, P(), P(), P("member"), P("member")),
      out_specs=(member_specs, P("member"), P("member")),
      axis_names=frozenset({"member"}), check_vma=False)

  by_member = NamedSharding(mesh, P("member"))
  state_sharding = jax.tree.map(lambda _: by_member,
                                state.replace(e2_params=None))
  state_sharding = state_sharding.replace(
      e2_params=jax.tree.map(lambda _: sharding.replicated(mesh),
                             state.e2_params))
  batch_sharding = NamedSharding(mesh, P("data"))
  jitted = jax.jit(
      step,
      in_shardings=(state_sharding, batch_sharding,
                    sharding.replicated(mesh), by_member, by_member),
      out_shardings=(state_sharding, by_member, by_member),
      donate_argnums=(0,),
      compiler_options=xla_cpu.step_compiler_options(config))
  return jitted, state_sharding, batch_sharding


def _read_or_write_plan(workdir: pathlib.Path, config, grid) -> list[Member]:
  members = members_of(grid)
  plan = dict(grid=grid, members=[dict(index=m.index, name=m.name,
                                       values=m.values) for m in members])
  path = workdir / SWEEP_FILE
  if path.is_file():
    saved = json.loads(path.read_text())
    if saved["grid"] != grid:
      raise errors.ConfigError(
          f"{workdir} holds a sweep of another grid ({saved['grid']}); use "
          f"another --workdir")
  elif jax.process_index() == 0:
    path.write_text(json.dumps(plan, indent=1))
  return members


def _common_step(ckpts) -> int | None:
  """The latest step every member has a checkpoint of."""
  steps = [set(c.all_steps()) for c in ckpts]
  if not any(steps):
    return None
  common = set.intersection(*steps)
  if not common:
    raise errors.CheckpointError(
        "the members' checkpoints have no step in common; move the members' "
        "ckpt/ folders aside to start again")
  return max(common)


def run(config, grid_items: list[str], workdir, *,
        metric: str = DEFAULT_METRIC) -> list[dict]:
  """Trains every member of the grid; returns the table (best first).

  Raises:
    errors.WorkdirBusy, errors.Preempted, errors.ConfigError as ``train``.
  """
  workdir = pathlib.Path(workdir)
  grid = parse_grid(grid_items, config)
  with workdir_lib.exclusive(workdir, "sweep"):
    return _run_locked(config, grid, workdir, metric)


def _run_locked(config, grid, workdir: pathlib.Path, metric: str):
  is_main = jax.process_index() == 0
  if identity_branch.cross_view(config) and not config.data.pairs:
    raise errors.ConfigError("cross-view losses need data.pairs=True")
  if config.train.get("branch_every", 1) != 1:
    raise errors.ConfigError("train.branch_every: jaxface sweep runs the "
                             "identity branch every step; set it to 1")
  workdir.mkdir(parents=True, exist_ok=True)
  members = _read_or_write_plan(workdir, config, grid)
  structure = structure_config(config, members)
  configs = [member_config(config, m) for m in members]
  dirs = [member_dir(workdir, m.index) for m in members]
  for directory in dirs:
    directory.mkdir(parents=True, exist_ok=True)

  mesh = make_mesh(structure, len(members))
  e2 = workdir_lib.identity_encoder(structure, workdir, training=True)
  one = train_state_lib.create_train_state(structure, e2)
  ckpts = [checkpoint_lib.Checkpointer(d / workdir_lib.CHECKPOINT_DIR,
                                       structure.ckpt) for d in dirs]
  start = _common_step(ckpts)
  states = [one if start is None else ckpt.restore(one, step=start)
            for ckpt in ckpts]
  if e2 is not None and is_main:
    for directory in dirs:  # every member directory stands on its own
      local = directory / workdir_lib.IDENTITY_ENCODER_DIR
      if not local.is_dir():
        shutil.copytree(workdir / workdir_lib.IDENTITY_ENCODER_DIR, local)
  if is_main:
    for directory, member_cfg in zip(dirs, configs):
      workdir_lib.write_config(member_cfg, directory)
  frozen = [json.loads((d / FROZEN_FILE).read_text())
            if (d / FROZEN_FILE).is_file() else None for d in dirs]

  step_fn, state_sharding, _ = make_step_fn(structure, one, mesh)
  stacked = jax.device_put(_stack(states), state_sharding)
  by_member = NamedSharding(mesh, P("member"))
  hparams = jax.device_put(_hparams(members), by_member)
  active = jax.device_put(np.asarray([f is None for f in frozen]), by_member)
  rng = jax.random.key(config.seed)
  num_steps = config.train.num_steps
  step = int(states[0].step)
  local_batch = sharding.local_batch_size(config.train.batch_size, mesh)
  dataset = input_pipeline.train_dataset(config, local_batch)
  batches = input_pipeline.iterate_from(dataset, step, config)

  writers = []
  if is_main:
    writers = [summary.summary_writer(d / "tb") for d in dirs]
  progress = tqdm.tqdm(total=num_steps, initial=step, unit="step",
                       dynamic_ncols=True,
                       disable=not (is_main and config.log.progress_bar))
  preempted = False
  last_log = (step, time.perf_counter())
  with preemption_lib.Preemption(ckpts[0]) as preemption:
    try:
      while step < num_steps:
        batch = sharding.global_batch(next(batches), mesh)
        stacked, metrics, active = step_fn(stacked, batch, rng, hparams,
                                           active)
        step += 1
        progress.update(1)
        preempted = preemption.reached(step)
        save_now = (ckpts[0].manager.should_save(step) or step == num_steps
                    or preempted)
        if step % config.log.every_steps == 0 or save_now:
          host = sharding.to_host(metrics)
          now = time.perf_counter()
          rate = (step - last_log[0]) * config.train.batch_size / (
              now - last_log[1])
          last_log = (step, now)
          alive = sharding.to_host(active)
          for k, member in enumerate(members):
            if frozen[k] is None and not alive[k]:
              frozen[k] = dict(
                  by_step=step, step=int(sharding.to_host(stacked.step)[k]),
                  reason="non-finite loss or weights")
              errors.report(
                  f"sweep member {k} ({member.name}): non-finite loss or "
                  f"weights by step {step}; frozen at step "
                  f"{frozen[k]['step']}, the others go on")
              if is_main:
                (dirs[k] / FROZEN_FILE).write_text(json.dumps(frozen[k]))
            if writers and frozen[k] is None:
              for name, value in host.items():
                if name != "finite":
                  writers[k].add_scalar(f"train/{name}", float(value[k]),
                                        step)
              writers[k].add_scalar("train/images_per_sec", rate, step)
        if save_now:
          for k, ckpt in enumerate(ckpts):
            ckpt.save(step, unstack(stacked, k, mesh),
                      force=step == num_steps or preempted)
        if preempted:
          break
    finally:
      progress.close()
      for ckpt in ckpts:
        ckpt.wait_until_finished()
      for writer in writers:
        writer.close()
  for ckpt in ckpts:
    ckpt.close()
  if preempted:
    raise errors.Preempted(
        f"preempted (SIGTERM): saved step {step} of every member in "
        f"{workdir / MEMBERS_DIR}; run the same command to resume",
        preemption_lib.EXIT_CODE)
  return _results(stacked, mesh, members, configs, dirs, frozen, structure,
                  workdir, metric)


def _results(stacked, mesh, members, configs, dirs, frozen, structure,
             workdir, metric: str) -> list[dict]:
  """Held-out metrics of every member, the table sorted by ``metric``."""
  can_evaluate = (stacked.branch_params is not None
                  and evaluate.can_log_held_out(structure))
  batch = judge = None
  if can_evaluate:
    batch = evaluate.load_held_out_batch(
        structure, int(structure.log.get("eval_num_identities", 8)))
    judge = workdir_lib.judge(structure)
  rows = []
  for k, member in enumerate(members):
    state = unstack(stacked, k, mesh)
    results = {}
    if can_evaluate:
      results = evaluate.held_out_metrics(state.networks(), configs[k],
                                          batch, judge)
    row = dict(member=k, name=member.name, **member.values,
               step=int(sharding.to_host(state.step)),
               status="frozen" if frozen[k] else "ok",
               **{metric: results.get(metric, float("nan"))})
    rows.append(row)
    if jax.process_index() == 0:
      (dirs[k] / "metrics.json").write_text(json.dumps(results, indent=1))
  # Larger is better for PSNR/SSIM/cosines, smaller for errors.
  lower = any(w in metric for w in ("error", "abs_rel", "loss", "deg"))
  rows.sort(key=lambda r: (np.isnan(r[metric]),
                           r[metric] if lower else -r[metric]))
  if jax.process_index() == 0:
    (workdir / "results.json").write_text(json.dumps(rows, indent=1))
    (workdir / "results.md").write_text(format_table(rows, metric))
  return rows


def format_table(rows: list[dict], metric: str) -> str:
  keys = [k for k in rows[0] if "." in k]
  header = ["member", *keys, "step", "status", metric]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  for row in rows:
    cells = [str(row["member"]), *[f"{row[k]:g}" for k in keys],
             str(row["step"]), row["status"], f"{row[metric]:.4g}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def export_member(workdir, index: int, out) -> pathlib.Path:
  """Writes member ``index`` of the sweep in ``workdir`` as a plain run.

  The run holds the member's own config and the state a ``train`` of that
  config has: entries for terms the member does not weigh are left out.

  Raises:
    errors.ConfigError: no such member; errors.CheckpointError as restore.
  """
  workdir, out = pathlib.Path(workdir), pathlib.Path(out)
  source = member_dir(workdir, index)
  if not (workdir / SWEEP_FILE).is_file():
    raise errors.ConfigError(f"{workdir} is not a sweep (no {SWEEP_FILE})")
  if not source.is_dir():
    count = len(json.loads((workdir / SWEEP_FILE).read_text())["members"])
    raise errors.ConfigError(
        f"the sweep in {workdir} has members 0 to {count - 1}, not {index}")
  if (out / workdir_lib.CHECKPOINT_DIR).exists():
    raise errors.ConfigError(f"{out} already holds a run; choose a new --out")
  config = workdir_lib.load_config(source)
  e2 = workdir_lib.identity_encoder(config, source, training=False)
  state = train_state_lib.create_train_state(config, e2)
  ckpt = checkpoint_lib.Checkpointer(source / workdir_lib.CHECKPOINT_DIR,
                                     config.ckpt, read_only=True)
  state = state.with_arrays(ckpt.restore_arrays(state.arrays(),
                                                partial=True))
  out.mkdir(parents=True, exist_ok=True)
  if e2 is not None:
    shutil.copytree(source / workdir_lib.IDENTITY_ENCODER_DIR,
                    out / workdir_lib.IDENTITY_ENCODER_DIR)
  workdir_lib.write_config(config, out)
  written = checkpoint_lib.Checkpointer(out / workdir_lib.CHECKPOINT_DIR,
                                        config.ckpt)
  written.save(int(state.step), state, force=True)
  written.wait_until_finished()
  written.close()
  return out
