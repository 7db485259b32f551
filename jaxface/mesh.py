"""A coloured triangle mesh of one generated face.

The face's density field is sampled on a regular grid over the generator's
padded object box, its level set is extracted with marching cubes, and every
vertex is coloured from the rendered view that sees it most frontally.

Frame of the exported mesh: world units (the frame the generator renders
in, so the head spans about ``object_scale`` either side of the origin), y
up, the face looking along +z, the origin at the head centre. This is the
frame of ``structs.Camera.cam2world`` (see ``jaxface.camera``), so a mesh and
the cameras that rendered its colours line up without any transform.
Triangles are wound counter-clockwise seen from outside (normals point away
from the head, towards lower density).
"""

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import trimesh
from flax import nnx
from skimage import measure

from jaxface import files
from jaxface import rays as rays_lib
from jaxface import structs


def _grid_points(flat_index, resolution: int, half):
  """World positions of flat grid indices ("ij" order).

  Args:
    flat_index: [n] int32 indices into the resolution^3 grid.
    resolution: points per axis.
    half: half edge of the box.

  Returns:
    [n, 3] points; index ``(i * r + j) * r + k`` is at (x_i, y_j, z_k).
  """
  axis = jnp.linspace(-half, half, resolution, dtype=jnp.float32)
  i, rest = jnp.divmod(flat_index, resolution * resolution)
  j, k = jnp.divmod(rest, resolution)
  return jnp.stack([axis[i], axis[j], axis[k]], axis=-1)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _density_chunks(graphdef, params, latents, resolution: int, chunk: int):
  """Density on the whole grid, evaluated ``chunk`` points at a time.

  Args:
    graphdef: generator graph definition (static).
    params: generator parameters.
    latents: codes of batch size 1.
    resolution: points per axis (static).
    chunk: points per field evaluation (static).

  Returns:
    [num_chunks * chunk] densities in flat "ij" order; entries past
    resolution^3 belong to padding and are to be dropped.
  """
  model = nnx.merge(graphdef, params)
  total = resolution ** 3
  num_chunks = -(-total // chunk)
  # Padding indices repeat the last grid point, so every chunk has the same
  # shape (one compile) and evaluates real positions.
  index = jnp.minimum(jnp.arange(num_chunks * chunk, dtype=jnp.int32),
                      total - 1).reshape(num_chunks, chunk)

  def evaluate(chunk_index):
    points = _grid_points(chunk_index, resolution, model.half_size)
    return model.density(points[None], latents)[0]

  return jax.lax.map(evaluate, index).reshape(-1)


def density_grid(graphdef, params, latents, resolution: int,
                 chunk: int = 65536) -> np.ndarray:
  """Samples one face's density on a regular grid over the padded box.

  Args:
    graphdef: generator graph definition (from ``nnx.split``).
    params: generator parameters (e.g. the EMA weights, as a pure dict).
    latents: ``structs.Latents`` with batch size 1.
    resolution: points per axis, r.
    chunk: points per field evaluation; bounds memory, not the result.

  Returns:
    float32 [r, r, r]; ``grid[i, j, k]`` is the density at world point
    ``(x_i, y_j, z_k)`` with ``x = np.linspace(-half, half, r)`` (same for y
    and z) and ``half = object_scale * (1 + box_padding)``.
  """
  if latents.z_shape.shape[0] != 1:
    raise ValueError(
        f"density_grid takes one face, got latents of batch size "
        f"{latents.z_shape.shape[0]}")
  if resolution < 2:
    raise ValueError(f"resolution must be at least 2, got {resolution}")
  chunk = min(chunk, resolution ** 3)
  flat = _density_chunks(graphdef, params, latents, resolution, chunk)
  flat = np.asarray(flat, np.float32)[:resolution ** 3]
  return flat.reshape(resolution, resolution, resolution)


@functools.partial(jax.jit, static_argnums=0)
def _densities_at(graphdef, params, latents, points):
  return nnx.merge(graphdef, params).density(points[None], latents)[0]


def surface_level(graphdef, params, latents, depth, opacity,
                  cameras: structs.Camera,
                  min_opacity: float = 0.5) -> float | None:
  """The density level at which the renders see the surface.

  Each nearly opaque ray's expected depth is where the volume renderer puts
  the surface; the median density at those points is a level whose
  marching-cubes surface agrees with the rendered depth maps, whatever the
  scale the field has learnt.

  Args:
    graphdef, params: the generator.
    latents: ``structs.Latents`` with batch size 1.
    depth: [n, h, w] camera-axis surface depth of renders of this face
      (``GeneratorOutput.surface_depth``).
    opacity: [n, h, w] their opacity.
    cameras: the n cameras of those renders.
    min_opacity: rays below this opacity are ignored.

  Returns:
    The level, or None when no ray is that opaque.
  """
  n, h, w = depth.shape
  ray_batch = rays_lib.pixel_rays(cameras, h, w)
  distance = jnp.reshape(depth, (n, -1)) / ray_batch.z_scale
  points = ray_batch.origins + ray_batch.directions * distance[..., None]
  keep = np.asarray(jnp.reshape(opacity, (n, -1)) > min_opacity)
  if not keep.any():
    return None
  points = np.asarray(points)[keep]
  densities = np.asarray(_densities_at(graphdef, params, latents,
                                       jnp.asarray(points)))
  level = float(np.median(densities))
  return level if level > 0 else None


def default_threshold(config, threshold=None) -> float:
  """Density level of the exported surface.

  The surface is put where one render sample bin becomes half opaque:
  ``1 - exp(-density * bin) = 0.5``, i.e. ``density = ln 2 / bin``. That ties
  the level to what the renderer can see, rather than to the arbitrary scale
  of the learnt density.

  The bin is ``(far - near) / num_samples`` when the renderer spreads its
  samples over [near, far]. With ``render.sample_in_box`` the samples span
  only a ray's segment inside the box; its length varies per ray, so we use
  the segment of the central ray, the box edge ``2 * half``, divided by
  ``num_samples``.

  Args:
    config: run config (uses ``config.render``).
    threshold: an explicit level; returned unchanged when given.

  Returns:
    The density level, a positive float.
  """
  if threshold is not None:
    return float(threshold)
  rc = config.render
  if rc.sample_in_box:
    span = 2.0 * rays_lib.box_half_size(rc)
  else:
    span = float(rc.far) - float(rc.near)
  bin_width = span / int(rc.num_samples)
  return float(np.log(2.0) / bin_width)


def _largest_component(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
  """The connected piece with the most faces (drops floaters)."""
  pieces = mesh.split(only_watertight=False)
  if len(pieces) <= 1:
    return mesh
  return max(pieces, key=lambda piece: len(piece.faces))


def extract_mesh(grid, level: float, half: float):
  """Closed surface ``density == level`` of the largest solid in the grid.

  Args:
    grid: float [r, r, r] densities, ``grid[i, j, k]`` at (x_i, y_j, z_k)
      with coordinates ``np.linspace(-half, half, r)`` on every axis.
    level: density of the surface.
    half: half edge of the box the grid spans, in world units.

  Returns:
    (vertices, faces): float32 [v, 3] world positions and int32 [f, 3]
    vertex indices, wound so that normals point outward (towards lower
    density).

  Raises:
    ValueError: if ``level`` is not strictly inside the grid's value range,
      so there is no surface.
  """
  grid = np.asarray(grid, np.float32)
  low, high = float(grid.min()), float(grid.max())
  if not low < level < high:
    raise ValueError(
        f"no surface: level {level:g} is outside the density range "
        f"({low:g}, {high:g}) of the grid; choose a level inside it")
  spacing = 2.0 * half / (grid.shape[0] - 1)
  # A border of empty space (zero density, below any valid level) closes the
  # surface where the solid touches the box, so the mesh is watertight.
  padded = np.pad(grid, 1, constant_values=min(0.0, low))
  vertices, faces, _, _ = measure.marching_cubes(
      padded, level=level, spacing=(spacing,) * 3,
      gradient_direction="descent")
  # Padded index 0 lies one voxel outside the box, at -half - spacing.
  vertices = vertices - (half + spacing)
  mesh = trimesh.Trimesh(vertices, faces, process=True)
  mesh = _largest_component(mesh)
  # A closed surface wound with outward normals encloses positive volume;
  # this does not rely on the winding convention of marching cubes.
  if mesh.volume < 0:
    mesh.invert()
  return (np.asarray(mesh.vertices, np.float32),
          np.asarray(mesh.faces, np.int32))


def vertex_normals(vertices, faces) -> np.ndarray:
  """Area-weighted unit vertex normals.

  Args:
    vertices: [v, 3] positions.
    faces: [f, 3] counter-clockwise vertex indices.

  Returns:
    float32 [v, 3] unit normals (zero for vertices in no face).
  """
  vertices = np.asarray(vertices, np.float64)
  faces = np.asarray(faces)
  corners = vertices[faces]  # [f, 3, 3]
  # The cross product's length is twice the triangle's area: summing it
  # weights each face by its area.
  face_normals = np.cross(corners[:, 1] - corners[:, 0],
                          corners[:, 2] - corners[:, 0])
  normals = np.zeros_like(vertices)
  for corner in range(3):
    np.add.at(normals, faces[:, corner], face_normals)
  length = np.linalg.norm(normals, axis=-1, keepdims=True)
  return (normals / np.maximum(length, 1e-12)).astype(np.float32)


def _project(points, cameras: structs.Camera, size: int):
  """Pixel coordinates of world points in every view (``pixel_rays`` model).

  Args:
    points: [v, 3] world positions.
    cameras: cameras with batch size n.
    size: side of the square images.

  Returns:
    (rows, cols, depth): [n, v] continuous pixel coordinates, with pixel
    centres at integers and row 0 at the top of the image, and camera-axis
    depth (positive in front of the camera).
  """
  cam2world = np.asarray(cameras.cam2world, np.float64)
  rotation, eye = cam2world[:, :3, :3], cam2world[:, :3, 3]
  local = np.einsum("nji,nvj->nvi", rotation, points[None] - eye[:, None])
  depth = -local[..., 2]  # the camera looks along its -z
  tan_half = np.tan(0.5 * np.asarray(cameras.fov, np.float64))[:, None]
  safe_depth = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
  ndc_x = local[..., 0] / (safe_depth * tan_half)
  ndc_y = local[..., 1] / (safe_depth * tan_half)
  # Inverse of pixel_rays: x = (col + 0.5) / s * 2 - 1 and
  # y = 1 - (row + 0.5) / s * 2 (image row 0 is up).
  cols = (ndc_x + 1.0) * 0.5 * size - 0.5
  rows = (1.0 - ndc_y) * 0.5 * size - 0.5
  return rows, cols, depth


def _bilinear(image, rows, cols):
  """Bilinear lookup, clamped to the image border.

  Args:
    image: [s, s, c] values.
    rows: [v] continuous row coordinates (pixel centres at integers).
    cols: [v] continuous column coordinates.

  Returns:
    float64 [v, c] interpolated values.
  """
  height, width = image.shape[:2]
  rows = np.clip(rows, 0.0, height - 1.0)
  cols = np.clip(cols, 0.0, width - 1.0)
  r0 = np.minimum(np.floor(rows).astype(np.int64), height - 2)
  c0 = np.minimum(np.floor(cols).astype(np.int64), width - 2)
  r0, c0 = np.maximum(r0, 0), np.maximum(c0, 0)
  r1, c1 = np.minimum(r0 + 1, height - 1), np.minimum(c0 + 1, width - 1)
  fr, fc = (rows - r0)[:, None], (cols - c0)[:, None]
  image = image.astype(np.float64)
  top = image[r0, c0] * (1 - fc) + image[r0, c1] * fc
  bottom = image[r1, c0] * (1 - fc) + image[r1, c1] * fc
  return top * (1 - fr) + bottom * fr


def vertex_colors(vertices, normals, images, cameras: structs.Camera):
  """Colours vertices from the view that faces each of them the most.

  Occlusion is not tested: a vertex takes the colour its best view shows at
  its projection, which is right for the front-most surface of a face.

  Args:
    vertices: [v, 3] world positions.
    normals: [v, 3] unit outward normals.
    images: uint8 [n, s, s, 3] renders, image n seen from camera n.
    cameras: ``structs.Camera`` with batch size n (look-at pinhole cameras,
      full field of view ``fov``, the pixel model of ``rays.pixel_rays``).

  Returns:
    uint8 [v, 3] colours. Vertices that face away from every camera still get
    the colour of the least oblique view.
  """
  vertices = np.asarray(vertices, np.float64)
  normals = np.asarray(normals, np.float64)
  images = np.asarray(images)
  if images.shape[1] != images.shape[2]:
    raise ValueError(f"images must be square, got shape {images.shape}")
  eye = np.asarray(cameras.cam2world, np.float64)[:, :3, 3]  # [n, 3]
  to_camera = eye[:, None] - vertices[None]  # [n, v, 3]
  to_camera /= np.maximum(
      np.linalg.norm(to_camera, axis=-1, keepdims=True), 1e-12)
  facing = np.einsum("nvi,vi->nv", to_camera, normals)
  rows, cols, depth = _project(vertices, cameras, images.shape[1])
  # A point behind a camera has no image there; never pick that view.
  facing = np.where(depth > 0, facing, -np.inf)
  best = np.argmax(facing, axis=0)  # [v]
  colors = np.zeros((len(vertices), 3))
  for view in np.unique(best):
    mine = best == view
    colors[mine] = _bilinear(images[view, ..., :3], rows[view, mine],
                             cols[view, mine])
  return np.clip(np.round(colors), 0, 255).astype(np.uint8)


def write_mesh(path_stem, vertices, faces, colors) -> dict:
  """Writes the mesh as ``<stem>.ply`` and ``<stem>.obj``.

  Both files carry per-vertex RGB: the PLY as uint8 properties, the OBJ as
  ``v x y z r g b`` with colours in [0, 1]. Coordinates are in the world
  frame described in the module docstring.

  Args:
    path_stem: output path without extension; its directory must exist.
    vertices: [v, 3] world positions.
    faces: [f, 3] vertex indices.
    colors: uint8 [v, 3] vertex colours.

  Returns:
    ``{"ply": path, "obj": path}`` as strings.
  """
  stem = pathlib.Path(path_stem)
  mesh = trimesh.Trimesh(
      vertices=np.asarray(vertices, np.float64),
      faces=np.asarray(faces, np.int64),
      vertex_colors=np.asarray(colors, np.uint8),
      process=False)
  paths = {}
  for file_type in ("ply", "obj"):
    path = stem.with_name(f"{stem.name}.{file_type}")
    data = mesh.export(file_type=file_type)
    files.write_atomic(path, data.encode() if isinstance(data, str) else data)
    paths[file_type] = str(path)
  return paths


def _pixel_frame(directions, z_scale, size: int):
  """``M`` with ``X - origin = s * M @ [1, col, row]`` for a pinhole camera.

  A pixel's ray direction divided by its ``z_scale`` lies on the image
  plane at unit depth, an affine function of (col, row); fitted over all
  pixel centres (exact for a pinhole), so any pixel convention of
  ``rays.pixel_rays`` is honoured.
  """
  rows, cols = np.divmod(np.arange(size * size), size)
  plane = directions / z_scale[:, None]  # [r, 3]
  basis = np.stack([np.ones_like(cols), cols, rows], 1).astype(np.float64)
  frame, *_ = np.linalg.lstsq(basis, plane, rcond=None)  # [3, 3]
  return frame.T


def _hits(origin, directions, triangles):
  """Moller-Trumbore distance for paired rays and triangles, inf if none.

  Args:
    origin: [3]; directions: [n, 3]; triangles: [n, 3, 3].
  """
  a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
  edge1, edge2 = b - a, c - a
  p = np.cross(directions, edge2)
  det = np.sum(edge1 * p, -1)
  ok = np.abs(det) >= 1e-12
  safe = np.where(ok, det, 1.0)
  offset = origin - a
  u = np.sum(offset * p, -1) / safe
  q = np.cross(offset, edge1)
  v = np.sum(directions * q, -1) / safe
  t = np.sum(edge2 * q, -1) / safe
  hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
  return np.where(hit, t, np.inf)


def render_depth(vertices, faces, cameras: structs.Camera, size: int,
                 max_extent: int = 6, chunk: int = 1 << 17) -> np.ndarray:
  """Camera-axis depth of a mesh, one ray per pixel centre.

  The rays are ``rays.pixel_rays``' (the data's camera model), so the map
  lines up with ground-truth depth maps of the same cameras. Each triangle
  is tested (Moller-Trumbore) only against the pixels inside its projected
  bounding box: a triangle's image
  under a pinhole is the triangle of its corners' images. The cost is
  O(triangles x box area) instead of O(triangles x pixels), so meshes of
  a million faces from a noisy early field take seconds, not hours.

  Args:
    vertices: [v, 3] world positions.
    faces: [f, 3] vertex indices.
    cameras: n cameras (in front of every vertex).
    size: image side.
    max_extent: boxes up to this many pixels across are enumerated
      vectorised; larger triangles are tested against every pixel.
    chunk: triangle-pixel pairs per vectorised batch (memory only).

  Returns:
    float32 [n, size, size]; NaN where a ray misses the mesh.
  """
  triangles = np.asarray(vertices, np.float64)[np.asarray(faces)]
  rays = rays_lib.pixel_rays(cameras, size, size)
  origins = np.asarray(rays.origins, np.float64)
  directions = np.asarray(rays.directions, np.float64)
  z_scale = np.asarray(rays.z_scale, np.float64)
  out = np.full((origins.shape[0], size * size), np.inf)
  offsets = np.stack(np.meshgrid(np.arange(max_extent + 1),
                                 np.arange(max_extent + 1), indexing="ij"),
                     -1).reshape(-1, 2)  # [k, 2] (d_row, d_col)
  for i in range(origins.shape[0]):
    origin = origins[i, 0]
    frame = _pixel_frame(directions[i], z_scale[i], size)
    # [f, 3, 3] -> (s, s*col, s*row) -> (col, row) of every corner.
    coords = (triangles - origin) @ np.linalg.inv(frame).T
    cr = coords[..., 1:] / coords[..., :1]
    low = np.clip(np.ceil(cr.min(1) - 1e-6), 0, size - 1).astype(np.int64)
    high = np.clip(np.floor(cr.max(1) + 1e-6), 0, size - 1).astype(np.int64)
    inside = np.all(cr.max(1) >= -1e-6, 1) & np.all(
        cr.min(1) <= size - 1 + 1e-6, 1)
    extent = (high - low).max(1)
    small = np.nonzero(inside & (extent <= max_extent))[0]
    large = np.nonzero(inside & (extent > max_extent))[0]
    depth = out[i]
    per_chunk = max(1, chunk // len(offsets))
    for start in range(0, len(small), per_chunk):
      tri = small[start:start + per_chunk]
      col = low[tri, None, 0] + offsets[None, :, 1]
      row = low[tri, None, 1] + offsets[None, :, 0]
      keep = (col <= high[tri, None, 0]) & (row <= high[tri, None, 1])
      tri_idx = np.broadcast_to(tri[:, None], keep.shape)[keep]
      pixel = (row * size + col)[keep]
      t = _hits(origin, directions[i, pixel], triangles[tri_idx])
      np.minimum.at(depth, pixel, t * z_scale[i, pixel])
    for tri in large:  # rare: test against every pixel
      t = _hits(origin, directions[i],
                np.broadcast_to(triangles[tri], (size * size, 3, 3)))
      np.minimum(depth, t * z_scale[i], out=depth)
  depth = out.reshape(-1, size, size)
  return np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)


def up_down_area(vertices, faces, threshold: float = 0.8) -> float:
  """Share of the surface area whose normal is near straight up or down.

  A face counts when ``|n_y| > threshold`` (0.8: within 37 degrees of the
  vertical). A sphere scores ``1 - threshold`` (0.2); a stack of horizontal
  plates scores near 1.

  Args:
    vertices: [v, 3] positions (y up).
    faces: [f, 3] vertex indices.
    threshold: on the normal's vertical component.

  Returns:
    The area fraction in [0, 1].
  """
  corners = np.asarray(vertices, np.float64)[np.asarray(faces)]
  cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
  area = np.linalg.norm(cross, axis=-1)
  vertical = np.abs(cross[:, 1]) / np.maximum(area, 1e-30)
  return float(np.sum(area[vertical > threshold]) / max(np.sum(area), 1e-30))
