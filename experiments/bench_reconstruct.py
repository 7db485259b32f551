"""Benchmark of reconstruction: a photo in, codes, pose and files out.

Times, per image and after a warm-up call (compilation is reported on its
own, as ``compile_s``):

* ``encode``: Q's feed-forward estimate (``reconstruct.encode``);
* ``refine``: ``--refine-steps`` steps of code and pose optimisation
  (``reconstruct.refine``);
* ``tune`` (with ``--tune-generator``): the same call with pivotal tuning,
  i.e. N code/pose steps then N generator steps, one image per call as
  ``jaxface reconstruct`` does; ``tune_phase_ms_per_image`` is its excess
  over the ``refine`` line;
* ``write_face``: every output file of one face (``export.write_face``) at
  each ``--mesh-resolutions`` (0: no mesh). The mesh's parts are also timed
  alone: ``density_grid_ms`` (the field on the grid), ``marching_cubes_ms``
  (``mesh.extract_mesh``: marching cubes, merging, largest piece) and
  ``mesh_colour_write_ms`` (the rest of the mesh: colour renders, vertex
  colours, PLY/OBJ; needs the 0 line first).

Weights are random, from the config (``--workdir`` times a trained run
instead): the network costs do not depend on them, only the mesh size does.
The identity branch is on with the config's loss weights (a config whose
branch weights are all 0, e.g. celeba64, gets small_cpu's). E2 is the one in
``config.identity.encoder_dir`` when that directory holds an encoder, else a
random E2 with the architecture of ``configs/identity_synthetic.py`` (the
demo's reduced IResNet); the ``e2`` field says which.

An untrained generator has no surface at the export threshold, and
``write_face`` would skip the mesh. The benchmark then meshes at the
``--surface-quantile`` of the face's density grid instead (``mesh_level``,
``mesh_level_from``): a random blob whose vertex count (``mesh_vertices``)
need not match a trained face's, so compare write_face lines by it.

Images are random smooth colour fields (uint8) at ``data.image_size``.
Prints one JSON line per measurement.

  python experiments/bench_reconstruct.py --config configs/small_cpu.py \
      --refine-steps 0,50,100 --tune-generator
"""

import argparse
import contextlib
import json
import pathlib
import resource
import runpy
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxface import export
from jaxface import identity
from jaxface import identity_branch
from jaxface import identity_import
from jaxface import mesh as mesh_lib
from jaxface import rays as rays_lib
from jaxface import reconstruct
from jaxface import train_state as train_state_lib
from jaxface import workdir

_REPO = pathlib.Path(__file__).resolve().parents[1]
# Tracing, lowering and XLA compilation; their sum is a call's compile time.
_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                   "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")


class CompileClock:
  """Seconds jax spent compiling, summed from its monitoring events.

  A first call's wall time mixes compilation with one execution; the events
  separate the two exactly.
  """

  def __init__(self):
    self.total = 0.0
    jax.monitoring.register_event_duration_secs_listener(self._on_event)

  def _on_event(self, event, duration, **_):
    if event in _COMPILE_EVENTS:
      self.total += duration


def load_config(path):
  return runpy.run_path(str(path))["get_config"]()


def branch_on(config) -> str:
  """Switches the identity branch on if the config has it off.

  Returns where the branch weights come from, for the JSON line.
  """
  if identity_branch.uses_identity_branch(config):
    return "config"
  demo = load_config(_REPO / "configs" / "small_cpu.py")
  for name in identity_branch.WEIGHTS:
    config.loss[name] = demo.loss[name]
  return "small_cpu"


def identity_encoder(config, seed: int):
  """(graphdef, state, embedding_dim) of E2, and a label for the JSON line."""
  directory = pathlib.Path(config.identity.encoder_dir or "")
  if config.identity.encoder_dir and (
      directory / "identity_config.json").is_file():
    graphdef, state, _ = identity_import.load_identity_encoder(directory)
    label = f"loaded {directory}"
  else:
    # The demo's E2 architecture: what the small configs are trained with.
    e2_config = load_config(_REPO / "configs" / "identity_synthetic.py")
    model = identity.make_identity_encoder(e2_config.identity,
                                           nnx.Rngs(seed))
    graphdef, state = nnx.split(model)
    label = "random, configs/identity_synthetic.py architecture"
  dim = identity.embedding_dim(nnx.merge(graphdef, state))
  return (graphdef, state, dim), label


def smooth_images(batch: int, size: int, seed: int) -> np.ndarray:
  """uint8 [batch, size, size, 3]: random 4x4 colour grids, upsampled.

  Smooth rather than white noise, so the losses see image-like gradients.
  """
  coarse = np.random.default_rng(seed).uniform(0, 255, (batch, 4, 4, 3))
  fine = jax.image.resize(jnp.asarray(coarse, jnp.float32),
                          (batch, size, size, 3), "cubic")
  return np.asarray(jnp.clip(jnp.round(fine), 0, 255)).astype(np.uint8)


def timed(fn, repeats: int, clock: CompileClock):
  """(compile_s, first_call_s, [seconds per timed call], result) of ``fn()``.

  ``fn`` must block until its results are ready; ``result`` is its last.
  """
  before = clock.total
  t0 = time.perf_counter()
  result = fn()
  first = time.perf_counter() - t0
  compile_s = clock.total - before
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - t0)
  return compile_s, first, times, result


def peak_rss_gb() -> float:
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--config", default="configs/small_cpu.py")
  parser.add_argument("--workdir", default="",
                      help="time a trained run (its config and weights) "
                           "instead of random weights")
  parser.add_argument("--batch-size", type=int, default=1)
  parser.add_argument("--refine-steps", default="0,50,100",
                      help="comma-separated; 0 is the feed-forward encode")
  parser.add_argument("--tune-generator", action="store_true",
                      help="also time pivotal tuning for each N > 0")
  parser.add_argument("--mesh-resolutions", default="0,64,128",
                      help="write_face's mesh grid sides; 0: no mesh (put "
                           "it first to split the mesh's own cost)")
  parser.add_argument("--surface-quantile", type=float, default=0.8,
                      help="density quantile used as the mesh level when "
                           "the export threshold gives no surface")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  clock = CompileClock()
  if args.workdir:
    config, networks, _ = workdir.restore(args.workdir)
    weights_from = e2_label = f"run {args.workdir}"
  else:
    config = load_config(args.config)
    weights_from = branch_on(config)
    e2, e2_label = identity_encoder(config, args.seed)
    networks = train_state_lib.create_train_state(config, e2).networks()
  size = config.data.image_size
  images = smooth_images(args.batch_size, size, args.seed)
  batch = args.batch_size
  steps_list = [int(s) for s in args.refine_steps.split(",") if s]
  common = dict(bench="reconstruct", config=args.workdir or args.config,
                batch=batch, image_size=size, branch_weights=weights_from,
                e2=e2_label, device=jax.devices()[0].device_kind,
                repeats=args.repeats)

  def emit(mode, steps, compile_s, first, times, per, **extra):
    """Prints one line; ``per`` images share each timed call."""
    line = dict(common, mode=mode, steps=steps,
                ms_per_image=round(1000 * np.mean(times) / per, 2),
                min_ms_per_image=round(1000 * np.min(times) / per, 2),
                compile_s=round(compile_s, 2),
                first_call_s=round(first, 2), **extra,
                peak_rss_gb=peak_rss_gb())
    print(json.dumps(line), flush=True)
    return line

  def run_encode():
    return jax.block_until_ready(reconstruct.encode(networks, images))

  *encode_times, estimate = timed(run_encode, args.repeats, clock)
  emit("encode", 0, *encode_times, batch)

  refine_ms = {}
  for steps in (s for s in steps_list if s > 0):

    def run_refine(steps=steps):
      return jax.block_until_ready(reconstruct.refine(
          networks, config, images, estimate, steps=steps))

    line = emit("refine", steps,
                *timed(run_refine, args.repeats, clock)[:3], batch)
    refine_ms[steps] = line["ms_per_image"]
    if not args.tune_generator:
      continue

    def run_tune(steps=steps):
      # The generator is tuned per image, as `jaxface reconstruct` does.
      for i in range(batch):
        one = jax.tree.map(lambda x, i=i: x[i:i + 1], estimate)
        jax.block_until_ready(reconstruct.refine(
            networks, config, images[i:i + 1], one, steps=steps,
            tune_generator=True))

    compile_s, first, times, _ = timed(run_tune, args.repeats, clock)
    # The excess over the refine line is the generator phase; at batch > 1
    # it also holds what batching saved the code/pose phase there.
    emit("tune", steps, compile_s, first, times, batch,
         tune_phase_ms_per_image=round(
             1000 * np.mean(times) / batch - refine_ms[steps], 2))

  # write_face on the first image's feed-forward estimate.
  latents = jax.tree.map(lambda z: z[:1], estimate.latents)
  face = dict(g_graphdef=networks.g_graphdef, g_params=networks.g_params,
              latents=latents, yaw=float(estimate.yaw[0]),
              pitch=float(estimate.pitch[0]), config=config,
              input_image=images[0], how="benchmark")
  no_mesh_ms = None  # write_face without a mesh, once measured
  with tempfile.TemporaryDirectory() as tmp:
    for resolution in (int(r) for r in args.mesh_resolutions.split(",")):
      extra = dict(mesh_resolution=resolution)
      level, grid_compile_s = None, 0.0
      if resolution:
        # One grid decides the level; its compilation belongs to write_face.
        before = clock.total
        grid = mesh_lib.density_grid(networks.g_graphdef, networks.g_params,
                                     latents, resolution)
        grid_compile_s = clock.total - before
        level = mesh_lib.default_threshold(config)
        extra["mesh_level"] = round(level, 4)
        if not grid.min() < level < grid.max():
          level = float(np.quantile(grid, args.surface_quantile))
          extra.update(mesh_level=round(level, 4),
                       mesh_level_from=f"quantile {args.surface_quantile} "
                                       f"(no surface at the export level)")

      def run_write(resolution=resolution, level=level):
        with export_level(level):
          return export.write_face(pathlib.Path(tmp) / f"face{resolution}",
                                   mesh_resolution=resolution, **face)

      compile_s, first, times, result = timed(run_write, args.repeats, clock)
      for key in ("mesh_vertices", "mesh_error"):
        if key in result["files"]:
          extra[key] = result["files"][key]
      if resolution:
        parts = mesh_parts(networks, config, latents, resolution, level,
                           args.repeats)
        parts["other_ms"] = round(1000 * np.mean(times) - sum(parts.values()),
                                  2)
        if no_mesh_ms is not None:
          # What the mesh adds besides grid and cubes: the colour renders,
          # the vertex colours and the PLY/OBJ files.
          parts["mesh_colour_write_ms"] = round(parts["other_ms"] - no_mesh_ms,
                                                2)
        extra.update(parts)
      else:
        no_mesh_ms = 1000 * np.mean(times)
      emit("write_face", 0, compile_s + grid_compile_s, first, times, 1,
           **extra)


@contextlib.contextmanager
def export_level(level):
  """Makes ``write_face`` mesh at ``level`` (None: its own threshold).

  An untrained generator has no surface at the export threshold, and
  ``write_face`` would then skip the very mesh work being measured.
  """
  if level is None:
    yield
    return
  original = mesh_lib.default_threshold
  mesh_lib.default_threshold = lambda config, threshold=None: level
  try:
    yield
  finally:
    mesh_lib.default_threshold = original


def mesh_parts(networks, config, latents, resolution: int, level: float,
               repeats: int) -> dict:
  """Mean ms of the mesh's density grid and of its marching cubes, alone.

  Run after ``write_face`` at the same resolution, so all is compiled.
  """
  t0 = time.perf_counter()
  for _ in range(repeats):
    grid = mesh_lib.density_grid(networks.g_graphdef, networks.g_params,
                                 latents, resolution)
  grid_ms = 1000 * (time.perf_counter() - t0) / repeats
  half = rays_lib.box_half_size(config.render)
  t0 = time.perf_counter()
  for _ in range(repeats):
    mesh_lib.extract_mesh(grid, level, half)
  cubes_ms = 1000 * (time.perf_counter() - t0) / repeats
  return dict(density_grid_ms=round(grid_ms, 2),
              marching_cubes_ms=round(cubes_ms, 2))


if __name__ == "__main__":
  main()
