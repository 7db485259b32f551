"""Dataclasses passed between pipeline stages (all are JAX pytrees)."""

import flax.struct
import jax


@flax.struct.dataclass
class Camera:
  """A batch of look-at cameras on a sphere around the origin.

  Attributes:
    yaw: [batch] azimuth in radians; 0 looks at the face from the front (+z).
    pitch: [batch] elevation in radians; positive means the camera is above
      the head, looking down.
    radius: [batch] distance from the camera centre to the origin.
    fov: [batch] full vertical (= horizontal) field of view in radians.
    cam2world: [batch, 4, 4] camera-to-world matrix. Camera frame is OpenGL's:
      x right, y up, the camera looks along -z.
  """

  yaw: jax.Array
  pitch: jax.Array
  radius: jax.Array
  fov: jax.Array
  cam2world: jax.Array


@flax.struct.dataclass
class Rays:
  """Rays through pixel centres.

  Attributes:
    origins: [batch, rays, 3] ray origins in world space (camera centres).
    directions: [batch, rays, 3] unit directions in world space.
    z_scale: [batch, rays] cosine between ray and optical axis: depth along
      the camera axis is ``t * z_scale`` for a point at distance ``t``.
  """

  origins: jax.Array
  directions: jax.Array
  z_scale: jax.Array


@flax.struct.dataclass
class Renderings:
  """Output of volume rendering, one value per ray.

  Attributes:
    features: [batch, rays, channels] composited feature vectors.
    depth: [batch, rays] expected depth along the camera axis.
    opacity: [batch, rays] accumulated foreground opacity in [0, 1].
  """

  features: jax.Array
  depth: jax.Array
  opacity: jax.Array
