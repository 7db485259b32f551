"""One function per command of the ``jaxface`` command line.

``main.py`` parses the command line and calls these; tests call them
directly. Each returns a JSON-able summary and prints what its user reads.
This is the one module that knows both training and inference.
"""

import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from ml_collections import config_flags

from jaxface import camera as camera_lib
from jaxface import errors
from jaxface import evaluate as evaluate_lib
from jaxface import export
from jaxface import files
from jaxface import generator
from jaxface import giraffe_import
from jaxface import identity_import
from jaxface import identity_pretrain
from jaxface import image_io
from jaxface import metrics
from jaxface import reconstruct as reconstruct_lib
from jaxface import sampling
from jaxface import sweep as sweep_lib
from jaxface import train as train_lib
from jaxface import workdir as workdir_lib
from jaxface.data import held_out as held_out_lib
from jaxface.data import synthetic_faces


def apply_overrides(config, overrides, sections):
  """``config`` with ``--config.SECTION.KEY=VALUE`` overrides applied.

  Args:
    config: a run's config (from its workdir).
    overrides: command-line strings ``--config.SECTION.KEY=VALUE``.
    sections: the sections these may change.

  Returns:
    The overridden config (``config`` itself if there are no overrides).

  Raises:
    errors.ConfigError: an override outside ``sections``, of an unknown key,
      or with a value of the wrong type.
  """
  if not overrides:
    return config
  for item in overrides:
    section = item.removeprefix("--config.").split(".")[0].split("=")[0]
    if section not in sections:
      raise errors.ConfigError(
          f"{item.split('=')[0]} has no effect here; only "
          f"{', '.join(f'--config.{s}.*' for s in sections)} can be changed "
          f"(the rest is the run's config.json)")
  argv = ["jaxface"] + list(overrides)
  values = flags.FlagValues()
  try:
    # The flag finds its overrides in the argv it is given at definition.
    config_flags.DEFINE_config_dict("config", config, flag_values=values,
                                    lock_config=True, sys_argv=argv)
    values(argv)
  except (flags.Error, AttributeError, KeyError, ValueError, TypeError) as e:
    raise errors.ConfigError(
        f"invalid override in {' '.join(overrides)}: "
        f"{str(e).strip().splitlines()[0]}") from e
  return values.config


def _initialize_distributed(distributed):
  """``jax.distributed.initialize``: auto-detected (True) or explicit (dict)."""
  if isinstance(distributed, dict):
    jax.distributed.initialize(**distributed)
  elif distributed or os.environ.get("JAX_COORDINATOR_ADDRESS"):
    jax.distributed.initialize()


def train(config, workdir, *, distributed: bool | dict = False):
  """``jaxface train``: trains, resuming from the latest checkpoint.

  Exits with ``preemption.EXIT_CODE`` after a SIGTERM (checkpoint saved).
  """
  _initialize_distributed(distributed)
  train_lib.train_and_evaluate(config, workdir)


def sweep(config, grid, workdir, *, metric: str, export_member=None,
          out=None, distributed: bool | dict = False):
  """``jaxface sweep``: a grid as one step, or one member exported as a run."""
  if export_member is not None:
    if grid or not out:
      raise errors.ConfigError(
          "--export-member K takes --workdir SWEEP and --out RUN, no --grid")
    path = sweep_lib.export_member(workdir, export_member, out)
    print(f"member {export_member} of {workdir} written as the run {path}")
    return dict(out=str(path))
  _initialize_distributed(distributed)
  rows = sweep_lib.run(config, grid, workdir, metric=metric)
  if jax.process_index() == 0:
    print(sweep_lib.format_table(rows, metric), end="")
  return dict(rows=rows)


def pretrain_identity(config, workdir) -> dict:
  """``jaxface pretrain-identity``: E2 with a margin loss; prints results."""
  results = identity_pretrain.pretrain(config, workdir)
  print(json.dumps(results))
  return results


def make_data(*, data_dir, identities: int, test_identities: int | None,
              views: int, size: int, seed: int) -> dict:
  """``jaxface make-data``: generates the synthetic face data set."""
  # test_identities=None lets the builder pick its default.
  builder = synthetic_faces.build(
      data_dir, train_identities=identities, test_identities=test_identities,
      views=views, size=size, seed=seed)
  return dict(data_dir=str(builder.data_dir))


def render(workdir, out=None, *, seed: int = 0, num_faces: int = 8,
           num_views: int = 7, codes=None, poses=None) -> dict:
  """``jaxface render``: views of the EMA generator.

  Without ``codes``/``poses``: a grid of ``num_faces`` random faces from
  ``num_views`` yaws, its depth grid and an orbit GIF. With both: every code
  at every pose in evaluation mode (no depth jitter, no density noise), as
  ``code<i>_pose<j>.png`` and ``images.npy``, float32 [codes, poses, h, w,
  3] in [0, 1].
  """
  config, networks, step = workdir_lib.restore(workdir)
  out = pathlib.Path(out or pathlib.Path(workdir) / "renders")
  if (codes is None) != (poses is None):
    raise errors.ConfigError("render needs --codes and --poses together")
  if codes is not None:
    result = dict(step=step, **_render_codes(networks, config, codes, poses,
                                             out))
  else:
    paths = sampling.write_sample_views(
        out / f"seed{seed}_", networks.g_graphdef, networks.g_params, config,
        seed=seed, num_faces=num_faces, num_views=num_views)
    orbit = sampling.write_sample_orbit(
        out / f"seed{seed}_orbit.gif", networks.g_graphdef, networks.g_params,
        config, seed=seed, num_faces=min(num_faces, 4))
    result = dict(step=step, **paths, orbit=orbit)
  print(json.dumps(result))
  return result


def _render_codes(networks, config, codes, poses, out) -> dict:
  """Every code of ``codes`` at every pose of ``poses``, written to ``out``."""
  latents = _load_codes(codes, config)
  cams = export.load_poses(poses, config)
  views = sampling.render_faces(networks.g_graphdef, networks.g_params,
                                latents, cams)
  images = np.asarray(jnp.clip(views.images, 0.0, 1.0), np.float32)
  paths = []
  if jax.process_index() == 0:
    for i in range(images.shape[0]):
      for j in range(images.shape[1]):
        paths.append(str(export.write_png(
            out / f"code{i}_pose{j}.png", sampling.to_uint8(images[i, j]))))
    files.write_atomic(out / "images.npy", files.npy_bytes(images))
  return dict(images=str(out / "images.npy"), pngs=paths,
              shape=list(images.shape))


def _load_codes(path, config):
  """``codes.npz`` checked against the generator's code sizes."""
  latents = export.load_codes(path)
  expected = generator.sample_latents(jax.random.key(0), 1, config.field)
  for name, want, got in zip(vars(expected), jax.tree.leaves(expected),
                             jax.tree.leaves(latents)):
    if got.ndim != 2 or got.shape[-1] != want.shape[-1]:
      raise errors.DataError(
          f"codes {path} do not fit this generator: {name} has shape "
          f"{tuple(got.shape)}, the model takes [n, {want.shape[-1]}]")
  return latents


def _unique_names(paths) -> list[str]:
  names, seen = [], {}
  for path in paths:
    name = pathlib.Path(path).stem
    seen[name] = seen.get(name, 0) + 1
    names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
  return names


def _estimate(networks, config, images, *, refine_steps, refine_lr,
              tune_generator):
  """(estimate, generator weights per image, how) of a batch of photos."""
  mirror = reconstruct_lib.mirror_pose(config)
  estimate = reconstruct_lib.encode(networks, images, mirror=mirror)
  how = "feed-forward encoder Q" + (
      ", pose averaged with the mirror image's" if mirror else "")
  g_params = [networks.g_params] * len(images)
  if refine_steps > 0 and not tune_generator:
    estimate, _, _ = reconstruct_lib.refine(networks, config, images,
                                            estimate, steps=refine_steps,
                                            lr=refine_lr)
    how = f"Q, then {refine_steps} steps of code and pose refinement"
  elif refine_steps > 0:
    rows = []
    for i in range(len(images)):  # G is tuned per image
      one = jax.tree.map(lambda x, i=i: x[i:i + 1], estimate)
      one, g_params[i], _ = reconstruct_lib.refine(
          networks, config, images[i:i + 1], one, steps=refine_steps,
          lr=refine_lr, tune_generator=True)
      rows.append(one)
    estimate = jax.tree.map(lambda *x: jnp.concatenate(x), *rows)
    how = (f"Q, then {refine_steps} steps of code and pose refinement and "
           f"{refine_steps} of generator tuning (pivotal tuning)")
  return estimate, g_params, how


def reconstruct(inputs, workdir, out, *, refine_steps: int = 0,
                refine_lr: float | None = None, tune_generator: bool = False,
                mesh_resolution: int = 128, mesh_level: float | None = None,
                overrides=(), batch_size: int = 16) -> dict:
  """``jaxface reconstruct``: pose, views, depth, orbit and mesh per photo.

  A missing file, an empty folder or an unreadable image is reported on
  stderr in one line and skipped; the others are still reconstructed.

  Args:
    inputs: image files or folders.
    workdir: the trained run.
    out: output directory, one sub-directory per photo.
    refine_steps: test-time optimisation steps (0: Q's estimate only).
    refine_lr: their step size (``config.refine.lr`` if None).
    tune_generator: then tune the generator per photo (pivotal tuning).
    mesh_resolution: marching-cubes grid side (0: no mesh).
    mesh_level: the surface's density (None: where the renders see it).
    overrides: ``--config.refine.*`` overrides of the run's config.
    batch_size: photos per compiled call.

  Returns:
    {"step", "out", "faces": {name: {"pose", "files"}}, "failed": [...]}.
  """
  config, networks, step = workdir_lib.restore(workdir)
  config = apply_overrides(config, overrides, ("refine",))
  if networks.q_params is None:
    raise errors.CheckpointError(
        f"{workdir} was trained without the identity branch (no encoder Q): "
        f"set a loss.*_weight of the branch, e.g. the demo config")
  image_paths, problems = image_io.expand_inputs(list(inputs))
  loaded, bad = image_io.load_images(image_paths, config.data.image_size)
  for message in problems + bad:
    errors.report(message)
  out = pathlib.Path(out)
  names = _unique_names([path for path, _ in loaded])
  faces = {}
  for start in range(0, len(loaded), batch_size):
    chunk = loaded[start:start + batch_size]
    images = np.stack([image for _, image in chunk])
    estimate, g_params, how = _estimate(
        networks, config, images, refine_steps=refine_steps,
        refine_lr=refine_lr, tune_generator=tune_generator)
    for i, (path, image) in enumerate(chunk):
      faces[names[start + i]] = export.write_face(
          out / names[start + i], g_graphdef=networks.g_graphdef,
          g_params=g_params[i],
          latents=jax.tree.map(lambda z, i=i: z[i:i + 1], estimate.latents),
          yaw=float(estimate.yaw[i]), pitch=float(estimate.pitch[i]),
          config=config, input_image=image, how=f"{how} from {path}",
          mesh_resolution=mesh_resolution, mesh_level=mesh_level)
  summary = dict(step=step, out=str(out), faces=faces,
                 failed=problems + bad)
  files.write_atomic(out / "summary.json",
                     (json.dumps(summary, indent=2) + "\n").encode())
  print(json.dumps({name: face["pose"] | {"files": face["files"]}
                    for name, face in faces.items()}))
  return summary


def export_mesh(workdir, out, *, seed: int = 0, num_faces: int = 1,
                codes=None, mesh_resolution: int = 128,
                mesh_level: float | None = None) -> dict:
  """``jaxface export-mesh``: meshes of prior samples or of saved codes."""
  config, networks, step = workdir_lib.restore(workdir)
  out = pathlib.Path(out)
  if codes is not None:
    latents = _load_codes(codes, config)
    names = [f"{pathlib.Path(codes).parent.name}_{i}"
             for i in range(latents.z_shape.shape[0])]
  else:
    latents = generator.sample_latents(jax.random.key(seed), num_faces,
                                       config.field)
    names = [f"seed{seed}_{i}" for i in range(num_faces)]
  (_, _), (pitch, _) = camera_lib.pose_range(config.camera)
  faces = {}
  for i, name in enumerate(names):
    faces[name] = export.write_face(
        out / name, g_graphdef=networks.g_graphdef,
        g_params=networks.g_params,
        latents=jax.tree.map(lambda z, i=i: z[i:i + 1], latents), yaw=0.0,
        pitch=pitch, config=config,
        how=f"codes from {codes}" if codes else f"prior sample, seed {seed}",
        mesh_resolution=mesh_resolution, mesh_level=mesh_level)
  print(json.dumps({name: face["files"] for name, face in faces.items()}))
  return dict(step=step, out=str(out), faces=faces)


def evaluate(workdir, out=None, *, refine_steps: int = 0,
             tune_generator: bool = False, every_stage: bool = False,
             num_identities: int | None = None,
             test_identities: int | None = None, overrides=(), judge=None,
             mesh_resolution: int = 64, sets=("clean", "wild")) -> dict:
  """``jaxface evaluate``: held-out metrics of the latest checkpoint.

  The test data is the run's own (``config.data.data_dir``). Prints the
  metrics as a table and writes them as JSON.

  Args:
    workdir: the training workdir.
    out: JSON path; if None, ``WORKDIR/eval/metrics_step<step>.json``, or
      ``metrics_step<step>_refine<refine_steps>.json`` with refinement
      (``..._tune.json`` with generator tuning), so the feed-forward and
      refined scores of one checkpoint sit side by side.
    refine_steps: test-time optimisation steps (0: Q's estimate only).
    tune_generator: then tune a generator per identity (pivotal tuning).
    every_stage: also score the stages on the way (Q's estimate, then the
      refined codes), each written to its own default file as if evaluated
      alone, in one pass (``out`` must then be None).
    num_identities: the first this many test identities (all if None).
    test_identities: read the held-out sets of the run's data as built with
      this many test identities (``held_out.widen``); default files then
      end in ``_ids<N>``, beside the run's own. None: the run's
      ``data.test_identities``.
    overrides: ``--config.refine.*`` overrides of the run's config.
    judge: directory of the identity judge (``identity.judge_dir`` if None).
    mesh_resolution: grid side of the scored meshes (0: no mesh metrics).
    sets: the held-out sets to score.

  Returns:
    ``dict(step=..., path=..., **metrics)`` of the last stage. The JSON file
    holds the step and the metrics; a PSNR of +inf or a NaN mean is written
    as Python's ``json`` writes them (``Infinity``, ``NaN``).
  """
  last = evaluate_lib.final_stage(refine_steps, tune_generator)
  if every_stage and out is not None:
    raise errors.ConfigError("--every-stage writes each stage's default "
                             "file; leave out --out")
  config, networks, step = workdir_lib.restore(workdir)
  config = apply_overrides(config, overrides, ("refine",))
  ids = ""
  if test_identities is not None:
    held_out_lib.widen(config, test_identities)
    ids = f"_ids{test_identities}"
  stages = evaluate_lib.STAGES
  stages = stages[:stages.index(last) + 1] if every_stage else (last,)
  scored = evaluate_lib.evaluate_stages(
      config, networks, stages=stages, num_identities=num_identities,
      refine_steps=refine_steps, judge=workdir_lib.judge(config, judge),
      mesh_resolution=mesh_resolution, sets=tuple(sets))
  for stage in stages:
    results, figures = scored[stage]
    suffix = {"encode": "", "refine": f"_refine{refine_steps}",
              "tune": f"_refine{refine_steps}_tune"}[stage]
    path = pathlib.Path(out) if out else (
        pathlib.Path(workdir) / "eval" /
        f"metrics_step{step}{suffix}{ids}.json")
    views = {name: path.with_name(f"{path.stem}_views_{name}.png")
             for name in figures}
    if jax.process_index() == 0:
      files.write_atomic(path, (json.dumps(dict(step=step, **results),
                                           indent=2) + "\n").encode())
      for name, figure in figures.items():
        export.write_png(views[name], figure, _upscale(figure))
      print(f"{stage}: {path}")
      print(metrics.format_table(results))
  return dict(step=step, path=str(path),
              views={k: str(v) for k, v in views.items()}, **results)


def _upscale(image) -> int:
  """A small picture's nearest-neighbour zoom, to about 1024 pixels wide."""
  return max(1, 1024 // image.shape[1])


def import_giraffe(checkpoint, config, workdir) -> dict:
  """``jaxface import-giraffe``: an official GIRAFFE checkpoint as a run."""
  summary = giraffe_import.import_checkpoint(checkpoint, config, workdir)
  print(json.dumps(summary))
  return summary


def import_identity(arch: str, checkpoint, out) -> dict:
  """``jaxface import-identity``: a public PyTorch face-ID network as E2."""
  try:
    summary = identity_import.convert(arch, checkpoint, out)
  except (ValueError, OSError, ImportError) as e:
    raise errors.CheckpointError(
        f"cannot import {checkpoint} as {arch}: {e}") from e
  print(json.dumps(summary))
  return summary
