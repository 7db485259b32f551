"""Stage 3: the generative neural feature field (fully connected).

Maps a 3D point ``x`` (in the object's normalised frame, the box [-1, 1]^3),
its viewing direction ``d`` and the latent codes to a density ``sigma`` and a
feature vector ``f``. As in GIRAFFE, density depends only on position and the
shape code; features also on the appearance code and the view direction.
"""

import jax
import jax.numpy as jnp
from flax import nnx


def positional_encoding(x: jax.Array, num_freqs: int) -> jax.Array:
  """Sinusoidal encoding ``[sin(2^k pi x), cos(2^k pi x)]`` for k < num_freqs.

  Args:
    x: [..., dims] coordinates (roughly in [-1, 1]).
    num_freqs: number of octaves.

  Returns:
    [..., dims * 2 * num_freqs] encoding.
  """
  scales = (2.0 ** jnp.arange(num_freqs, dtype=x.dtype)) * jnp.pi
  angles = (x[..., None, :] * scales[:, None]).reshape(*x.shape[:-1], -1)
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class FeatureField(nnx.Module):
  """GIRAFFE's object feature field: an MLP with a skip connection.

  Shape code and encoded position enter at the input and again at each skip
  layer (which keeps deep layers aware of where they are); the appearance
  code and encoded view direction enter after the density head.
  """

  def __init__(self, *, hidden: int, num_layers: int, skips, pos_freqs: int,
               view_freqs: int, z_shape_dim: int, z_app_dim: int,
               feature_dim: int, rngs: nnx.Rngs):
    pos_dim = 3 * 2 * pos_freqs
    view_dim = 3 * 2 * view_freqs
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
    pos = positional_encoding(points, self.pos_freqs)
    shape_in = self.fc_shape(z_shape)[:, None]
    net = jax.nn.relu(self.fc_pos(pos) + shape_in)
    skip = 0
    for i, layer in enumerate(self.blocks):
      net = jax.nn.relu(layer(net))
      if (i + 1) in self.skips and i < len(self.blocks) - 1:
        net = (net + self.skip_shape[skip](z_shape)[:, None]
               + self.skip_pos[skip](pos))
        skip += 1
    density = self.density_out(net)[..., 0]
    net = self.feature_view(net) + self.fc_app(z_app)[:, None]
    if self.fc_view is not None and directions is not None:
      net = net + self.fc_view(positional_encoding(directions, self.view_freqs))
    features = self.feature_out(jax.nn.relu(net))
    return density, features


class BackgroundField(nnx.Module):
  """Background features as a function of ray direction and background codes.

  GIRAFFE renders the background as a second field whose last sample has
  infinite density, i.e. an opaque shell behind the object. We evaluate that
  shell once per ray (a learned environment map) and composite it behind the
  object: the same picture at a fraction of the cost.
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
    codes = jnp.concatenate([z_shape, z_app], axis=-1)
    net = self.fc_dir(positional_encoding(directions, self.view_freqs))
    net = jax.nn.relu(net + self.fc_z(codes)[:, None])
    for layer in self.blocks:
      net = jax.nn.relu(layer(net))
    return self.feature_out(net)
