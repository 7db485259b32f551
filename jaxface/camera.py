"""Stage 1: camera pose prior and look-at cameras.

Conventions (shared by the generator and the synthetic data set):
  * World frame: y up, the face looks along +z, the head is centred at 0.
  * A camera at yaw=0, pitch=0 sits on the +z axis and looks at the origin.
  * Positive yaw moves the camera towards +x (the subject's left side);
    positive pitch moves it up (it then looks down).
  * Camera frame is OpenGL's: x right, y up, looking along -z.

The prior follows GIRAFFE: azimuth and elevation are given as fractions
``u, v`` of a sphere parametrisation (``theta = 2 pi u``,
``phi = arccos(1 - 2 v)``, with the face at ``u = 0.5`` and the equator at
``v = 0.5``). We convert them to yaw/pitch so the rest of the code can speak
in angles.

GIRAFFE's own world is z up with its camera on the +x side; its object
box is turned about z by ``2 pi r`` for a rotation fraction ``r``. A camera
at yaw ``2 pi (r - 0.5)`` here sees what GIRAFFE's camera sees of a box
turned by ``r`` (``object_rotation``), and ``FIELD_FRAMES`` map this world
into the frames GIRAFFE's fields are evaluated in.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxface import structs


def fraction_to_yaw(u):
  """Azimuth fraction of a full turn -> yaw in radians (0.5 -> 0)."""
  return 2.0 * np.pi * (u - 0.5)


def fraction_to_pitch(v):
  """Elevation fraction (GIRAFFE's ``v``) -> pitch in radians (0.5 -> 0).

  Numpy in, numpy out (config values stay concrete under tracing).
  """
  arccos = jnp.arccos if isinstance(v, jax.Array) else np.arccos
  return 0.5 * np.pi - arccos(1.0 - 2.0 * v)


def yaw_to_fraction(yaw):
  return yaw / (2.0 * jnp.pi) + 0.5


def pitch_to_fraction(pitch):
  return 0.5 * (1.0 - jnp.cos(0.5 * jnp.pi - pitch))


def camera_position(yaw, pitch, radius):
  """Camera centres on a sphere.

  Args:
    yaw: [...] radians.
    pitch: [...] radians.
    radius: [...] distances to the origin.

  Returns:
    [..., 3] world positions.
  """
  return jnp.stack(
      [
          radius * jnp.sin(yaw) * jnp.cos(pitch),
          radius * jnp.sin(pitch),
          radius * jnp.cos(yaw) * jnp.cos(pitch),
      ],
      axis=-1,
  )


def look_at(eye, target=None, up=(0.0, 1.0, 0.0)):
  """Camera-to-world matrices of cameras at ``eye`` looking at ``target``.

  Args:
    eye: [..., 3] camera centres.
    target: [..., 3] points looked at; the origin if None.
    up: world up vector; must not be parallel to the viewing direction.

  Returns:
    [..., 4, 4] camera-to-world matrices (columns: right, up, back, eye).
  """
  eye = jnp.asarray(eye, jnp.float32)
  if target is None:
    target = jnp.zeros_like(eye)
  back = eye - target
  back = back / jnp.linalg.norm(back, axis=-1, keepdims=True)
  up = jnp.broadcast_to(jnp.asarray(up, eye.dtype), eye.shape)
  right = jnp.cross(up, back)
  right = right / jnp.linalg.norm(right, axis=-1, keepdims=True)
  true_up = jnp.cross(back, right)
  rotation = jnp.stack([right, true_up, back], axis=-1)  # [..., 3, 3]
  top = jnp.concatenate([rotation, eye[..., None]], axis=-1)  # [..., 3, 4]
  bottom = jnp.broadcast_to(
      jnp.asarray([0.0, 0.0, 0.0, 1.0], eye.dtype), top.shape[:-2] + (1, 4)
  )
  return jnp.concatenate([top, bottom], axis=-2)


@jax.jit  # one program instead of some twenty op-by-op ones when eager
def make_camera(yaw, pitch, radius, fov) -> structs.Camera:
  """Builds look-at cameras from pose angles.

  Args:
    yaw: [batch] radians.
    pitch: [batch] radians.
    radius: [batch] or scalar.
    fov: [batch] or scalar, full field of view in radians.

  Returns:
    A ``structs.Camera`` with all fields of shape [batch] (+ [4, 4]).
  """
  yaw = jnp.asarray(yaw, jnp.float32)
  pitch = jnp.broadcast_to(jnp.asarray(pitch, jnp.float32), yaw.shape)
  radius = jnp.broadcast_to(jnp.asarray(radius, jnp.float32), yaw.shape)
  fov = jnp.broadcast_to(jnp.asarray(fov, jnp.float32), yaw.shape)
  cam2world = look_at(camera_position(yaw, pitch, radius))
  return structs.Camera(yaw, pitch, radius, fov, cam2world)


def sample_poses(key: jax.Array, batch: int, config) -> structs.Camera:
  """Draws cameras from the pose prior in ``config`` (a ``camera`` section).

  The prior is uniform in the azimuth and elevation fractions (as GIRAFFE),
  uniform in radius and fixed in field of view.

  Args:
    key: PRNG key.
    batch: number of cameras.
    config: ConfigDict with ``azimuth_range``, ``elevation_range``,
      ``radius_range`` and ``fov_degrees``.

  Returns:
    A ``structs.Camera`` of batch size ``batch``.
  """
  k_u, k_v, k_r = jax.random.split(key, 3)
  u = jax.random.uniform(
      k_u, (batch,), minval=config.azimuth_range[0],
      maxval=config.azimuth_range[1])
  v = jax.random.uniform(
      k_v, (batch,), minval=config.elevation_range[0],
      maxval=config.elevation_range[1])
  radius = jax.random.uniform(
      k_r, (batch,), minval=config.radius_range[0],
      maxval=config.radius_range[1])
  fov = jnp.full((batch,), np.deg2rad(config.fov_degrees), jnp.float32)
  return make_camera(fraction_to_yaw(u), fraction_to_pitch(v), radius, fov)


def pose_range(config) -> tuple[tuple[float, float], tuple[float, float]]:
  """((yaw_centre, yaw_half), (pitch_centre, pitch_half)) of the prior.

  Args:
    config: ``camera`` ConfigDict (``azimuth_range``, ``elevation_range``).

  Returns:
    Centre and half-width in radians of the yaw and of the pitch range.
  """
  yaws = [float(fraction_to_yaw(u)) for u in config.azimuth_range]
  pitches = [float(fraction_to_pitch(v)) for v in config.elevation_range]
  return ((0.5 * (yaws[0] + yaws[1]), 0.5 * abs(yaws[1] - yaws[0])),
          (0.5 * (pitches[0] + pitches[1]), 0.5 * abs(pitches[1] - pitches[0])))


def prior_camera(yaw, pitch, config) -> structs.Camera:
  """Cameras at given angles, at the prior's mean radius and field of view.

  Args:
    yaw: [batch] radians.
    pitch: [batch] or scalar radians.
    config: ``camera`` ConfigDict.

  Returns:
    A ``structs.Camera`` of batch size ``len(yaw)``.
  """
  return make_camera(yaw, pitch, 0.5 * sum(config.radius_range),
                     np.deg2rad(config.fov_degrees))


def orbit(num_views: int, config, pitch=None,
          widening: float = 1.0) -> structs.Camera:
  """Cameras evenly spaced in yaw over the prior's azimuth range.

  Args:
    num_views: number of cameras.
    config: ``camera`` ConfigDict.
    pitch: elevation in radians; the middle of the prior if None.
    widening: the yaw range is this many times the prior's, around its
      centre (> 1 shows how a face extrapolates past the training poses).

  Returns:
    A ``structs.Camera`` of batch size ``num_views``, ordered left to right.
  """
  low, high = config.azimuth_range
  centre, half = 0.5 * (low + high), 0.5 * widening * (high - low)
  yaw = fraction_to_yaw(jnp.linspace(centre - half, centre + half, num_views))
  if pitch is None:
    pitch = fraction_to_pitch(0.5 * sum(config.elevation_range))
  return prior_camera(yaw, pitch, config)


def yaw_rotation(yaw) -> jax.Array:
  """Rotations about the up axis (+y) by ``yaw``: [batch] -> [batch, 3, 3].

  ``yaw_rotation(a) @ (0, 0, 1) = (sin a, 0, cos a)``: the rotation that
  takes the yaw-0 camera to the camera at yaw ``a``.
  """
  yaw = jnp.asarray(yaw, jnp.float32)
  c, s = jnp.cos(yaw), jnp.sin(yaw)
  zero, one = jnp.zeros_like(yaw), jnp.ones_like(yaw)
  return jnp.stack([jnp.stack([c, zero, s], -1),
                    jnp.stack([zero, one, zero], -1),
                    jnp.stack([-s, zero, c], -1)], -2)


# This world's axes in GIRAFFE's world: x_g = z, y_g = x, z_g = y (its up
# axis is z, its camera looks along -x at azimuth 0, ours along -z at yaw 0).
_TO_GIRAFFE_WORLD = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.float32)
# GIRAFFE's object box at the middle of its rotation range (half a turn
# about z): box coordinates = diag(-1, -1, 1) @ GIRAFFE world coordinates.
_HALF_TURN_Z = np.diag(np.array([-1, -1, 1], np.float32))

# Rotations from this (object-centred, yaw 0) world into the frames the
# feature fields read points and directions in: {frame: (object, background)}.
# "giraffe" is the frame of GIRAFFE's checkpoints; "jaxface" is this world
# itself (runs written before the "giraffe" frame existed).
FIELD_FRAMES = {
    "giraffe": (_HALF_TURN_Z @ _TO_GIRAFFE_WORLD, _TO_GIRAFFE_WORLD),
    "jaxface": (np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)),
}


def object_rotation(yaw, frame: str) -> jax.Array:
  """World -> object-field rotation when the object turns instead of the camera.

  Rays are then cast from the yaw-0 camera and a world point ``q`` is the
  object point ``yaw_rotation(yaw) @ q``: the object seen from the fixed
  camera looks as it would from a camera at ``yaw``.

  Args:
    yaw: [batch] radians.
    frame: a key of ``FIELD_FRAMES``.

  Returns:
    [batch, 3, 3].
  """
  return jnp.asarray(FIELD_FRAMES[frame][0]) @ yaw_rotation(yaw)
