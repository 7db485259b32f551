"""Training input: random-access sources -> deterministic global batches.

Batches are a pure function of (seed, step): the source is shuffled per
epoch by grain and indexed by step, so a resumed run reads exactly the
batches an uninterrupted run would have read. Each process reads only its
own shard of the data.

Sources (``config.data.name``):
  * ``synthetic_faces``: the built-in data set (``jaxface make-data``).
  * ``tfds:NAME``: any TFDS data set prepared in ``data.data_dir`` in the
    ``array_record`` format (read without TensorFlow), e.g. ``tfds:celeb_a``.
  * ``image_folder``: every image below ``data.data_dir``.
"""

import pathlib

import grain
import jax
import numpy as np
from PIL import Image

from jaxface import errors

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif",
                  ".tiff")


def center_crop_resize(image: np.ndarray, size: int) -> np.ndarray:
  """Square centre crop, then area/bicubic resize to [size, size, 3] uint8."""
  pil = Image.fromarray(image)
  if pil.mode != "RGB":
    pil = pil.convert("RGB")
  w, h = pil.size
  side = min(w, h)
  left, top = (w - side) // 2, (h - side) // 2
  pil = pil.crop((left, top, left + side, top + side))
  if side != size:
    pil = pil.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
  return np.asarray(pil, dtype=np.uint8)


class ImageFolderSource:
  """Random-access source over the image files below a directory."""

  def __init__(self, root):
    root = pathlib.Path(root)
    if not root.is_dir():
      raise errors.DataError(f"image folder {root} does not exist")
    self.paths = sorted(p for p in root.rglob("*")
                        if p.suffix.lower() in IMAGE_SUFFIXES)
    if not self.paths:
      raise errors.DataError(f"image folder {root} contains no images")

  def __len__(self):
    return len(self.paths)

  def __getitem__(self, index):
    path = self.paths[index]
    try:
      with Image.open(path) as im:
        image = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as e:
      raise errors.DataError(f"cannot read image {path}: {e}") from e
    return {"image": image}


def _synthetic_source(data_config, split):
  # Imported lazily: the builder pulls in the head model and renderer.
  from jaxface.data import synthetic_faces  # pylint: disable=g-import-not-at-top
  settings = dict(train_identities=data_config.train_identities,
                  test_identities=data_config.test_identities,
                  views=data_config.views, size=data_config.image_size,
                  seed=data_config.seed)
  try:
    builder = synthetic_faces.load_builder(data_config.data_dir, **settings)
  except ValueError as e:
    raise errors.ConfigError(f"invalid synthetic_faces data settings: {e}")
  except FileNotFoundError as e:
    raise errors.DataError(
        f"synthetic faces with these data settings are not in "
        f"{data_config.data_dir}; generate them with: jaxface make-data "
        f"--identities {settings['train_identities']} --test-identities "
        f"{settings['test_identities']} --views {settings['views']} --size "
        f"{settings['size']} --seed {settings['seed']} --data-dir "
        f"{data_config.data_dir}") from e
  return builder.as_data_source(split)


def _tfds_source(name, data_dir, split):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:  # tfds raises many types for unknown names
    raise errors.DataError(f"unknown TFDS data set {name!r}: {e}") from e
  if not builder.is_prepared():
    raise errors.DataError(
        f"TFDS data set {name!r} is not prepared in {data_dir}; prepare it "
        "with file_format='array_record'")
  return builder.as_data_source(split)


def make_source(data_config, split: str = "train"):
  """A random-access source of dicts with an ``image`` [h, w, 3] uint8."""
  name = data_config.name
  if name == "synthetic_faces":
    return _synthetic_source(data_config, split)
  if name == "image_folder":
    return ImageFolderSource(data_config.data_dir)
  if name.startswith("tfds:"):
    return _tfds_source(name[len("tfds:"):], data_config.data_dir, split)
  raise errors.ConfigError(
      f"unknown data.name {name!r}: synthetic_faces, image_folder or tfds:NAME")


def _pose(example) -> dict:
  """{"yaw": float32, "pitch": float32}: an example's camera pose label."""
  if "pose" not in example:
    raise errors.ConfigError(
        "loss.real_pose_weight needs camera pose labels; the data set has "
        "none")
  return {name: np.float32(example["pose"][name]) for name in ("yaw", "pitch")}


class IdentityPairs:
  """Two views of one identity per item, for losses across views.

  Item ``k`` is the ``k``-th (identity, first view, second view) triple,
  every ordered pair of distinct views of every identity, as
  ``{"image": [2, h, w, 3]}`` (with ``pose``, also ``"yaw"`` and
  ``"pitch"`` [2]).
  """

  def __init__(self, source, pose: bool = False):
    by_identity = {}
    for index in range(len(source)):
      example = source[index]
      if "identity" not in example:
        raise errors.ConfigError(
            "data.pairs needs identity labels; the data set has none")
      by_identity.setdefault(int(example["identity"]), []).append(index)
      if pose:
        _pose(example)  # fail here, with the reason, not in a worker
    self.source = source
    self.pose = pose
    self.pairs = [(a, b) for indices in by_identity.values()
                  for a in indices for b in indices if a != b]
    if not self.pairs:
      raise errors.DataError(
          "data.pairs needs an identity with two views; every identity "
          "has one")

  def __len__(self):
    return len(self.pairs)

  def __getitem__(self, index):
    first, second = (self.source[i] for i in self.pairs[index])
    item = {"image": np.stack([np.asarray(first["image"]),
                               np.asarray(second["image"])])}
    if self.pose:
      poses = _pose(first), _pose(second)
      item.update({name: np.stack([p[name] for p in poses])
                   for name in ("yaw", "pitch")})
    return item


def _to_rgb_size(image: np.ndarray, size: int) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  if image.shape != (size, size, 3):
    image = center_crop_resize(image, size)
  return image


class _ToTrainingExample(grain.transforms.Map):
  """Keeps the image (or pair of images) at the configured size, and with
  ``pose`` its camera pose label."""

  def __init__(self, size: int, pose: bool = False):
    self.size = size
    self.pose = pose

  def map(self, example):
    image = np.asarray(example["image"])
    if image.ndim == 4:  # a pair, whose poses IdentityPairs already stacked
      out = {"image": np.stack([_to_rgb_size(x, self.size) for x in image])}
      if self.pose:
        out.update(yaw=example["yaw"], pitch=example["pitch"])
      return out
    out = {"image": _to_rgb_size(image, self.size)}
    return {**out, **_pose(example)} if self.pose else out


class _Mirror(grain.transforms.RandomMap):
  """Flips half the examples left to right, as if seen in a mirror.

  The mirror image of a head seen from yaw ``y`` is the mirrored head seen
  from ``-y`` (``camera``'s yaw turns about the vertical axis through the
  face's plane of symmetry, and pitch is unchanged), so a flipped example's
  yaw label is negated. Both views of a pair flip together: they stay two
  views of one (mirrored) head. As EG3D's x-flip augmentation, this doubles
  the faces D, Q and the reconstruction terms see.
  """

  def random_map(self, example, rng: np.random.Generator):
    if rng.random() >= 0.5:
      return example
    out = dict(example)
    out["image"] = np.ascontiguousarray(example["image"][..., ::-1, :])
    if "yaw" in example:
      out["yaw"] = -example["yaw"]
    return out


class _FlattenPairs(grain.transforms.Map):
  """[b, 2, ...] pairs -> [2b, ...]: examples 2i and 2i+1 a pair."""

  def map(self, batch):
    return {name: value.reshape((-1,) + value.shape[2:])
            for name, value in batch.items()}


def wants_pose_labels(config) -> bool:
  """True if training reads the real images' camera poses (as EG3D's
  labelled poses): ``loss.real_pose_weight > 0``."""
  return config.loss.get("real_pose_weight", 0.0) > 0


def train_dataset(config, local_batch_size: int, *, source=None,
                  process_index: int | None = None,
                  process_count: int | None = None):
  """The infinite, shuffled, batched training set of this process.

  Every process shuffles the whole source the same way and cuts the stream
  into local batches; the global batch of step ``i`` is local batches
  ``i * P ... i * P + P - 1`` of that stream and process ``p`` reads (and
  decodes) only batch ``i * P + p``. So the global batch is the same for
  any number of processes, and a run on P processes trains on exactly the
  batches of a run on one.

  Args:
    config: run config (``data`` and ``seed`` sections).
    local_batch_size: examples per batch fed by this process.
    source: overrides ``make_source`` (tests).
    process_index, process_count: this process and how many feed the mesh
      (default: JAX's).

  Returns:
    A ``grain.MapDataset`` whose element ``i`` is the batch of step ``i``:
    dict with ``image`` uint8 [local_batch_size, size, size, 3], and where
    ``wants_pose_labels(config)``, ``yaw`` and ``pitch`` float32
    [local_batch_size] (radians, ``camera``'s convention). With
    ``data.pairs``, images ``2i`` and ``2i + 1`` are two views of one
    identity (``IdentityPairs``). With ``data.mirror``, half the examples
    (pairs) are flipped left to right and their yaw negated (``_Mirror``).
  """
  source = make_source(config.data) if source is None else source
  pairs = config.data.pairs
  pose = wants_pose_labels(config)
  if pairs:
    if local_batch_size % 2:
      raise errors.ConfigError(
          f"data.pairs needs an even batch per process, got "
          f"{local_batch_size}")
    source = IdentityPairs(source, pose)
  elif pose and len(source):
    _pose(source[0])  # fail at start, not in a worker
  per_item = 2 if pairs else 1
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  if len(source) * per_item < local_batch_size * count:
    raise errors.DataError(
        f"the data set has {len(source) * per_item} examples, fewer than one "
        f"batch of {local_batch_size * count}")
  ds = grain.MapDataset.source(source)
  ds = ds.shuffle(seed=config.data.seed + config.seed).repeat(None)
  ds = ds.map(_ToTrainingExample(config.data.image_size, pose))
  if config.data.get("mirror", False):
    # Seeded per position in the stream: batch i flips the same examples
    # however many processes read it.
    ds = ds.random_map(_Mirror(), seed=config.data.seed + config.seed)
  ds = ds.batch(local_batch_size // per_item, drop_remainder=True)
  # A map dataset is lazy: this process reads and decodes its batches only.
  ds = ds[index::count]
  return ds.map(_FlattenPairs()) if pairs else ds


def iterate_from(dataset, start_step: int, config):
  """A prefetching iterator over ``dataset`` starting at batch ``start_step``.

  Grain's lazy slicing keeps this O(1) however large ``start_step`` is.
  """
  ds = dataset.slice(slice(start_step, None))
  if config.data.num_workers > 0:
    read = grain.ReadOptions(num_threads=config.data.num_workers,
                             prefetch_buffer_size=config.data.prefetch)
    return iter(ds.to_iter_dataset(read_options=read))
  return iter(ds)
