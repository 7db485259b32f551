"""Every dataclass passed between stages (all are JAX pytrees).

In data-flow order: ``Camera`` (stage 1) -> ``Rays`` (2) -> ``Renderings``
(4) -> ``GeneratorOutput`` (5), with ``Latents`` the generator's codes;
``Encoding`` is Q's reading of an image and ``BranchRenders`` what the
identity branch renders from it; ``Estimate`` is a reconstruction,
``HeldOut`` the ground truth it is scored against, and ``Networks`` the
trained networks that inference runs.
"""

from typing import Any

import flax.struct
import jax
from flax import nnx


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
    depth: [batch, rays] expected depth along the camera axis (the
      transparent remainder of a ray counts at its far end, as in GIRAFFE).
    opacity: [batch, rays] accumulated foreground opacity in [0, 1].
    surface_depth: [batch, rays] expected camera-axis depth of the visible
      matter alone (``depth`` without the far-end remainder, divided by the
      opacity): where the renderer sees the surface. Meaningless where the
      opacity is near 0.
  """

  features: jax.Array
  depth: jax.Array
  opacity: jax.Array
  surface_depth: jax.Array


@flax.struct.dataclass
class Latents:
  """The generator's latent codes, each [batch, dim]."""

  z_shape: jax.Array
  z_app: jax.Array
  z_bg_shape: jax.Array
  z_bg_app: jax.Array


@flax.struct.dataclass
class GeneratorOutput:
  """What one render produces.

  Attributes:
    images: [batch, size, size, 3] RGB in [0, 1].
    features: [batch, h, w, feature_dim] volume-rendered feature image.
    depth: [batch, h, w] expected depth along the camera axis
      (``Renderings.depth``).
    opacity: [batch, h, w] foreground opacity.
    surface_depth: [batch, h, w] depth of the visible matter
      (``Renderings.surface_depth``).
  """

  images: jax.Array
  features: jax.Array
  depth: jax.Array
  opacity: jax.Array
  surface_depth: jax.Array


@flax.struct.dataclass
class Encoding:
  """Q's output for a batch of images.

  Attributes:
    mean: ``Latents`` of posterior means, each [b, dim].
    logvar: ``Latents`` of posterior log-variances, each [b, dim].
    yaw: [b] radians.
    pitch: [b] radians.
  """

  mean: Latents
  logvar: Latents
  yaw: jax.Array
  pitch: jax.Array


@flax.struct.dataclass
class BranchRenders:
  """The identity branch's renders of Q's codes for a batch of real images.

  Attributes:
    encoding: Q's ``Encoding`` of the real images, batch b.
    recon: [b, s, s, 3] renders at Q's pose, in [-1, 1].
    novel: [b, s, s, 3] renders at random prior poses, in [-1, 1] (None
      unless the identity-random or recon-GAN term is on).
    recon_features: [b, h, h, c] feature images of ``recon``.
    novel_features: [b, h, h, c] feature images of ``novel`` (or None).
    recon_opacity: [b, h, h] foreground opacity of ``recon``.
    swap: [b, s, s, 3] renders of each image's pair partner's shape code
      with its own other codes at its own Q pose, in [-1, 1] (None unless
      the cross-view terms are on).
    swap_features: [b, h, h, c] feature images of ``swap`` (or None).
  """

  encoding: Encoding
  recon: jax.Array
  novel: jax.Array | None
  recon_features: jax.Array
  novel_features: jax.Array | None
  recon_opacity: jax.Array
  swap: jax.Array | None = None
  swap_features: jax.Array | None = None


@flax.struct.dataclass
class Estimate:
  """What reconstruction recovers for a batch of images.

  Attributes:
    latents: ``Latents``, each [b, dim].
    yaw: [b] radians.
    pitch: [b] radians.
  """

  latents: Latents
  yaw: jax.Array
  pitch: jax.Array


@flax.struct.dataclass
class HeldOut:
  """Ground truth of ``n`` test identities, ``v`` views each.

  View index 0 on axis 1 is the input view (the data set's view 0); the
  others are the novel views. Depth is camera-axis depth, like the
  generator's, and 0 on the background.

  Attributes:
    images: uint8 [n, v, s, s, 3].
    depth: float32 [n, v, s, s].
    mask: bool [n, v, s, s], the head's pixels.
    yaw: float32 [n, v] radians.
    pitch: float32 [n, v] radians.
    radius: float32 [n, v].
    fov: float32 [n, v] full field of view in radians.
    identity: int64 [n] global identity ids.
    shape_params: float32 [n, p] the heads' shape parameters.
    expression: float32 [n, v, e] each view's expression.
  """

  images: jax.Array
  depth: jax.Array
  mask: jax.Array
  yaw: jax.Array
  pitch: jax.Array
  radius: jax.Array
  fov: jax.Array
  identity: jax.Array
  shape_params: jax.Array
  expression: jax.Array

  @property
  def num_identities(self) -> int:
    return self.yaw.shape[0]

  @property
  def num_views(self) -> int:
    return self.yaw.shape[1]


def _static(**kwargs):
  return flax.struct.field(pytree_node=False, **kwargs)


@flax.struct.dataclass
class Networks:
  """The trained networks inference runs, as (static graph, parameters).

  A run trained without the identity branch has no Q; E1 exists when an
  identity loss was on, E2 when a loss read it. Parameters are pure dicts
  (``nnx.to_pure_dict``); ``nnx.merge(graphdef, params)`` gives a module.

  Attributes:
    g_params: the generator's EMA weights.
    q_params: Q, the latent/pose encoder, or None.
    e1_params: E1, the feature encoder, or None.
    e2_params: E2, the frozen face-recognition network, or None.
    g_graphdef, q_graphdef, e1_graphdef, e2_graphdef: their graphs.
  """

  g_params: Any
  q_params: Any = None
  e1_params: Any = None
  e2_params: Any = None
  g_graphdef: nnx.GraphDef = _static(default=None)
  q_graphdef: nnx.GraphDef = _static(default=None)
  e1_graphdef: nnx.GraphDef = _static(default=None)
  e2_graphdef: nnx.GraphDef = _static(default=None)

  def generator(self):
    return nnx.merge(self.g_graphdef, self.g_params)

  def q(self):
    return nnx.merge(self.q_graphdef, self.q_params)

  def e1(self):
    return nnx.merge(self.e1_graphdef, self.e1_params)
