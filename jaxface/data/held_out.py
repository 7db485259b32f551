"""The held-out test identities as one array batch, for evaluation.

The synthetic test splits hold identities never seen in training, each
rendered from several cameras with ground-truth pose, depth and head mask.
``load`` regroups a split's examples by identity, with the input view first.
"""

import numpy as np

from jaxface import errors
from jaxface import structs
from jaxface.data import input_pipeline

# The view every identity is reconstructed from; the others are novel views.
INPUT_VIEW = 0


# The held-out sets: {name: split}. "clean": every view under the input
# view's expression, light and background, so only 3D is scored; "wild":
# each view with its own, as photos come.
SETS = {"clean": "test_clean", "wild": "test"}


def widen(config, test_identities: int):
  """Points ``config`` (in place) at its data built with more test identities.

  The synthetic builder renders an identity from its id and the seed alone,
  so the data set built with ``test_identities`` has the same training
  identities (and mean training image) and the run's own test identities
  first (``make-data --test-identities``): a larger sample of held-out
  faces for the same run.

  Raises:
    errors.ConfigError: fewer than one identity.
  """
  if test_identities < 1:
    raise errors.ConfigError(
        f"--test-identities must be at least 1, got {test_identities}")
  config.data.test_identities = test_identities


def load(data_config, num_identities: int | None = None,
         held_out_set: str = "clean") -> structs.HeldOut:
  """Reads a held-out set into a ``HeldOut`` (host numpy arrays).

  Args:
    data_config: the run's ``data`` section (``synthetic_faces``).
    num_identities: the first (lowest-id) test identities to keep; all if
      None, at most as many as the split holds.
    held_out_set: a key of ``SETS``.

  Returns:
    A ``structs.HeldOut`` ordered by identity id, views by view index.

  Raises:
    errors.ConfigError: a data set that is not ``synthetic_faces``, images
      of another size than ``data.image_size``, or ``num_identities < 1``.
    errors.DataError: a test split without identities or whose identities
      lack the input view or another view.
  """
  if data_config.name != "synthetic_faces":
    raise errors.ConfigError(
        f"evaluation needs ground-truth pose and depth: data.name must be "
        f"synthetic_faces, got {data_config.name!r}")
  if num_identities is not None and num_identities < 1:
    raise errors.ConfigError(
        f"need at least one identity to evaluate, got {num_identities}")
  if data_config.test_identities < 1:
    raise errors.DataError("the data set has no test identities")
  if held_out_set not in SETS:
    raise errors.ConfigError(f"unknown held-out set {held_out_set!r}; one "
                             f"of {list(SETS)}")
  source = input_pipeline.make_source(data_config, SETS[held_out_set])
  # The builder stores examples in hash order: regroup them by identity.
  by_identity = {}
  for i in range(len(source)):
    example = source[i]
    views = by_identity.setdefault(int(example["identity"]), {})
    views[int(example["view"])] = example
  ids = sorted(by_identity)[:num_identities]
  view_ids = sorted(by_identity[ids[0]])
  for i in ids:
    if sorted(by_identity[i]) != view_ids:
      raise errors.DataError(
          f"test identities {ids[0]} and {i} have different views")
  if INPUT_VIEW not in view_ids or len(view_ids) < 2:
    raise errors.DataError(
        f"test identities need view {INPUT_VIEW} and another view, have "
        f"{view_ids}")
  # The input view first, the novel views after it.
  view_ids = [INPUT_VIEW] + [v for v in view_ids if v != INPUT_VIEW]
  size = data_config.image_size
  shape = np.shape(by_identity[ids[0]][INPUT_VIEW]["image"])
  if shape != (size, size, 3):
    raise errors.ConfigError(
        f"test images are {shape}, the model makes ({size}, {size}, 3)")

  def gather(get, dtype):
    return np.asarray([[get(by_identity[i][v]) for v in view_ids]
                       for i in ids], dtype)

  return structs.HeldOut(
      images=gather(lambda e: e["image"], np.uint8),
      depth=gather(lambda e: e["depth"], np.float32),
      mask=gather(lambda e: e["mask"], bool),
      yaw=gather(lambda e: e["pose"]["yaw"], np.float32),
      pitch=gather(lambda e: e["pose"]["pitch"], np.float32),
      radius=gather(lambda e: e["pose"]["radius"], np.float32),
      fov=gather(lambda e: e["pose"]["fov"], np.float32),
      identity=np.asarray(ids, np.int64),
      shape_params=np.asarray([by_identity[i][INPUT_VIEW]["shape_params"]
                               for i in ids], np.float32),
      expression=gather(lambda e: e["expression"], np.float32))
