"""``jaxface reconstruct`` and ``jaxface export-mesh``: files per face.

For each face, in ``OUT/<name>/``:

* ``input.png``: the photo as the model sees it (centre-cropped, resized);
* ``pose.json``: estimated camera (yaw/pitch in degrees, radius, field of
  view, ``cam2world``) in the frame of ``jaxface.camera`` (y up, face along
  +z, head at the origin), and how it was obtained;
* ``codes.npz``: the latent codes (``export-mesh --codes`` reads them);
* ``render.png``: the reconstruction at the estimated pose, next to the input;
* ``views.png``: renders from a ring of new yaw angles (RGB over depth);
* ``depth.png`` / ``depth.npy``: camera-axis depth at the estimated pose
  (``.png``: expected depth, bright is near; ``.npy``: depth of the visible
  surface in world units, NaN where the opacity is below 0.5);
* ``orbit.gif``: the face turning left and right;
* ``mesh.ply`` / ``mesh.obj``: marching cubes of the density field with
  vertex colours taken from the renders (see ``jaxface.mesh``).
"""

import json
import pathlib
import sys

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np

from jaxface import camera as camera_lib
from jaxface import encoders
from jaxface import errors
from jaxface import files
from jaxface import generator
from jaxface import image_io
from jaxface import mesh as mesh_lib
from jaxface import reconstruct
from jaxface import sampling
from jaxface import train

# New views reach past the training prior's yaw range by this factor, so the
# ring shows how the face extrapolates.
RING_WIDENING = 1.3
RING_VIEWS = 7
ORBIT_FRAMES = 24
# Views whose renders colour the mesh: yaws across the widened range at
# three pitches, so the sides and the chin get a frontal view too.
COLOUR_YAWS = 9
COLOUR_PITCHES_DEGREES = (-20.0, 0.0, 20.0)


def _write_png(path: pathlib.Path, image: np.ndarray, upscale: int = 1):
  if upscale > 1:
    image = np.repeat(np.repeat(image, upscale, 0), upscale, 1)
  files.write_atomic(path, iio.imwrite("<bytes>", image, extension=".png"))


def ring_cameras(config, num_views: int, pitch=None, widening=RING_WIDENING):
  """Cameras evenly spaced in yaw across the widened prior range."""
  (centre, half), (pitch_centre, _) = encoders.pose_range(config.camera)
  yaw = centre + widening * half * jnp.linspace(-1.0, 1.0, num_views)
  pitch = pitch_centre if pitch is None else pitch
  return camera_lib.make_camera(
      yaw, pitch, 0.5 * sum(config.camera.radius_range),
      np.deg2rad(config.camera.fov_degrees))


def _render_all(g_graphdef, g_params, latents, cams):
  """One face's latents ([1, dim] each) from every camera, batched."""
  out = sampling._render_faces(g_graphdef, g_params, latents, cams)  # pylint: disable=protected-access
  return jax.tree.map(lambda x: x[0], out)


def _pose_dict(cam, how: str) -> dict:
  """``pose.json`` of a camera with batch size 1."""
  return dict(
      yaw_degrees=float(np.rad2deg(cam.yaw[0])),
      pitch_degrees=float(np.rad2deg(cam.pitch[0])),
      radius=float(cam.radius[0]),
      fov_degrees=float(np.rad2deg(cam.fov[0])),
      cam2world=np.asarray(cam.cam2world[0]).round(6).tolist(),
      frame="world: y up, face looks along +z, head centred at the origin; "
            "camera: OpenGL (x right, y up, looking along -z)",
      estimated_by=how)


def write_face(out_dir: pathlib.Path, *, g_graphdef, g_params, latents,
               yaw: float, pitch: float, config, input_image=None,
               how: str = "", mesh_resolution: int = 128,
               mesh_level: float | None = None) -> dict:
  """Writes every output file of one face; returns their paths.

  Args:
    out_dir: the face's directory (created).
    g_graphdef, g_params: the generator to render with.
    latents: ``generator.Latents`` with batch 1.
    yaw, pitch: the pose to render ``render.png``/depth at (radians).
    config: run config.
    input_image: uint8 [size, size, 3] or None (export-mesh).
    how: provenance for ``pose.json``.
    mesh_resolution: marching-cubes grid side (0: no mesh).
    mesh_level: density of the surface; None for ``mesh.surface_level``
      (where the renders see the surface).
  """
  out_dir.mkdir(parents=True, exist_ok=True)
  size = config.data.image_size
  upscale = max(1, 128 // size)
  paths = {}
  pose_cam = encoders.encoding_camera(jnp.asarray([yaw], jnp.float32), pitch,
                                      config.camera)
  at_pose = _render_all(g_graphdef, g_params, latents, pose_cam)
  render_rgb = sampling.to_uint8(at_pose.images)[0]
  if input_image is not None:
    paths["input"] = str(out_dir / "input.png")
    _write_png(out_dir / "input.png", input_image, upscale)
    side_by_side = sampling.make_grid(np.stack([input_image,
                                                render_rgb])[None])
  else:
    side_by_side = sampling.make_grid(render_rgb[None, None])
  paths["render"] = str(out_dir / "render.png")
  _write_png(out_dir / "render.png", side_by_side, upscale)

  depth = np.asarray(at_pose.depth[0])
  opacity = np.asarray(at_pose.opacity[0])
  paths["depth"] = str(out_dir / "depth.png")
  _write_png(out_dir / "depth.png",
             sampling.depth_to_uint8(depth, opacity, config, size), upscale)
  paths["depth_npy"] = str(files.write_atomic(
      out_dir / "depth.npy", files.npy_bytes(np.where(
          opacity > 0.5, np.asarray(at_pose.surface_depth[0]),
          np.nan).astype(np.float32))))

  ring = _render_all(g_graphdef, g_params, latents,
                     ring_cameras(config, RING_VIEWS))
  ring_rgb = sampling.to_uint8(ring.images)
  ring_depth = sampling.depth_to_uint8(ring.depth, ring.opacity, config,
                                       size)
  paths["views"] = str(out_dir / "views.png")
  _write_png(out_dir / "views.png",
             sampling.make_grid(np.stack([ring_rgb, ring_depth])), upscale)

  orbit = _render_all(g_graphdef, g_params, latents,
                      ring_cameras(config, ORBIT_FRAMES))
  paths["orbit"] = str(out_dir / "orbit.gif")
  sampling.write_orbit(out_dir / "orbit.gif",
                       sampling.to_uint8(orbit.images)[None], upscale=upscale)

  paths["codes"] = str(files.write_atomic(
      out_dir / "codes.npz", files.npz_bytes(**vars(latents))))
  pose = _pose_dict(pose_cam, how)
  paths["pose"] = str(files.write_atomic(
      out_dir / "pose.json", (json.dumps(pose, indent=2) + "\n").encode()))
  if mesh_resolution:
    paths.update(_write_mesh(out_dir / "mesh", g_graphdef, g_params, latents,
                             config, mesh_resolution, mesh_level))
  return dict(pose=pose, files=paths)


def _write_mesh(stem, g_graphdef, g_params, latents, config,
                resolution: int, level: float | None = None) -> dict:
  half = mesh_lib.box_half_size(config.render)
  cams = [ring_cameras(config, COLOUR_YAWS, pitch=np.deg2rad(p))
          for p in COLOUR_PITCHES_DEGREES]
  cams = jax.tree.map(lambda *x: jnp.concatenate(x), *cams)
  views = _render_all(g_graphdef, g_params, latents, cams)
  if level is None:
    # Where the renders see the surface; the fixed rule if nothing is opaque.
    level = mesh_lib.surface_level(g_graphdef, g_params, latents,
                                   views.surface_depth, views.opacity, cams)
  level = mesh_lib.default_threshold(config, level)
  grid = mesh_lib.density_grid(g_graphdef, g_params, latents, resolution)
  try:
    vertices, faces = mesh_lib.extract_mesh(grid, level, half)
  except ValueError as e:  # e.g. an untrained generator has no surface
    message = f"no mesh for {stem.parent.name}: {e}"
    _warn(message)
    return dict(mesh_error=message)
  normals = mesh_lib.vertex_normals(vertices, faces)
  colors = mesh_lib.vertex_colors(vertices, normals,
                                  sampling.to_uint8(views.images), cams)
  written = mesh_lib.write_mesh(stem, vertices, faces, colors)
  return dict(mesh_ply=written["ply"], mesh_obj=written["obj"],
              mesh_vertices=int(len(vertices)), mesh_level=float(level))


def _row(estimate, i: int):
  return dict(
      latents=jax.tree.map(lambda z: z[i:i + 1], estimate.latents),
      yaw=float(estimate.yaw[i]), pitch=float(estimate.pitch[i]))


def _unique_names(paths) -> list[str]:
  names, seen = [], {}
  for path in paths:
    name = pathlib.Path(path).stem
    seen[name] = seen.get(name, 0) + 1
    names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
  return names


def _warn(message: str):
  print(f"jaxface: error: {message}", file=sys.stderr)


def reconstruct_command(inputs, workdir, out, *, refine_steps: int = 0,
                        refine_lr: float = 0.01, tune_generator: bool = False,
                        mesh_resolution: int = 128,
                        mesh_level: float | None = None,
                        batch_size: int = 16) -> dict:
  """Reconstructs every image in ``inputs`` (files or folders).

  A missing file, an empty folder or an unreadable image is reported on
  stderr in one line and skipped; the others are still reconstructed.

  Returns:
    {"faces": {name: {"pose": ..., "files": ...}}, "failed": [messages]}.
  """
  config, state = train.restore_for_inference(workdir)
  if state.e_params is None:
    raise errors.CheckpointError(
        f"{workdir} was trained without the identity branch (no encoder Q): "
        f"set a loss.*_weight of the branch, e.g. the demo config")
  image_paths, problems = image_io.expand_inputs(list(inputs))
  for message in problems:
    _warn(message)
  loaded, bad = image_io.load_images(image_paths, config.data.image_size)
  for message in bad:
    _warn(message)
  problems = problems + bad
  out = pathlib.Path(out)
  names = _unique_names([path for path, _ in loaded])
  faces = {}
  for start in range(0, len(loaded), batch_size):
    chunk = loaded[start:start + batch_size]
    images = np.stack([image for _, image in chunk])
    estimate = reconstruct.encode(state, images)
    how = "feed-forward encoder Q"
    g_params_per = [state.g_ema_params] * len(chunk)
    if refine_steps > 0 and not tune_generator:
      estimate, _, _ = reconstruct.refine(state, config, images, estimate,
                                          steps=refine_steps, lr=refine_lr)
      how = f"Q, then {refine_steps} steps of code and pose refinement"
    elif refine_steps > 0:
      rows = []
      for i in range(len(chunk)):  # G is tuned per image
        one = jax.tree.map(lambda x, i=i: x[i:i + 1], estimate)
        one, g_params_per[i], _ = reconstruct.refine(
            state, config, images[i:i + 1], one, steps=refine_steps,
            lr=refine_lr, tune_generator=True)
        rows.append(one)
      estimate = jax.tree.map(lambda *x: jnp.concatenate(x), *rows)
      how = (f"Q, then {refine_steps} steps of code and pose refinement and "
             f"{refine_steps} of generator tuning (pivotal tuning)")
    for i, (path, image) in enumerate(chunk):
      name = names[start + i]
      row = _row(estimate, i)
      faces[name] = write_face(
          out / name, g_graphdef=state.g_graphdef,
          g_params=g_params_per[i], latents=row["latents"], yaw=row["yaw"],
          pitch=row["pitch"], config=config, input_image=image,
          how=f"{how} from {path}", mesh_resolution=mesh_resolution,
          mesh_level=mesh_level)
  summary = dict(step=int(state.step), out=str(out), faces=faces,
                 failed=problems)
  files.write_atomic(out / "summary.json",
                     (json.dumps(summary, indent=2) + "\n").encode())
  return summary


def load_codes(path) -> generator.Latents:
  """Latents from a ``codes.npz`` written by ``reconstruct``."""
  path = pathlib.Path(path)
  try:
    with np.load(path) as data:
      return generator.Latents(**{k: jnp.asarray(data[k]) for k in
                                  ("z_shape", "z_app", "z_bg_shape",
                                   "z_bg_app")})
  except (OSError, ValueError, KeyError) as e:
    raise errors.DataError(f"cannot read codes {path}: "
                           f"{str(e).strip().splitlines()[0]}") from e


def export_mesh_command(workdir, out, *, seed: int = 0, num_faces: int = 1,
                        codes=None, mesh_resolution: int = 128,
                        mesh_level: float | None = None) -> dict:
  """Meshes (and views) of prior samples ``seed`` or of saved ``codes``."""
  config, state = train.restore_for_inference(workdir)
  out = pathlib.Path(out)
  if codes is not None:
    latents = load_codes(codes)
    expected = generator.sample_latents(jax.random.key(0), 1, config.field)
    for name, want, got in zip(vars(expected), jax.tree.leaves(expected),
                               jax.tree.leaves(latents)):
      if got.shape[-1] != want.shape[-1]:
        raise errors.DataError(
            f"codes {codes} do not fit this generator: {name} has "
            f"{got.shape[-1]} dims, the model {want.shape[-1]}")
    names = [f"{pathlib.Path(codes).parent.name}_{i}"
             for i in range(latents.z_shape.shape[0])]
  else:
    latents = generator.sample_latents(jax.random.key(seed), num_faces,
                                       config.field)
    names = [f"seed{seed}_{i}" for i in range(num_faces)]
  (_, _), (pitch, _) = encoders.pose_range(config.camera)
  faces = {}
  for i, name in enumerate(names):
    faces[name] = write_face(
        out / name, g_graphdef=state.g_graphdef, g_params=state.g_ema_params,
        latents=jax.tree.map(lambda z, i=i: z[i:i + 1], latents), yaw=0.0,
        pitch=pitch, config=config,
        how=f"codes from {codes}" if codes else f"prior sample, seed {seed}",
        mesh_resolution=mesh_resolution, mesh_level=mesh_level)
  return dict(step=int(state.step), out=str(out), faces=faces)
