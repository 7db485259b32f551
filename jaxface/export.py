"""The files of one 3D face, as ``reconstruct`` and ``export-mesh`` write them.

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

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np

from jaxface import camera as camera_lib
from jaxface import errors
from jaxface import files
from jaxface import mesh as mesh_lib
from jaxface import rays as rays_lib
from jaxface import sampling
from jaxface import structs

# New views reach past the training prior's yaw range by this factor, so the
# ring shows how the face extrapolates.
RING_WIDENING = 1.3
RING_VIEWS = 7
ORBIT_FRAMES = 24
# Views whose renders colour the mesh: yaws across the widened range at
# three pitches, so the sides and the chin get a frontal view too.
COLOUR_YAWS = 9
COLOUR_PITCHES_DEGREES = (-20.0, 0.0, 20.0)


def write_png(path: pathlib.Path, image: np.ndarray,
              upscale: int = 1) -> pathlib.Path:
  """uint8 [h, w, 3] as a PNG, written atomically (pixels ``upscale``d)."""
  if upscale > 1:
    image = np.repeat(np.repeat(image, upscale, 0), upscale, 1)
  return files.write_atomic(path, iio.imwrite("<bytes>", image,
                                              extension=".png"))


def ring_cameras(config, num_views: int, pitch=None) -> structs.Camera:
  """``num_views`` yaws across the widened prior, at the prior's mid pitch."""
  if pitch is None:
    (_, _), (pitch, _) = camera_lib.pose_range(config.camera)
  return camera_lib.orbit(num_views, config.camera, pitch=pitch,
                          widening=RING_WIDENING)


def _render_all(g_graphdef, g_params, latents, cams):
  """One face's latents ([1, dim] each) from every camera, batched."""
  out = sampling.render_faces(g_graphdef, g_params, latents, cams)
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
    latents: ``structs.Latents`` with batch 1.
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
  pose_cam = camera_lib.prior_camera(jnp.asarray([yaw], jnp.float32), pitch,
                                    config.camera)
  at_pose = _render_all(g_graphdef, g_params, latents, pose_cam)
  render_rgb = sampling.to_uint8(at_pose.images)[0]
  if input_image is not None:
    paths["input"] = str(out_dir / "input.png")
    write_png(out_dir / "input.png", input_image, upscale)
    side_by_side = sampling.make_grid(np.stack([input_image,
                                                render_rgb])[None])
  else:
    side_by_side = sampling.make_grid(render_rgb[None, None])
  paths["render"] = str(out_dir / "render.png")
  write_png(out_dir / "render.png", side_by_side, upscale)

  depth = np.asarray(at_pose.depth[0])
  opacity = np.asarray(at_pose.opacity[0])
  paths["depth"] = str(out_dir / "depth.png")
  write_png(out_dir / "depth.png",
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
  write_png(out_dir / "views.png",
             sampling.make_grid(np.stack([ring_rgb, ring_depth])), upscale)

  orbit = _render_all(g_graphdef, g_params, latents,
                      ring_cameras(config, ORBIT_FRAMES))
  paths["orbit"] = str(out_dir / "orbit.gif")
  sampling.write_gif(out_dir / "orbit.gif",
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


def face_mesh(g_graphdef, g_params, latents, config, resolution: int,
              level: float | None = None, views=None):
  """(vertices, faces, level) of one face's density surface.

  Args:
    g_graphdef, g_params: the generator.
    latents: ``structs.Latents`` with batch 1.
    config: run config.
    resolution: marching-cubes grid side.
    level: the surface's density; None for where the renders see it
      (``mesh.surface_level``), or the fixed rule if nothing is opaque.
    views: ``(renders, cameras)`` to find the level from; the colour views
      if None.

  Raises:
    ValueError: the level leaves no surface in the grid.
  """
  if level is None:
    renders, cams = views or colour_views(g_graphdef, g_params, latents,
                                          config)
    level = mesh_lib.surface_level(g_graphdef, g_params, latents,
                                   renders.surface_depth, renders.opacity,
                                   cams)
  level = mesh_lib.default_threshold(config, level)
  grid = mesh_lib.density_grid(g_graphdef, g_params, latents, resolution)
  vertices, faces = mesh_lib.extract_mesh(grid, level,
                                          rays_lib.box_half_size(config.render))
  return vertices, faces, level


def colour_views(g_graphdef, g_params, latents, config):
  """(renders, cameras) of one face from the views that colour its mesh."""
  cams = [ring_cameras(config, COLOUR_YAWS, pitch=np.deg2rad(p))
          for p in COLOUR_PITCHES_DEGREES]
  cams = jax.tree.map(lambda *x: jnp.concatenate(x), *cams)
  return _render_all(g_graphdef, g_params, latents, cams), cams


def _write_mesh(stem, g_graphdef, g_params, latents, config,
                resolution: int, level: float | None = None) -> dict:
  views, cams = colour_views(g_graphdef, g_params, latents, config)
  try:
    vertices, faces, level = face_mesh(g_graphdef, g_params, latents, config,
                                       resolution, level, (views, cams))
  except ValueError as e:  # e.g. an untrained generator has no surface
    message = f"no mesh for {stem.parent.name}: {e}"
    errors.report(message)
    return dict(mesh_error=message)
  normals = mesh_lib.vertex_normals(vertices, faces)
  colors = mesh_lib.vertex_colors(vertices, normals,
                                  sampling.to_uint8(views.images), cams)
  written = mesh_lib.write_mesh(stem, vertices, faces, colors)
  return dict(mesh_ply=written["ply"], mesh_obj=written["obj"],
              mesh_vertices=int(len(vertices)), mesh_level=float(level))


def load_codes(path) -> structs.Latents:
  """Latents from a ``codes.npz`` written by ``reconstruct``."""
  path = pathlib.Path(path)
  try:
    with np.load(path) as data:
      return structs.Latents(**{k: jnp.asarray(data[k]) for k in
                                ("z_shape", "z_app", "z_bg_shape",
                                 "z_bg_app")})
  except (OSError, ValueError, KeyError) as e:
    raise errors.DataError(f"cannot read codes {path}: "
                           f"{str(e).strip().splitlines()[0]}") from e


def load_poses(path, config) -> structs.Camera:
  """Cameras from a ``poses.json`` list of ``{"yaw_deg", "pitch_deg"}``.

  Yaw and pitch are this world's (``jaxface.camera``); the radius and field
  of view are the prior's means. In GIRAFFE's terms (``render.yaw =
  "object"``): the object turns by the rotation fraction ``r = 0.5 +
  yaw_deg / 360`` and the camera sits at the elevation fraction ``v = (1 -
  sin(pitch)) / 2`` (pitch above the equator).
  """
  path = pathlib.Path(path)
  try:
    poses = json.loads(path.read_text())
    yaw = [float(p["yaw_deg"]) for p in poses]
    pitch = [float(p["pitch_deg"]) for p in poses]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise errors.DataError(
        f"cannot read poses {path}: expected a JSON list of "
        f'{{"yaw_deg": ..., "pitch_deg": ...}} ({type(e).__name__}: '
        f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})") from e
  if not yaw:
    raise errors.DataError(f"poses {path} holds no pose")
  return camera_lib.prior_camera(jnp.deg2rad(jnp.asarray(yaw, jnp.float32)),
                                 jnp.deg2rad(jnp.asarray(pitch, jnp.float32)),
                                 config.camera)
