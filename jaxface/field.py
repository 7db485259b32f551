"""Stage 3: the generative neural feature field.

Maps a 3D point ``x`` (in the object's normalised frame, the box [-1, 1]^3),
its viewing direction ``d`` and the latent codes to a density ``sigma`` and a
feature vector ``f``. As in GIRAFFE, density depends only on position and the
shape code; features also on the appearance code and the view direction.

``FeatureField`` is GIRAFFE's fully connected field (``field.kind="mlp"``);
``TriPlaneField`` an EG3D-style alternative (``field.kind="triplane"``) with
the same interface; ``BackgroundField`` a map of ray direction.
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxface import layers

# Side of the tri-plane generator's first feature map.
_PLANE_BASE = 4
# How the tri-plane generator doubles its feature maps between convolutions.
PLANE_UPSAMPLES = tuple(layers.UPSAMPLES)
# Where the shape code enters the tri-plane generator: "input" (its first
# 4x4 map only) or "film" (also a per-channel scale and shift of every
# level's convolution).
PLANE_CONDITIONINGS = ("input", "film")
# Where the appearance code enters the tri-plane field's features: "code"
# (one per-image bias of the feature layer, as in GIRAFFE) or "planes"
# (also three appearance planes, generated from both codes and read at each
# point).
APPEARANCES = ("code", "planes")


def positional_encoding(x: jax.Array, num_freqs: int) -> jax.Array:
  """Sinusoidal encoding ``[sin(2^k pi x), cos(2^k pi x)]`` for k < num_freqs.

  Args:
    x: [..., dims] coordinates (roughly in [-1, 1]).
    num_freqs: number of octaves.

  Returns:
    [..., dims * 2 * num_freqs] encoding: all sines, then all cosines, each
    octave-major (``sin(2^k pi x_d)`` at ``k * dims + d``). GIRAFFE orders
    it per octave instead (sines then cosines of octave k at
    ``2 k dims``); ``giraffe_import`` permutes its weights to match.
  """
  scales = (2.0 ** jnp.arange(num_freqs, dtype=x.dtype)) * jnp.pi
  angles = (x[..., None, :] * scales[:, None]).reshape(*x.shape[:-1], -1)
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class FeatureField(nnx.Module):
  """GIRAFFE's feature field (its ``Decoder``): an MLP with skip connections.

  GIRAFFE uses it for the object and, smaller and without skips, for its
  volumetric background.

  Shape code and encoded position enter at the input and again at each skip
  layer (which keeps deep layers aware of where they are); the appearance
  code and encoded view direction enter after the density head.
  """

  def __init__(self, *, hidden: int, num_layers: int, skips, pos_freqs: int,
               view_freqs: int, z_shape_dim: int, z_app_dim: int,
               feature_dim: int, downscale: float = 1.0, rngs: nnx.Rngs):
    pos_dim = 3 * 2 * pos_freqs
    view_dim = 3 * 2 * view_freqs
    # GIRAFFE's downscale_p_by: points (and unit view directions) are
    # divided by it before the encoding, so that sin/cos(pi p) of the
    # lowest octave is one-to-one over the box [-1.1, 1.1] instead of
    # aliasing p with p - 2.
    self.downscale = float(downscale)
    self.pos_freqs = pos_freqs
    self.view_freqs = view_freqs
    self.skips = tuple(skips)
    if any(not 0 < k < num_layers - 1 for k in self.skips):
      raise ValueError(
          f"skips {self.skips} must be inside (0, {num_layers - 1}): a skip "
          "after the last hidden layer would never be used")
    self.fc_pos = nnx.Linear(pos_dim, hidden, rngs=rngs)
    self.fc_shape = nnx.Linear(z_shape_dim, hidden, rngs=rngs)
    self.blocks = nnx.List([
        nnx.Linear(hidden, hidden, rngs=rngs) for _ in range(num_layers - 1)])
    self.skip_shape = nnx.List([
        nnx.Linear(z_shape_dim, hidden, rngs=rngs) for _ in self.skips])
    self.skip_pos = nnx.List([
        nnx.Linear(pos_dim, hidden, rngs=rngs) for _ in self.skips])
    self.density_out = nnx.Linear(hidden, 1, rngs=rngs)
    self.feature_view = nnx.Linear(hidden, hidden, rngs=rngs)
    self.fc_app = nnx.Linear(z_app_dim, hidden, rngs=rngs)
    self.fc_view = nnx.data(nnx.Linear(view_dim, hidden, rngs=rngs)
                            if view_freqs > 0 else None)
    self.feature_out = nnx.Linear(hidden, feature_dim, rngs=rngs)

  def hidden(self, points, directions, z_shape, z_app):
    """Raw density and the features' last hidden layer.

    ``features = feature_out(hidden)`` is affine, so a weighted sum of
    features over samples is ``feature_out`` of the weighted hidden sum
    (``composite``): the renderer contracts samples first, which skips the
    per-sample output layer.

    Args:
      points: [batch, ..., 3] points in the normalised object frame.
      directions: unit view directions, [batch, ..., 3] like ``points`` or
        one per ray, [batch, ..., 3] without the last axis before 3 of
        ``points`` (e.g. [batch, rays, 3] for points [batch, rays, samples,
        3]); or None.
      z_shape: [batch, z_shape_dim] shape codes.
      z_app: [batch, z_app_dim] appearance codes.

    Returns:
      (density [batch, ...] before activation, hidden [batch, ..., hidden]).
    """
    per_point = lambda x: x.reshape(x.shape[:1] + (1,) * (points.ndim - 2)
                                    + x.shape[1:])
    # Computed in the parameters' dtype (bfloat16 under
    # train.compute_dtype); the density leaves in float32.
    dtype = self.fc_pos.kernel.dtype
    z_shape, z_app = z_shape.astype(dtype), z_app.astype(dtype)
    pos = positional_encoding(points / self.downscale,
                              self.pos_freqs).astype(dtype)
    net = jax.nn.relu(self.fc_pos(pos) + per_point(self.fc_shape(z_shape)))
    skip = 0
    for i, layer in enumerate(self.blocks):
      net = jax.nn.relu(layer(net))
      if (i + 1) in self.skips and i < len(self.blocks) - 1:
        net = (net + per_point(self.skip_shape[skip](z_shape))
               + self.skip_pos[skip](pos))
        skip += 1
    density = self.density_out(net)[..., 0].astype(jnp.float32)
    net = self.feature_view(net) + per_point(self.fc_app(z_app))
    if self.fc_view is not None and directions is not None:
      # One encoding per ray when the samples of a ray share a direction.
      view = self.fc_view(positional_encoding(
          directions / self.downscale, self.view_freqs).astype(dtype))
      if view.ndim < net.ndim:
        view = jnp.expand_dims(view, -2)
      net = net + view
    return density, jax.nn.relu(net)

  def composite(self, weights, hidden):
    """``sum_s weights_s features_s`` from hidden layers, [batch, rays, f].

    Args:
      weights: [batch, rays, samples].
      hidden: [batch, rays, samples, hidden] from ``hidden``.
    """
    summed = jnp.einsum("brs,brsh->brh", weights.astype(hidden.dtype),
                        hidden, preferred_element_type=jnp.float32)
    layer = self.feature_out
    kernel = layer.kernel[...].astype(jnp.float32)
    bias = layer.bias[...].astype(jnp.float32)
    return summed @ kernel + bias * jnp.sum(weights, -1)[..., None]

  def __call__(self, points, directions, z_shape, z_app):
    """Evaluates the field.

    Args:
      points: [batch, n, 3] points in the normalised object frame.
      directions: [batch, n, 3] unit view directions (or None).
      z_shape: [batch, z_shape_dim] shape codes.
      z_app: [batch, z_app_dim] appearance codes.

    Returns:
      (density, features): [batch, n] raw density (before activation) and
      [batch, n, feature_dim] features.
    """
    density, hidden = self.hidden(points, directions, z_shape, z_app)
    return density, self.feature_out(hidden)


def sample_planes(planes: jax.Array, points: jax.Array) -> jax.Array:
  """Bilinear features of three axis-aligned planes, summed, at points.

  Args:
    planes: [3, r, r, c] the xy, xz and yz planes over the box [-1, 1]^2
      (row index: the second axis of the pair, column: the first; texel
      centres at ``linspace(-1, 1, r)``).
    points: [n, 3] points; outside the box they read the nearest edge.

  Returns:
    [n, c] the sum of the three planes' interpolated features.
  """
  size = planes.shape[1]
  flat = planes.reshape(3, size * size, -1)
  total = 0.0
  for plane, (u, v) in enumerate(((0, 1), (0, 2), (1, 2))):
    grid = (jnp.stack([points[:, u], points[:, v]], -1) + 1.0) * 0.5
    grid = jnp.clip(grid * (size - 1), 0.0, size - 1.0)
    low = jnp.minimum(jnp.floor(grid), size - 2.0)
    frac = grid - low
    col, row = low[:, 0].astype(jnp.int32), low[:, 1].astype(jnp.int32)
    texel = lambda r, c, p=plane: flat[p][r * size + c]
    fx, fy = frac[:, :1], frac[:, 1:]
    total = total + ((texel(row, col) * (1 - fx) + texel(row, col + 1) * fx)
                     * (1 - fy)
                     + (texel(row + 1, col) * (1 - fx)
                        + texel(row + 1, col + 1) * fx) * fy)
  return total


def _plane_levels(plane_size: int) -> int:
  """Number of doubling convs from the 4x4 base map to ``plane_size``."""
  levels = int(round(math.log2(max(plane_size, 1) / _PLANE_BASE)))
  if plane_size < _PLANE_BASE or _PLANE_BASE * 2 ** levels != plane_size:
    raise ValueError(f"field.plane_size {plane_size} must be "
                     f"{_PLANE_BASE} times a power of two")
  return levels


def _plane_layers(code_dim: int, width: int, channels: int, levels: int,
                  rngs: nnx.Rngs):
  """A plane generator's layers, made in this order: (fc, convs, to_planes).

  fc maps the code to the first [4, 4, width] map, each level's 3x3 conv
  follows a 2x upsampling, and a 1x1 conv ends at 3 * channels.
  """
  fc = nnx.Linear(code_dim, _PLANE_BASE * _PLANE_BASE * width, rngs=rngs)
  convs = nnx.List([layers.Conv(width, width, 3, padding=1, rngs=rngs)
                    for _ in range(levels)])
  to_planes = layers.Conv(width, 3 * channels, 1, rngs=rngs)
  return fc, convs, to_planes


def _generate_planes(code, fc, convs, films, to_planes, *, width: int,
                     upsample: str) -> jax.Array:
  """A 2D conv generator's three planes from a code.

  Args:
    code: [batch, code_dim].
    fc: linear map of the code to the first [4, 4, width] map.
    convs: one 3x3 conv per level, each after a 2x upsampling.
    films: None, or per level a linear map of the code to [scale, shift].
    to_planes: 1x1 conv to 3 * channels.
    width: the generator's channels.
    upsample: a name in ``layers.UPSAMPLES``.

  Returns:
    [batch, 3, size, size, channels] the xy, xz and yz planes.
  """
  net = fc(code).reshape(code.shape[0], _PLANE_BASE, _PLANE_BASE, width)
  for level, conv in enumerate(convs):
    net = conv(layers.UPSAMPLES[upsample](net))
    if films is not None:
      scale, shift = jnp.split(films[level](code), 2, -1)
      net = net * (1.0 + scale[:, None, None]) + shift[:, None, None]
    net = jax.nn.leaky_relu(net, 0.2)
  planes = to_planes(net)
  b, r, _, c3 = planes.shape
  return planes.reshape(b, r, r, 3, c3 // 3).transpose(0, 3, 1, 2, 4)


class PlaneGenerator(nnx.Module):
  """Three feature planes from a code: [batch, code_dim] -> [b, 3, r, r, c].

  The same conv stack as ``TriPlaneField``'s own (shape) generator, as a
  module of its own: the tri-plane field's appearance planes.
  """

  def __init__(self, *, code_dim: int, plane_size: int, plane_channels: int,
               plane_width: int, upsample: str, film: bool,
               rngs: nnx.Rngs):
    levels = _plane_levels(plane_size)
    self.width = plane_width
    self.upsample = upsample
    self.fc, self.convs, self.to_planes = _plane_layers(
        code_dim, plane_width, plane_channels, levels, rngs)
    self.films = nnx.data(
        nnx.List([nnx.Linear(code_dim, 2 * plane_width, rngs=rngs)
                  for _ in range(levels)]) if film else None)

  def __call__(self, code: jax.Array) -> jax.Array:
    return _generate_planes(code, self.fc, self.convs, self.films,
                            self.to_planes, width=self.width,
                            upsample=self.upsample)


class TriPlaneField(nnx.Module):
  """An EG3D-style tri-plane field with ``FeatureField``'s interface.

  A 2D convolutional generator turns the shape code into three axis-aligned
  feature planes over the box (once per image); a point reads the three
  planes bilinearly, sums them and a small MLP decodes density and
  features. Per sample this is three bilinear reads and two small layers
  instead of the MLP field's deep stack, and the planes hold detail at
  their own resolution rather than in high positional-encoding octaves
  (which alias between rays). As in GIRAFFE, density depends only on
  position and the shape code; the appearance code and view direction
  enter after the density head.

  Departures from EG3D (NVlabs/eg3d, ``training/triplane.py``): its planes
  come from a StyleGAN2 backbone at 256x256 and one latent; here a plain
  upsampling conv stack makes them from the shape code alone. EG3D
  averages the three planes' features (here summed: the same up to
  ``fc_in``'s scale) and decodes them with one softplus layer of 64 units
  into density and colour, without the view direction.

  ``plane_upsample`` doubles the maps between convolutions: "nearest"
  repeats each texel 2x2 (the original choice), so a 3x3 conv is all that
  smooths each level's blocks; "bilinear" interpolates, so no level leaves
  a block grid in the planes.

  ``plane_conditioning="film"`` lets the shape code act on every level, as
  the styles of EG3D's StyleGAN2 backbone do: each level's conv output is
  scaled by ``1 + gamma(z_shape)`` and shifted by ``beta(z_shape)`` per
  channel (FiLM; a linear map of the code per level), before its
  activation. With "input" (the original) the code enters only as the
  first 4x4 map, and finer levels can only elaborate what it set there.
  StyleGAN2 instead scales each conv's input channels by the style (in
  its weights) and normalises the result (demodulation); FiLM scales the
  output channels, unnormalised: a simpler relative, not the same
  operation. Density still depends on the shape code alone.

  ``appearance="planes"`` gives appearance a place in space: a second
  generator (``PlaneGenerator``, conditioned as the first) makes three
  appearance planes from both codes; a point reads them with the shape
  planes (one read of both) and they enter the feature layer beside the
  per-image appearance bias. With "code" (the original, GIRAFFE's) the
  appearance code is that bias alone, so every colour that varies over the
  head must come from the shape planes. EG3D has one set of planes from one
  latent for density and colour; here density still reads the shape planes
  only, so it depends on the shape code alone.
  """

  def __init__(self, *, plane_size: int, plane_channels: int,
               plane_width: int, hidden: int, view_freqs: int,
               z_shape_dim: int, z_app_dim: int, feature_dim: int,
               rngs: nnx.Rngs, plane_upsample: str = "nearest",
               plane_conditioning: str = "input", appearance: str = "code"):
    levels = _plane_levels(plane_size)
    if plane_upsample not in PLANE_UPSAMPLES:
      raise ValueError(f"unknown field.plane_upsample {plane_upsample!r}; "
                       f"one of {list(PLANE_UPSAMPLES)}")
    if plane_conditioning not in PLANE_CONDITIONINGS:
      raise ValueError(f"unknown field.plane_conditioning "
                       f"{plane_conditioning!r}; one of "
                       f"{list(PLANE_CONDITIONINGS)}")
    if appearance not in APPEARANCES:
      raise ValueError(f"unknown field.appearance {appearance!r}; one of "
                       f"{list(APPEARANCES)}")
    self.plane_upsample = plane_upsample
    self.plane_width = plane_width
    self.view_freqs = view_freqs
    self.fc_planes, self.plane_convs, self.to_planes = _plane_layers(
        z_shape_dim, plane_width, plane_channels, levels, rngs)
    self.fc_in = nnx.Linear(plane_channels, hidden, rngs=rngs)
    self.density_out = nnx.Linear(hidden, 1, rngs=rngs)
    self.feature_view = nnx.Linear(hidden, hidden, rngs=rngs)
    self.fc_app = nnx.Linear(z_app_dim, hidden, rngs=rngs)
    self.fc_view = nnx.data(
        nnx.Linear(3 * 2 * view_freqs, hidden, rngs=rngs)
        if view_freqs > 0 else None)
    self.feature_out = nnx.Linear(hidden, feature_dim, rngs=rngs)
    # Per level, [scale, shift] from the shape code, made last so that the
    # other layers draw the same initial weights as with "input"; zero
    # biases, so a zero code leaves each level as "input" would.
    self.plane_films = nnx.data(
        nnx.List([nnx.Linear(z_shape_dim, 2 * plane_width, rngs=rngs)
                  for _ in range(levels)])
        if plane_conditioning == "film" else None)
    # Made after every other layer, for the same reason as the FiLM layers.
    self.app_planes = nnx.data(None)
    self.fc_app_planes = nnx.data(None)
    if appearance == "planes":
      self.app_planes = PlaneGenerator(
          code_dim=z_shape_dim + z_app_dim, plane_size=plane_size,
          plane_channels=plane_channels, plane_width=plane_width,
          upsample=plane_upsample, film=plane_conditioning == "film",
          rngs=rngs)
      self.fc_app_planes = nnx.Linear(plane_channels, hidden, rngs=rngs)

  def planes(self, z_shape: jax.Array) -> jax.Array:
    """[batch, z_shape_dim] -> [batch, 3, plane_size, plane_size, c]."""
    return _generate_planes(z_shape, self.fc_planes, self.plane_convs,
                            self.plane_films, self.to_planes,
                            width=self.plane_width,
                            upsample=self.plane_upsample)

  def hidden(self, points, directions, z_shape, z_app):
    """As ``FeatureField.hidden`` (same arguments and results)."""
    dtype = self.fc_in.kernel.dtype
    z_shape, z_app = z_shape.astype(dtype), z_app.astype(dtype)
    per_point = lambda x: x.reshape(x.shape[:1] + (1,) * (points.ndim - 2)
                                    + x.shape[1:])
    planes = self.planes(z_shape)
    channels = planes.shape[-1]
    if self.app_planes is not None:
      # One read of both sets: the interpolation weights are the same.
      codes = jnp.concatenate([z_shape, z_app], axis=-1)
      planes = jnp.concatenate([planes, self.app_planes(codes)], axis=-1)
    flat = points.reshape(points.shape[0], -1, 3).astype(dtype)
    read = jax.vmap(sample_planes)(planes, flat)
    read = read.reshape(*points.shape[:-1], read.shape[-1])
    net = jax.nn.relu(self.fc_in(read[..., :channels]))
    density = self.density_out(net)[..., 0].astype(jnp.float32)
    net = self.feature_view(net) + per_point(self.fc_app(z_app))
    if self.app_planes is not None:
      net = net + self.fc_app_planes(read[..., channels:])
    if self.fc_view is not None and directions is not None:
      view = self.fc_view(positional_encoding(
          directions, self.view_freqs).astype(dtype))
      if view.ndim < net.ndim:
        view = jnp.expand_dims(view, -2)
      net = net + view
    return density, jax.nn.relu(net)

  composite = FeatureField.composite

  def __call__(self, points, directions, z_shape, z_app):
    """As ``FeatureField.__call__``."""
    density, hidden = self.hidden(points, directions, z_shape, z_app)
    return density, self.feature_out(hidden)


class BackgroundField(nnx.Module):
  """Background features as a function of ray direction and background codes.

  jaxface's cheap alternative to GIRAFFE's volumetric background (a second
  ``FeatureField`` evaluated at every sample): a learned environment map,
  evaluated once per ray and composited behind the object. It needs no
  samples behind the object, so it also serves renderers that sample only
  inside the object's box.
  """

  def __init__(self, *, hidden: int, num_layers: int, view_freqs: int,
               z_shape_dim: int, z_app_dim: int, feature_dim: int,
               rngs: nnx.Rngs):
    self.view_freqs = view_freqs
    self.fc_dir = nnx.Linear(3 * 2 * view_freqs, hidden, rngs=rngs)
    self.fc_z = nnx.Linear(z_shape_dim + z_app_dim, hidden, rngs=rngs)
    self.blocks = nnx.List([
        nnx.Linear(hidden, hidden, rngs=rngs) for _ in range(num_layers - 1)])
    self.feature_out = nnx.Linear(hidden, feature_dim, rngs=rngs)

  def __call__(self, directions, z_shape, z_app):
    """Background features.

    Args:
      directions: [batch, rays, 3] unit ray directions.
      z_shape: [batch, z_bg_shape_dim].
      z_app: [batch, z_bg_app_dim].

    Returns:
      [batch, rays, feature_dim] features.
    """
    dtype = self.fc_dir.kernel.dtype
    codes = jnp.concatenate([z_shape, z_app], axis=-1).astype(dtype)
    net = self.fc_dir(positional_encoding(directions,
                                          self.view_freqs).astype(dtype))
    net = jax.nn.relu(net + self.fc_z(codes)[:, None])
    for layer in self.blocks:
      net = jax.nn.relu(layer(net))
    return self.feature_out(net).astype(jnp.float32)
