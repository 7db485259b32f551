"""A parametric 3D head as a signed distance field (SDF) of blended primitives.

The head is modelled in "head units" (about a decimetre each): y up, the face
looks along +z, the middle of the skull near the origin, chin at y ~ -1 and
the top of the hair at y ~ 1.3. ``sdf`` scales it into the world by
``HEAD_SCALE`` (times a per-identity size) so that the head, hair and ears
fit inside the box ``|x|, |y|, |z| <= BOX_HALF_SIZE``; everything outside
that box is cut away (the generator treats it as background). Distances are
returned in world units.

Every primitive is exact or a lower bound of the true distance and every
combination (smooth min/max, reflection ``x -> |x|``) keeps gradients of
length <= 1, so the field is 1-Lipschitz and safe for sphere tracing. Where
space is bent (the smiling mouth) or a shape is stretched, the distance is
divided by the largest stretch.

An identity is a vector of ``NUM_SHAPE_PARAMS`` shape values (see
``SHAPE_SPECS``) plus ``colors`` [4, 3] (skin, lips, hair, iris; sRGB in
[0, 1]). An expression is a vector of ``NUM_EXPRESSION_PARAMS`` values
(``EXPRESSION_SPECS``) that varies from view to view. All functions below
describe one head; ``jax.vmap`` them over a batch.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxface.data import fusion

# World units per head unit, chosen so that a GIRAFFE CelebA camera (radius
# 2.732, fov 10 degrees, half-width 0.239 at the origin) frames the head like
# an aligned CelebA crop.
HEAD_SCALE = 0.165
# Half edge of the world box that holds the whole foreground.
BOX_HALF_SIZE = 0.23

# (name, low, high) of every identity shape parameter, in head units unless
# noted. ``sample_identity`` draws them uniformly with a few correlations.
SHAPE_SPECS = (
    ("masculinity", 0.0, 1.0),  # latent that correlates jaw, brows, hair.
    ("head_scale", 0.95, 1.02),  # overall size multiplier.
    ("cranium_width", 0.66, 0.76),
    ("cranium_height", 0.80, 0.88),
    ("cranium_depth", 0.86, 0.95),
    ("face_width", 0.52, 0.63),
    ("face_fullness", 0.47, 0.58),
    ("jaw_width", 0.40, 0.58),
    ("chin_size", 0.15, 0.23),
    ("chin_drop", -0.05, 0.06),
    ("chin_forward", -0.06, 0.05),
    ("cheek_size", 0.17, 0.25),
    ("cheek_height", -0.12, 0.0),
    ("eye_spacing", 0.27, 0.33),
    ("eye_height", 0.06, 0.15),
    ("eye_size", 0.13, 0.155),
    ("eye_opening", 0.028, 0.055),
    ("eye_tilt", -0.18, 0.18),  # slope of the lid lines.
    ("brow_height", 0.17, 0.24),
    ("brow_thickness", 0.016, 0.04),
    ("brow_tilt", -0.06, 0.06),
    ("nose_length", 0.33, 0.48),
    ("nose_projection", 0.16, 0.30),
    ("nose_width", 0.09, 0.15),
    ("nose_tip", 0.075, 0.12),
    ("nose_bridge", 0.045, 0.075),
    ("mouth_height", -0.62, -0.52),
    ("mouth_width", 0.17, 0.26),
    ("upper_lip", 0.028, 0.055),
    ("lower_lip", 0.038, 0.07),
    ("ear_size", 0.85, 1.15),
    ("ear_angle", 0.1, 0.5),  # radians the ear stands off the skull.
    ("neck_width", 0.44, 0.54),
    ("hair_thickness", 0.02, 0.2),
    ("hairline_front", 0.42, 0.82),
    ("hairline_back", -0.8, -0.35),
    ("hair_recession", 0.0, 1.0),
    ("hair_length", 0.0, 1.0),  # 0: short; 1: down to the shoulders.
    ("hair_bun", 0.0, 1.0),
    ("hair_sweep", -1.0, 1.0),  # the only left-right asymmetric parameter.
    ("beard", 0.0, 1.0),
)
SHAPE_NAMES = tuple(s[0] for s in SHAPE_SPECS)
NUM_SHAPE_PARAMS = len(SHAPE_SPECS)
_SHAPE_LOW = np.array([s[1] for s in SHAPE_SPECS], np.float32)
_SHAPE_HIGH = np.array([s[2] for s in SHAPE_SPECS], np.float32)
_IDX = {name: i for i, name in enumerate(SHAPE_NAMES)}

EXPRESSION_SPECS = (
    ("mouth_open", 0.0, 1.0),
    ("smile", -0.3, 1.0),
    ("brow_raise", -0.6, 1.0),
    ("eye_close", 0.0, 0.8),
)
EXPRESSION_NAMES = tuple(s[0] for s in EXPRESSION_SPECS)
NUM_EXPRESSION_PARAMS = len(EXPRESSION_SPECS)

# Rows of the colour matrix of an identity.
COLOR_NAMES = ("skin", "lips", "hair", "iris")

# sRGB anchor colours the prior interpolates between.
_SKIN_TONES = np.array(
    [[0.98, 0.84, 0.74], [0.90, 0.72, 0.58], [0.74, 0.53, 0.38],
     [0.52, 0.35, 0.24], [0.33, 0.21, 0.14]], np.float32)
_HAIR_COLORS = np.array(
    [[0.05, 0.04, 0.035], [0.17, 0.10, 0.06], [0.36, 0.22, 0.12],
     [0.80, 0.64, 0.40], [0.62, 0.27, 0.10], [0.72, 0.72, 0.70]], np.float32)
_HAIR_PROBS_LIGHT = np.array([0.2, 0.3, 0.2, 0.15, 0.07, 0.08], np.float32)
_HAIR_PROBS_DARK = np.array([0.6, 0.3, 0.04, 0.0, 0.0, 0.06], np.float32)
_IRIS_COLORS = np.array(
    [[0.30, 0.17, 0.08], [0.16, 0.09, 0.05], [0.30, 0.48, 0.72],
     [0.32, 0.48, 0.28], [0.48, 0.38, 0.18]], np.float32)
_SCLERA = np.array([0.93, 0.91, 0.88], np.float32)
_PUPIL = np.array([0.02, 0.02, 0.02], np.float32)
_MOUTH_INSIDE = np.array([0.30, 0.07, 0.07], np.float32)
_TEETH = np.array([0.90, 0.88, 0.82], np.float32)
_BLUSH = np.array([0.05, -0.06, -0.06], np.float32)


# --------------------------------------------------------------------------
# Primitives (exact distances or 1-Lipschitz lower bounds) and combinators.
# --------------------------------------------------------------------------


# Points are (x, y, z) tuples of equal-shaped arrays rather than [..., 3]
# arrays: XLA's CPU backend vectorizes this layout many times better.


def _length(*components):
  # The epsilon keeps the gradient finite at the centre of a primitive.
  return jnp.sqrt(sum(c * c for c in components) + 1e-12)


def _sub(q, c):
  return tuple(qi - ci for qi, ci in zip(q, c))


def _dot(a, b):
  return sum(ai * bi for ai, bi in zip(a, b))


def _sphere(q, centre, radius):
  return _length(*_sub(q, centre)) - radius


def _ellipsoid(q, centre, radii):
  # |(q - c) / r| - 1 changes by at most 1 / min(r) per unit step, so
  # multiplying by min(r) gives a 1-Lipschitz lower bound of the distance.
  scaled = tuple(d / r for d, r in zip(_sub(q, centre), radii))
  smallest = jnp.minimum(jnp.minimum(radii[0], radii[1]), radii[2])
  return (_length(*scaled) - 1.0) * smallest


def _axis_projection(q, a, b):
  """Offset of q from its nearest point on segment ab, and the segment h."""
  pa, ba = _sub(q, a), _sub(b, a)
  length_sq = _dot(ba, ba)
  h = jnp.clip(_dot(pa, ba) / length_sq, 0.0, 1.0)
  return tuple(p - d * h for p, d in zip(pa, ba)), h, length_sq


def _capsule(q, a, b, radius):
  offset, _, _ = _axis_projection(q, a, b)
  return _length(*offset) - radius


def _tapered_capsule(q, a, b, radius_a, radius_b):
  """Capsule whose radius varies linearly from a to b (a lower bound)."""
  offset, h, length_sq = _axis_projection(q, a, b)
  d = _length(*offset) - (radius_a + (radius_b - radius_a) * h)
  # The radius term adds a gradient of |ra - rb| / |b - a| along the axis,
  # orthogonal to the radial one.
  slope = (radius_b - radius_a) ** 2 / length_sq
  return d / jnp.sqrt(1.0 + slope)


def _rounded_box(q, centre, half_size, radius):
  d = tuple(jnp.abs(qi - ci) - hi + radius
            for qi, ci, hi in zip(q, centre, half_size))
  outside = _length(*(jnp.maximum(di, 0.0) for di in d))
  inside = jnp.minimum(jnp.maximum(jnp.maximum(d[0], d[1]), d[2]), 0.0)
  return outside + inside - radius


def _disk(u, r, radius, half_thickness, rounding):
  """Rounded cylinder: axis coordinate ``u``, radial distance ``r``."""
  d_r = r - radius + rounding
  d_u = jnp.abs(u) - half_thickness + rounding
  outside = jnp.sqrt(jnp.maximum(d_r, 0.0) ** 2 + jnp.maximum(d_u, 0.0) ** 2)
  return outside + jnp.minimum(jnp.maximum(d_r, d_u), 0.0) - rounding


def smooth_min(a, b, k):
  """Polynomial smooth minimum; its gradient is a convex mix of a's and b's."""
  h = jnp.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
  return b + (a - b) * h - k * h * (1.0 - h)


def smooth_max(a, b, k):
  return -smooth_min(-a, -b, k)


def smooth_subtract(a, b, k):
  """Removes shape b from shape a."""
  return smooth_max(a, -b, k)


def _front_z(x, y, centre, radii):
  """z of the front surface of an ellipsoid above (x, y); centre z if none."""
  s = 1.0 - ((x - centre[0]) / radii[0]) ** 2 - ((y - centre[1]) / radii[1]) ** 2
  return centre[2] + radii[2] * jnp.sqrt(jnp.maximum(s, 0.0))


# --------------------------------------------------------------------------
# Parameters.
# --------------------------------------------------------------------------


def unpack_shape(shape_params):
  """[P] vector -> dict of named scalars."""
  return {name: shape_params[..., i] for name, i in _IDX.items()}


def unpack_expression(expression):
  """[E] vector -> dict of named scalars."""
  return {name: expression[..., i] for i, name in enumerate(EXPRESSION_NAMES)}


def sample_identity(key: jax.Array):
  """Draws one identity from the prior.

  Args:
    key: PRNG key, e.g. ``jax.random.fold_in(base_key, identity_id)``.

  Returns:
    (shape_params [P], colors [4, 3]) float32.
  """
  k_u, k_flags, k_skin, k_hair, k_iris, k_jitter = jax.random.split(key, 6)
  u = jax.random.uniform(k_u, (NUM_SHAPE_PARAMS,))
  m = u[_IDX["masculinity"]]
  # Pull a few features towards the masculinity latent so that identities
  # vary along correlated, face-like directions instead of pure noise.
  for name in ("jaw_width", "brow_thickness", "nose_width", "neck_width"):
    u = u.at[_IDX[name]].set(0.5 * u[_IDX[name]] + 0.5 * m)
  for name in ("upper_lip", "lower_lip", "eye_size"):
    u = u.at[_IDX[name]].set(0.6 * u[_IDX[name]] + 0.4 * (1.0 - m))
  flags = jax.random.uniform(k_flags, (4,))
  long_hair = flags[0] < 0.75 * (1.0 - m) + 0.03
  u = u.at[_IDX["hair_length"]].set(
      jnp.where(long_hair, 0.4 + 0.6 * u[_IDX["hair_length"]], 0.0))
  u = u.at[_IDX["hair_bun"]].set(
      jnp.where(flags[1] < 0.12, 0.6 + 0.4 * u[_IDX["hair_bun"]], 0.0))
  u = u.at[_IDX["beard"]].set(
      jnp.where(flags[2] < 0.45 * m * m, 0.3 + 0.7 * u[_IDX["beard"]], 0.0))
  u = u.at[_IDX["hair_recession"]].set(
      jnp.where(flags[3] < 0.4 * m, u[_IDX["hair_recession"]], 0.0))
  shape = _SHAPE_LOW + (_SHAPE_HIGH - _SHAPE_LOW) * u

  tone = jax.random.uniform(k_skin, ()) * (len(_SKIN_TONES) - 1)
  lo = jnp.floor(tone).astype(jnp.int32)
  hi = jnp.minimum(lo + 1, len(_SKIN_TONES) - 1)
  frac = tone - lo
  tones = jnp.asarray(_SKIN_TONES)
  skin = (1.0 - frac) * tones[lo] + frac * tones[hi]
  dark = tone / (len(_SKIN_TONES) - 1)
  hair_probs = (1.0 - dark) * _HAIR_PROBS_LIGHT + dark * _HAIR_PROBS_DARK
  hair = jnp.asarray(_HAIR_COLORS)[
      jax.random.categorical(k_hair, jnp.log(hair_probs))]
  k_iris_dark, k_iris_any = jax.random.split(k_iris)
  iris_any = jax.random.randint(k_iris_any, (), 0, len(_IRIS_COLORS))
  iris_dark = jax.random.randint(k_iris_dark, (), 0, 2)
  iris = jnp.asarray(_IRIS_COLORS)[jnp.where(dark > 0.5, iris_dark, iris_any)]
  # Mostly brightness, a little hue: per-channel noise quickly looks unreal.
  k_bright, k_hue = jax.random.split(k_jitter)
  jitter = (1.0 + 0.1 * jax.random.normal(k_bright, (3, 1))
            + 0.025 * jax.random.normal(k_hue, (3, 3)))
  skin = jnp.clip(skin * jitter[0], 0.0, 1.0)
  hair = jnp.clip(hair * jitter[1], 0.0, 1.0)
  iris = jnp.clip(iris * jitter[2], 0.0, 1.0)
  lips = skin * jnp.array([0.8, 0.5, 0.5]) + jnp.array([0.1, 0.0, 0.02])
  colors = jnp.stack([skin, lips, hair, iris]).astype(jnp.float32)
  return shape.astype(jnp.float32), colors


def symmetrize(shape_params):
  """Makes an identity left-right symmetric (mirror-invariant)."""
  return shape_params.at[..., _IDX["hair_sweep"]].set(0.0)


def neutral_expression():
  return jnp.zeros((NUM_EXPRESSION_PARAMS,), jnp.float32)


def sample_expression(key: jax.Array, neutral_prob: float = 0.3):
  """Draws one expression [E]; neutral (all zero) with ``neutral_prob``."""
  k_neutral, k_u = jax.random.split(key)
  u = jax.random.uniform(k_u, (NUM_EXPRESSION_PARAMS,))
  # Squaring makes small expressions common and extreme ones rare.
  low = np.array([s[1] for s in EXPRESSION_SPECS], np.float32)
  high = np.array([s[2] for s in EXPRESSION_SPECS], np.float32)
  mouth_eye = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
  u = mouth_eye * u * u + (1.0 - mouth_eye) * u
  expr = low + (high - low) * u
  neutral = jax.random.uniform(k_neutral, ()) < neutral_prob
  return jnp.where(neutral, 0.0, expr).astype(jnp.float32)


# --------------------------------------------------------------------------
# Geometry.
# --------------------------------------------------------------------------

# A distance for "absent" optional parts (long hair, bun): far outside.
_ABSENT = 10.0


def _head(q, shape_params, expression):
  """The head in head units.

  Args:
    q: (x, y, z) arrays of points in head units.
    shape_params: [P] identity shape.
    expression: [E] expression.

  Returns:
    (distance [...], parts): ``parts`` maps material names to [...] distances
    and holds a few per-head anchors (eye centres, mouth line) for colouring.
  """
  s = unpack_shape(shape_params)
  e = unpack_expression(expression)
  x, y, z = q
  ax = jnp.abs(x)
  # Paired features (eyes, ears, cheeks) are modelled once at x > 0 and
  # reflected, which also makes a symmetric identity exactly symmetric.
  qm = (ax, y, z)
  mouth_open, smile = e["mouth_open"], e["smile"]

  # Skull: cranium, mid-face and lower face masses, chin, jaw line, cheeks.
  cranium_c = (0.0, 0.22, -0.12)
  cranium_r = (s["cranium_width"], s["cranium_height"], s["cranium_depth"])
  face_c = (0.0, -0.08, 0.2)
  face_r = (s["face_width"], 0.7, s["face_fullness"])
  lower_c = (0.0, -0.5 - 0.04 * mouth_open, 0.14)
  lower_r = (s["jaw_width"], 0.48, 0.5)

  def surface_z(px, py):
    # Front of the unblended skull masses: anchors features to the face.
    return jnp.maximum(
        jnp.maximum(_front_z(px, py, cranium_c, cranium_r),
                    _front_z(px, py, face_c, face_r)),
        _front_z(px, py, lower_c, lower_r))

  skull = smooth_min(_ellipsoid(q, cranium_c, cranium_r),
                     _ellipsoid(q, face_c, face_r), 0.3)
  skull = smooth_min(skull, _ellipsoid(q, lower_c, lower_r),
                     0.25)
  chin_y = -0.86 + s["chin_drop"] - 0.09 * mouth_open
  chin_z = 0.62 + s["chin_forward"] - s["chin_size"]
  skull = smooth_min(
      skull, _sphere(q, (0.0, chin_y, chin_z), s["chin_size"]), 0.15)
  jaw = _capsule(qm, (s["jaw_width"], -0.42, -0.22),
                 (0.2, chin_y - 0.04, chin_z + 0.05), 0.09)
  skull = smooth_min(skull, jaw, 0.15)
  cheek_y = s["cheek_height"] + 0.04 * smile
  cheek_c = (0.36, cheek_y,
                 surface_z(0.36, cheek_y) + 0.07 - s["cheek_size"])
  skull = smooth_min(skull, _sphere(qm, cheek_c, s["cheek_size"]), 0.15)

  # Brow ridge, eye sockets, eyeballs and lids.
  ex, ey, er = s["eye_spacing"], s["eye_height"], s["eye_size"]
  ridge = _capsule(
      qm, (0.05, ey + 0.17, surface_z(0.05, ey + 0.17) - 0.05),
      (0.42, ey + 0.15, surface_z(0.42, ey + 0.15) - 0.06), 0.07)
  skull = smooth_min(skull, ridge, 0.08)
  eye_surface = surface_z(ex, ey)
  socket = _ellipsoid(qm, (ex, ey + 0.01, eye_surface + 0.06),
                      (0.17, 0.12, 0.14))
  skull = smooth_subtract(skull, socket, 0.06)
  eye_c = (ex, ey, eye_surface - 0.025 - er)
  eyeball = _sphere(qm, eye_c, er)
  skull = jnp.minimum(skull, eyeball)
  tilt = s["eye_tilt"]
  tilt_norm = jnp.sqrt(1.0 + tilt * tilt)
  close = e["eye_close"]
  upper_line = ey + s["eye_opening"] * (1.0 - 1.3 * close) + tilt * (ax - ex)
  lower_line = ey - 0.055 + 0.015 * smile + tilt * (ax - ex)
  lids = jnp.minimum(
      jnp.maximum(_sphere(qm, eye_c, er + 0.018), (upper_line - y) / tilt_norm),
      jnp.maximum(_sphere(qm, eye_c, er + 0.013), (y - lower_line) / tilt_norm))
  skull = smooth_min(skull, lids, 0.02)

  # Nose: bridge, tip, wings, nostrils.
  root_y = ey + 0.04
  tip_y = root_y - s["nose_length"]
  tip_z = surface_z(0.0, tip_y) + s["nose_projection"]
  nt = s["nose_tip"]
  bridge = _tapered_capsule(
      q, (0.0, root_y, surface_z(0.0, root_y) - 0.03),
      (0.0, tip_y + 0.05, tip_z - 0.07), s["nose_bridge"],
      1.3 * s["nose_bridge"])
  nose = smooth_min(bridge, _sphere(q, (0.0, tip_y, tip_z - nt), nt), 0.06)
  wings = _sphere(qm, (0.8 * s["nose_width"], tip_y - 0.03,
                           tip_z - nt - 0.1), 0.07)
  nose = smooth_min(nose, wings, 0.04)
  nostrils = _sphere(
      qm, (0.045 + 0.3 * (s["nose_width"] - 0.09), tip_y - 0.75 * nt,
               tip_z - nt - 0.02), 0.03)
  skull = smooth_min(skull, nose, 0.05)
  skull_open = skull  # Before nostrils: used to darken their inside.
  skull = smooth_subtract(skull, nostrils, 0.02)

  # Ears: rounded elliptic disks standing off the skull, with a hollow.
  ear_y = ey - 0.1
  rel_y = (ear_y - cranium_c[1]) / cranium_r[1]
  side_x = cranium_r[0] * jnp.sqrt(jnp.maximum(1.0 - rel_y * rel_y, 0.0))
  ear_r = 0.17 * s["ear_size"]
  angle = s["ear_angle"]
  normal = (jnp.cos(angle), 0.0, jnp.sin(angle))
  back = (jnp.sin(angle), 0.0, -jnp.cos(angle))
  ear_c = (side_x - 0.04 + back[0] * ear_r, ear_y,
           -0.08 + back[2] * ear_r)
  rel = _sub(qm, ear_c)
  u = _dot(rel, normal)
  w = _dot(rel, back)
  v = y - ear_y
  # Dividing v by > 1 stretches the disk vertically and only shrinks
  # gradients, so the distance stays a lower bound.
  ear = _disk(u, jnp.sqrt((v / 1.7) ** 2 + w * w + 1e-12), ear_r, 0.035, 0.03)
  hollow = _disk(u - 0.04, jnp.sqrt((v / 1.5) ** 2 + (w + 0.02) ** 2 + 1e-12),
                 0.62 * ear_r, 0.035, 0.02)
  ear = smooth_subtract(ear, hollow, 0.015)
  skull = smooth_min(skull, ear, 0.04)

  # Neck.
  neck = _capsule(q, (0.0, -0.45, -0.2), (0.0, -2.0, -0.12),
                  s["neck_width"])
  skull = smooth_min(skull, neck, 0.15)

  # Brows: a slight ridge, painted with hair colour.
  bh = ey + s["brow_height"] + 0.06 * e["brow_raise"]
  brow_outer_y = bh + s["brow_tilt"] + 0.01 * e["brow_raise"] - 0.01
  # Anchored a little in front of the unblended skull: the brow ridge
  # bulges the real surface forward there.
  brow = _capsule(qm, (0.13, bh, surface_z(0.13, bh) + 0.02),
                  (0.44, brow_outer_y, surface_z(0.44, brow_outer_y)),
                  s["brow_thickness"])
  skull = smooth_min(skull, brow, 0.02)

  # Mouth, in coordinates bent upwards at the corners by the smile.
  mh, mw = s["mouth_height"], s["mouth_width"]
  bend = 1.1 * smile
  xb = jnp.clip(x, -0.3, 0.3)
  qb = (ax, y - mh - bend * xb * xb, z)
  bend_stretch = jnp.sqrt(1.0 + (2.0 * 1.1 * jnp.abs(smile) * 0.3) ** 2)
  mouth_z = surface_z(0.0, mh)
  corner = (mw, 0.0, surface_z(mw, mh) - 0.015)
  upper = _tapered_capsule(qb, (0.0, 0.03, mouth_z + 0.015), corner,
                           s["upper_lip"], 0.012)
  lower = _tapered_capsule(
      qb, (0.0, -0.045 - 0.1 * mouth_open, mouth_z + 0.005), corner,
      s["lower_lip"], 0.012)
  lips = jnp.minimum(upper, lower) / bend_stretch
  slit = _rounded_box(
      qb, (0.0, -0.01 - 0.05 * mouth_open, mouth_z - 0.06),
      (0.95 * mw, 0.006 + 0.055 * mouth_open, 0.1), 0.006) / bend_stretch
  face_closed = smooth_min(skull, lips, 0.025)
  face = smooth_subtract(face_closed, slit, 0.008)

  # Hair: a shell over the cranium above a hairline, optional long hair
  # hanging behind and beside the face, optional bun.
  t = s["hair_thickness"]
  shell = _ellipsoid(
      q, (0.0, cranium_c[1] + 0.3 * t, cranium_c[2] - 0.15 * t),
      (cranium_r[0] + t, cranium_r[1] + t, cranium_r[2] + t))
  hf, hb = s["hairline_front"], s["hairline_back"]
  slope = (hf - hb) / 1.8
  recession, sweep = 0.3 * s["hair_recession"], 0.12 * s["hair_sweep"]
  hairline = hb + slope * (z + 1.0) + recession * x * x + sweep * x
  # Bound of the hairline's gradient (|x| <= 1.4 inside the box).
  grad_x = 2.8 * recession + jnp.abs(sweep)
  hairline_d = (hairline - y) / jnp.sqrt(1.0 + grad_x ** 2 + slope ** 2)
  cap = smooth_max(shell, hairline_d, 0.05)
  length = s["hair_length"]
  long_hair = _ellipsoid(
      q, (0.0, 0.1 - 0.35 * length, -0.2),
      (cranium_r[0] + t + 0.04 + 0.06 * length,
           cranium_r[1] + 0.35 * length, cranium_r[2] + t - 0.02))
  long_hair = smooth_max(long_hair, z - 0.1 + 0.15 * length, 0.05)
  long_hair = smooth_max(long_hair, hb - 1.3 * length - y, 0.05)
  hair = smooth_min(cap, jnp.where(length > 0, long_hair, _ABSENT), 0.08)
  bun = _sphere(q, (0.0, 0.8, -0.72), 0.26 * s["hair_bun"])
  hair = smooth_min(hair, jnp.where(s["hair_bun"] > 0, bun, _ABSENT), 0.06)

  distance = smooth_min(face, hair, 0.01)
  parts = {
      "skin": smooth_subtract(skull, slit, 0.008),
      "lips": smooth_subtract(lips, slit, 0.008),
      "eye": eyeball,
      "hair": hair,
      "brow": brow - 0.025,
      # Negative inside the mouth and nostrils, where the surface is the
      # wall of a cavity.
      "cavity": jnp.minimum(face_closed, skull_open),
      "eye_centre": eye_c,
      "tip_y": tip_y,
      "mouth_y": mh,
      "chin_y": chin_y,
      "cheek_centre": cheek_c,
  }
  return distance, parts


def _box(q, half_size):
  return _rounded_box(q, (0.0, 0.0, 0.0), (half_size,) * 3, 0.0)


def _scale(shape_params):
  return HEAD_SCALE * shape_params[..., _IDX["head_scale"]]


def sdf_xyz(x, y, z, shape_params, expression, clip: bool = True):
  """Signed distance to the head, in world units.

  Args:
    x: [...] world x of the points.
    y: [...] world y.
    z: [...] world z.
    shape_params: [P] identity shape.
    expression: [E] expression.
    clip: intersect with the foreground box (cuts the neck).

  Returns:
    [...] distances (negative inside).
  """
  scale = _scale(shape_params)
  distance, _ = _head((x / scale, y / scale, z / scale), shape_params,
                      expression)
  # Scaling space by 1/scale scales distances by the same factor.
  distance = distance * scale
  if clip:
    distance = jnp.maximum(distance, _box((x, y, z), BOX_HALF_SIZE))
  return distance


def sdf(points, shape_params, expression, clip: bool = True):
  """``sdf_xyz`` for [..., 3] points; returns [...] world distances."""
  return sdf_xyz(points[..., 0], points[..., 1], points[..., 2],
                 shape_params, expression, clip)


def material(points, shape_params, expression, colors):
  """``material_xyz`` for [..., 3] points; returns ([..., 3], [...])."""
  channels, spec = material_xyz(points[..., 0], points[..., 1],
                                points[..., 2], shape_params, expression,
                                colors)
  return jnp.stack(channels, axis=-1), spec


def material_xyz(x, y, z, shape_params, expression, colors):
  """Surface albedo and specular strength near the head's surface.

  Args:
    x: [...] world x of points on (or near) the surface.
    y: [...] world y.
    z: [...] world z.
    shape_params: [P] identity shape.
    expression: [E] expression.
    colors: [4, 3] sRGB skin, lips, hair and iris colours.

  Returns:
    ((red, green, blue), specular): sRGB albedo channels in [0, 1] and
    specular strength in [0, 1], each [...].
  """
  scale = _scale(shape_params)
  q = (x / scale, y / scale, z / scale)
  _, parts = _head(q, shape_params, expression)
  # Otherwise XLA recomputes the whole field in each colour expression.
  parts = fusion.materialize(parts)
  s = unpack_shape(shape_params)
  e = unpack_expression(expression)
  skin, lips, hair, iris = colors[0], colors[1], colors[2], colors[3]
  x, y, z = q

  # Skin: a blush on the cheeks, and the beard (painted, not modelled).
  qm = (jnp.abs(x), y, z)
  to_cheek = _sub(qm, parts["cheek_centre"])
  blush = jnp.exp(-_dot(to_cheek, to_cheek) / 0.03)
  # Beard: below a line from the upper lip down to the jaw angle, in front
  # of the ears and above the throat.
  beard_top = parts["tip_y"] - 0.09 - 0.45 * jnp.abs(x)
  beard = (0.85 * s["beard"]
           * jax.nn.sigmoid((beard_top - y) / 0.025)
           * jax.nn.sigmoid((z - 0.05) / 0.04)
           * jax.nn.sigmoid((y - parts["chin_y"] + 0.22) / 0.03))

  # Eyes: sclera, iris with a darker rim, pupil, by angle from the gaze.
  to_eye = _sub(qm, parts["eye_centre"])
  cos_gaze = to_eye[2] / _length(*to_eye)
  iris_w = jax.nn.sigmoid((cos_gaze - np.cos(0.52)) / 0.01)
  pupil_w = jax.nn.sigmoid((cos_gaze - np.cos(0.2)) / 0.01)
  rim = jax.nn.sigmoid((np.cos(0.42) - cos_gaze) / 0.01)

  # Hair: faint strands so that large hair areas are not flat.
  strands = 0.98 + 0.02 * jnp.sin(60.0 * jnp.abs(x) + 3.0 * jnp.sin(8.0 * y))

  # Mouth and nostril walls: dark, with upper teeth in an open mouth. Only
  # points well inside the closed face count: the outer skin has cavity ~ 0.
  inside = jax.nn.sigmoid((-parts["cavity"] - 0.008) / 0.003)
  teeth = (jax.nn.sigmoid((y - parts["mouth_y"] + 0.04) / 0.008)
           * jnp.clip(e["mouth_open"] * 4.0, 0.0, 1.0))

  # Soft assignment of each point to the part it lies on (the nearest).
  distances = [parts["skin"], parts["lips"], parts["eye"], parts["hair"],
               parts["brow"]]
  nearest = functools.reduce(jnp.minimum, distances)
  weights = [jnp.exp((nearest - d) / 0.008) for d in distances]
  total = sum(weights)
  weights = [w / total for w in weights]
  spec = sum(w * k for w, k in zip(weights, (0.12, 0.25, 0.7, 0.08, 0.05)))

  # Channel by channel: per-channel arrays vectorize better than [..., 3].
  channels = []
  for c in range(3):
    skin_c = skin[c] * (1.0 + blush * _BLUSH[c])
    skin_c = skin_c + beard * (0.75 * hair[c] - skin_c)
    eye_c = _SCLERA[c] + iris_w * (iris[c] * (1.0 - 0.5 * rim) - _SCLERA[c])
    eye_c = eye_c + pupil_w * (_PUPIL[c] - eye_c)
    brow_c = 0.8 * hair[c] + 0.2 * skin[c]
    albedo = (weights[0] * skin_c + weights[1] * lips[c] + weights[2] * eye_c
              + weights[3] * hair[c] * strands + weights[4] * brow_c)
    cavity_c = _MOUTH_INSIDE[c] + teeth * (_TEETH[c] - _MOUTH_INSIDE[c])
    albedo = albedo + inside * (cavity_c - albedo)
    channels.append(jnp.clip(albedo, 0.0, 1.0))
  return tuple(channels), spec
