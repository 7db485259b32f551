"""The built-in synthetic 3D face data set, with ground truth.

Every identity is a parametric SDF head (``head_model``) rendered by the JAX
sphere tracer (``sphere_tracer``) from several cameras drawn from the
training pose prior (GIRAFFE's CelebA prior by default), with a fresh
expression, light and background per view. Each example carries its ground
truth: camera pose, camera-axis depth, foreground mask, world normals, the
identity id and the shape/expression/colour parameters.

It is a tensorflow-datasets builder stored as ``array_record``, so it is read
without TensorFlow::

  builder = synthetic_faces.build("/data", train_identities=256, views=8,
                                  size=64, seed=0)
  train = builder.as_data_source("train")   # len(train), train[i] -> dict
  # Later, in another process:
  builder = synthetic_faces.load_builder("/data")

Train and test identities are disjoint (test ids start at
``TEST_ID_OFFSET``), and every test identity has at least 4 views so that
single-view-in / other-views-out evaluation works. The test identities come
twice: ``test`` ("in the wild": each view with its own expression, light
and background) and ``test_clean`` (the same cameras, every view under view
0's expression, light and background, so that a perfect 3D reconstruction
of view 0 renders every other view exactly). Everything is a pure function
of the seed: the same settings give the same bytes.
"""

import dataclasses
import functools
import hashlib
import json
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow_datasets as tfds
import tqdm

from jaxface import camera as camera_lib
from jaxface.data import head_model
from jaxface.data import sphere_tracer

NAME = "synthetic_faces"
# Test identities are numbered from here so that they stay the same people
# whatever the number of training identities.
TEST_ID_OFFSET = 1_000_000
MIN_TEST_VIEWS = 4
MIN_SIZE, MAX_SIZE = 32, 256
# Rays traced per jitted call: enough to amortize dispatch, small enough for
# caches.
_RAYS_PER_BATCH = 1 << 17


class CameraPrior(NamedTuple):
  """Hashable copy of a ``camera`` config section (see ``camera.sample_poses``)."""

  azimuth_range: tuple[float, float] = (0.40278, 0.59722)
  elevation_range: tuple[float, float] = (0.4167, 0.5)
  radius_range: tuple[float, float] = (2.732, 2.732)
  fov_degrees: float = 10.0

  @classmethod
  def from_config(cls, config) -> "CameraPrior":
    if config is None:
      return cls()
    return cls(
        tuple(float(v) for v in config.azimuth_range),
        tuple(float(v) for v in config.elevation_range),
        tuple(float(v) for v in config.radius_range),
        float(config.fov_degrees))


def default_camera_config() -> ml_collections.ConfigDict:
  """GIRAFFE's CelebA pose prior: yaw +-35 deg, pitch 0..~10 deg, fov 10."""
  return ml_collections.ConfigDict(CameraPrior()._asdict())


@dataclasses.dataclass(eq=False)
class SyntheticFacesConfig(tfds.core.BuilderConfig):
  """Settings of one generated data set (its name is derived from them)."""

  train_identities: int = 64
  test_identities: int = 8
  views: int = 8
  size: int = 64
  seed: int = 0
  camera: CameraPrior = CameraPrior()
  supersample: int = 2
  num_steps: int = 64
  shadow_steps: int = 8

  @property
  def test_views(self) -> int:
    return max(self.views, MIN_TEST_VIEWS)


def make_config(*, train_identities: int = 64,
                test_identities: int | None = None, views: int = 8,
                size: int = 64, seed: int = 0,
                camera_config=None) -> SyntheticFacesConfig:
  """A config whose name encodes every setting that changes the data."""
  if test_identities is None:
    test_identities = max(2, train_identities // 8)
  if not MIN_SIZE <= size <= MAX_SIZE:
    raise ValueError(f"size must be in [{MIN_SIZE}, {MAX_SIZE}], got {size}")
  if train_identities < 0 or test_identities < 0 or views < 1:
    raise ValueError("need identities >= 0 and views >= 1")
  if train_identities + test_identities == 0:
    raise ValueError("need at least one identity")
  prior = CameraPrior.from_config(camera_config)
  name = (f"ids{train_identities}-test{test_identities}-views{views}"
          f"-size{size}-seed{seed}")
  if prior != CameraPrior():
    digest = hashlib.sha1(repr(tuple(prior)).encode()).hexdigest()[:8]
    name += f"-cam{digest}"
  settings = dict(train_identities=train_identities,
                  test_identities=test_identities, views=views, size=size,
                  seed=seed, camera=prior._asdict())
  return SyntheticFacesConfig(
      name=name, description=json.dumps(settings),
      train_identities=train_identities, test_identities=test_identities,
      views=views, size=size, seed=seed, camera=prior)


# --------------------------------------------------------------------------
# Sampling and rendering (pure functions of the seed and ids).
# --------------------------------------------------------------------------


def identity_params(seed: int, identity_ids):
  """Shape and colours of identities.

  Args:
    seed: data set seed (int or traced scalar).
    identity_ids: [batch] int global identity ids.

  Returns:
    (shape_params [batch, P], colors [batch, 4, 3]).
  """
  base = jax.random.PRNGKey(seed)
  keys = jax.vmap(
      lambda i: jax.random.fold_in(jax.random.fold_in(base, i), 0))(
          jnp.asarray(identity_ids, jnp.uint32))
  return jax.vmap(head_model.sample_identity)(keys)


def view_params(seed: int, identity_ids, view_ids, prior: CameraPrior):
  """Camera, expression and lighting of (identity, view) pairs.

  View 0 of every identity has a neutral expression.

  Args:
    seed: data set seed.
    identity_ids: [batch] int.
    view_ids: [batch] int.
    prior: camera pose prior.

  Returns:
    (camera [batch], expression [batch, E], lighting [batch]).
  """
  base = jax.random.PRNGKey(seed)

  def one(identity, view):
    key = jax.random.fold_in(jax.random.fold_in(
        jax.random.fold_in(base, identity), 1), view)
    k_pose, k_expr, k_light = jax.random.split(key, 3)
    cam = jax.tree.map(lambda a: a[0],
                       camera_lib.sample_poses(k_pose, 1, prior))
    expr = head_model.sample_expression(k_expr)
    expr = jnp.where(view == 0, 0.0, expr)
    light = jax.tree.map(lambda a: a[0],
                         sphere_tracer.sample_lighting(k_light, 1))
    return cam, expr, light

  return jax.vmap(one)(jnp.asarray(identity_ids, jnp.uint32),
                       jnp.asarray(view_ids, jnp.uint32))


def _sdf(scene, x, y, z):
  return head_model.sdf_xyz(x, y, z, scene["shape_params"],
                            scene["expression"])


def _material(scene, x, y, z):
  return head_model.material_xyz(x, y, z, scene["shape_params"],
                                 scene["expression"], scene["colors"])


def render_heads(shape_params, expression, colors, camera, lighting, size, *,
                 supersample=2, num_steps=64, shadow_steps=8):
  """Renders heads; ``sphere_tracer.render`` outputs at ``size``²."""
  scene = {"shape_params": shape_params, "expression": expression,
           "colors": colors}
  return sphere_tracer.render(
      _sdf, _material, scene, camera, lighting, size, size,
      supersample=supersample, num_steps=num_steps,
      shadow_steps=shadow_steps, box_half_size=head_model.BOX_HALF_SIZE)


@functools.partial(jax.jit, static_argnames=(
    "prior", "size", "supersample", "num_steps", "shadow_steps"))
def _render_batch(identity_ids, view_ids, look_view_ids, seed, *, prior, size,
                  supersample, num_steps, shadow_steps):
  # The camera is view_ids'; the expression, light and (light-made)
  # background are look_view_ids' (view 0 for the clean split). An array,
  # not a flag: every split runs one compiled program.
  shape_params, colors = identity_params(seed, identity_ids)
  cam, _, _ = view_params(seed, identity_ids, view_ids, prior)
  _, expression, lighting = view_params(seed, identity_ids, look_view_ids,
                                        prior)
  out = render_heads(shape_params, expression, colors, cam, lighting, size,
                     supersample=supersample, num_steps=num_steps,
                     shadow_steps=shadow_steps)
  return {
      "image": jnp.round(out["rgb"] * 255.0).astype(jnp.uint8),
      "depth": out["depth"].astype(jnp.float32),
      "mask": out["mask"].astype(jnp.uint8),
      "normals": out["normals"].astype(jnp.float16),
      "pose": {
          "yaw": cam.yaw, "pitch": cam.pitch, "radius": cam.radius,
          "fov": cam.fov, "cam2world": cam.cam2world,
      },
      "identity": identity_ids,
      "view": view_ids,
      "shape_params": shape_params,
      "expression": expression,
      "colors": colors,
      "light": {
          "direction": lighting.direction, "color": lighting.color,
          "ambient": lighting.ambient,
      },
  }


def batch_size_for(config: SyntheticFacesConfig) -> int:
  rays = (config.size * config.supersample) ** 2
  return max(1, min(64, _RAYS_PER_BATCH // rays))


def render_examples(config: SyntheticFacesConfig, identity_ids, view_ids,
                    clean: bool = False):
  """Renders (identity, view) pairs exactly as the builder stores them.

  Args:
    config: data set settings.
    identity_ids: [n] global identity ids.
    view_ids: [n] view indices.
    clean: render every view with view 0's expression, light and
      background (the ``test_clean`` split).

  Returns:
    A dict of numpy arrays with a leading [n] axis (feature names as in the
    data set, plus ``view`` and ``light``).
  """
  identity_ids = np.asarray(identity_ids, np.int64)
  view_ids = np.asarray(view_ids, np.int64)
  n = len(identity_ids)
  batch = batch_size_for(config)
  chunks = []
  for start in range(0, n, batch):
    ids = identity_ids[start:start + batch]
    views = view_ids[start:start + batch]
    pad = batch - len(ids)
    # Pad the last batch so that every call has one shape (one compile).
    ids = np.concatenate([ids, np.repeat(ids[-1:], pad)])
    views = np.concatenate([views, np.repeat(views[-1:], pad)])
    look = np.zeros_like(views) if clean else views
    out = _render_batch(
        jnp.asarray(ids, jnp.int32), jnp.asarray(views, jnp.int32),
        jnp.asarray(look, jnp.int32), jnp.uint32(config.seed),
        prior=config.camera, size=config.size,
        supersample=config.supersample, num_steps=config.num_steps,
        shadow_steps=config.shadow_steps)
    out = jax.tree.map(lambda a: np.asarray(a)[:batch - pad], out)
    chunks.append(out)
  out = jax.tree.map(lambda *a: np.concatenate(a), *chunks)
  out["identity"] = out["identity"].astype(np.int64)
  out["view"] = out["view"].astype(np.int64)
  return out


def split_ids(config: SyntheticFacesConfig, split: str):
  """(identity_ids [n], view_ids [n]) of every example of a split."""
  if split == "train":
    ids, views = np.arange(config.train_identities), config.views
  elif split in ("test", "test_clean"):
    ids = TEST_ID_OFFSET + np.arange(config.test_identities)
    views = config.test_views
  else:
    raise ValueError(f"unknown split {split!r}")
  return np.repeat(ids, views), np.tile(np.arange(views), len(ids))


# --------------------------------------------------------------------------
# The tensorflow-datasets builder.
# --------------------------------------------------------------------------


class SyntheticFaces(tfds.core.GeneratorBasedBuilder):
  """Synthetic 3D faces with pose, depth, mask and identity ground truth."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "The test_clean split."}

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls):
    # tfds looks for download checksums next to the code, which needs the
    # optional importlib_resources package; nothing is downloaded here.
    return None

  def __init__(self, *, config: SyntheticFacesConfig | None = None,
               train_identities: int = 64, test_identities: int | None = None,
               views: int = 8, size: int = 64, seed: int = 0,
               camera_config=None, progress: bool = False, **kwargs):
    """Builder for one setting (``config`` or the keyword settings)."""
    if config is None:
      config = make_config(
          train_identities=train_identities, test_identities=test_identities,
          views=views, size=size, seed=seed, camera_config=camera_config)
    self._progress = progress
    self._bar = None
    kwargs.setdefault("file_format", "array_record")
    super().__init__(config=config, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    s = self.builder_config.size
    p = head_model.NUM_SHAPE_PARAMS
    e = head_model.NUM_EXPRESSION_PARAMS
    zlib = tfds.features.Encoding.ZLIB
    tensor = lambda shape, dtype, **kw: tfds.features.Tensor(
        shape=shape, dtype=dtype, **kw)
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__.split("\n\n")[0],
        features=tfds.features.FeaturesDict({
            # Raw (zlib) tensors: tfds' PNG encoder needs TensorFlow.
            "image": tensor((s, s, 3), np.uint8, encoding=zlib),
            "depth": tensor((s, s), np.float32, encoding=zlib),
            "mask": tensor((s, s), np.uint8, encoding=zlib),
            "normals": tensor((s, s, 3), np.float16, encoding=zlib),
            "pose": {
                "yaw": tfds.features.Scalar(np.float32),
                "pitch": tfds.features.Scalar(np.float32),
                "radius": tfds.features.Scalar(np.float32),
                "fov": tfds.features.Scalar(np.float32),
                "cam2world": tensor((4, 4), np.float32),
            },
            "identity": tfds.features.Scalar(np.int64),
            "view": tfds.features.Scalar(np.int64),
            "shape_params": tensor((p,), np.float32),
            "expression": tensor((e,), np.float32),
            "colors": tensor((4, 3), np.float32),
            "light": {
                "direction": tensor((3,), np.float32),
                "color": tensor((3,), np.float32),
                "ambient": tensor((3,), np.float32),
            },
        }),
        metadata=tfds.core.MetadataDict(
            shape_param_names=list(head_model.SHAPE_NAMES),
            expression_names=list(head_model.EXPRESSION_NAMES),
            color_names=list(head_model.COLOR_NAMES),
            settings=json.loads(self.builder_config.description)),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    config = self.builder_config
    total = (config.train_identities * config.views
             + 2 * config.test_identities * config.test_views)
    self._bar = tqdm.tqdm(total=total, desc=f"Rendering {config.name}",
                          unit="img", disable=not self._progress)
    # tfds cannot write an empty split, so a split without identities is
    # left out.
    counts = {"train": config.train_identities,
              "test": config.test_identities,
              "test_clean": config.test_identities}
    return {split: self._generate_examples(split)
            for split, count in counts.items() if count > 0}

  def _generate_examples(self, split: str):
    config = self.builder_config
    identity_ids, view_ids = split_ids(config, split)
    batch = batch_size_for(config)
    for start in range(0, len(identity_ids), batch):
      out = render_examples(config, identity_ids[start:start + batch],
                            view_ids[start:start + batch],
                            clean=split == "test_clean")
      for i in range(len(out["identity"])):
        example = jax.tree.map(lambda a, i=i: a[i], out)
        key = f"{example['identity']:08d}_{example['view']:04d}"
        yield key, example
      if self._bar is not None:
        self._bar.update(len(out["identity"]))


def build(data_dir: str, *, train_identities: int = 64,
          test_identities: int | None = None, views: int = 8, size: int = 64,
          seed: int = 0, camera_config=None,
          progress: bool = True) -> SyntheticFaces:
  """Generates the data set under ``data_dir`` (no-op if already there).

  tensorflow-datasets writes into an ``incomplete.*`` directory and renames
  it only once every split is written (and deletes it on error), so an
  interrupted build is never read as a whole data set; running ``build``
  again starts afresh.

  Args:
    data_dir: root directory of tfds data sets.
    train_identities: number of training identities.
    test_identities: number of test identities; ``max(2, train // 8)`` if
      None.
    views: views per identity (test identities get at least 4).
    size: image height = width, in [32, 256].
    seed: data set seed.
    camera_config: ``camera`` ConfigDict of the pose prior; GIRAFFE's CelebA
      prior (``default_camera_config()``) if None.
    progress: show a progress bar.

  Returns:
    The prepared builder; read a split with ``builder.as_data_source(split)``.
  """
  builder = SyntheticFaces(
      data_dir=os.fspath(data_dir), train_identities=train_identities,
      test_identities=test_identities, views=views, size=size, seed=seed,
      camera_config=camera_config, progress=progress)
  # Only our own bar: tfds' per-split bars would print over it.
  tfds.display_progress_bar(False)
  try:
    builder.download_and_prepare()
  finally:
    tfds.display_progress_bar(True)
    if builder._bar is not None:  # pylint: disable=protected-access
      builder._bar.close()  # pylint: disable=protected-access
  return builder


def load_builder(data_dir: str, *, config_name: str | None = None,
                 **settings: Any) -> tfds.core.DatasetBuilder:
  """The prepared data set under ``data_dir``, for reading.

  Args:
    data_dir: the ``data_dir`` given to ``build``.
    config_name: name of the config directory; may be omitted when
      ``data_dir`` holds exactly one prepared setting.
    **settings: alternatively, the keyword settings given to ``build``
      (``train_identities``, ``views``, ``size``, ...).

  Returns:
    A builder whose ``as_data_source(split)`` reads ``train`` or ``test``.

  Raises:
    FileNotFoundError: if no (or no unique) prepared data set matches.
  """
  data_dir = os.fspath(data_dir)
  if settings:
    if config_name is not None:
      raise ValueError("give either config_name or settings, not both")
    builder = SyntheticFaces(data_dir=data_dir, **settings)
    if not builder.is_prepared():
      raise FileNotFoundError(
          f"{NAME}/{builder.builder_config.name} is not prepared in "
          f"{data_dir}; run build() first")
    return builder
  root = os.path.join(data_dir, NAME)
  version = str(SyntheticFaces.VERSION)
  names = sorted(
      n for n in (os.listdir(root) if os.path.isdir(root) else [])
      if os.path.exists(os.path.join(root, n, version, "dataset_info.json")))
  if config_name is not None:
    names = [n for n in names if n == config_name]
  if len(names) != 1:
    raise FileNotFoundError(
        f"expected one prepared {NAME} data set in {data_dir}"
        f"{' named ' + config_name if config_name else ''}, found {names}")
  return tfds.builder_from_directory(os.path.join(root, names[0], version))
