"""Photos for the demo's reconstruction step.

Writes a few held-out synthetic faces (test identities, never seen in
training; one view each) and the real photo that scikit-image ships
(``skimage.data.astronaut()``, cropped to the face) as PNG files:

  python -m jaxface.data.demo_photos --data-dir data --out runs/demo/photos
"""

import argparse
import pathlib

import imageio.v3 as iio
import numpy as np

# The astronaut's face in the 512x512 photo: (top, left, side).
ASTRONAUT_FACE = (20, 140, 180)


def astronaut_face() -> np.ndarray:
  """uint8 [180, 180, 3]: the face of ``skimage.data.astronaut()``."""
  from skimage import data  # pylint: disable=g-import-not-at-top
  top, left, side = ASTRONAUT_FACE
  return data.astronaut()[top:top + side, left:left + side]


def write_demo_photos(data_config, out, num_synthetic: int = 3) -> list[str]:
  """Writes ``num_synthetic`` test-split faces and the astronaut to ``out``."""
  from jaxface.data import input_pipeline  # pylint: disable=g-import-not-at-top
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  source = input_pipeline.make_source(data_config, "test")
  paths = []
  seen = set()
  for index in range(len(source)):
    example = source[index]
    person = int(example["identity"])
    if person in seen:
      continue
    seen.add(person)
    path = out / f"test_identity{person}_view{int(example['view'])}.png"
    iio.imwrite(path, np.asarray(example["image"]))
    paths.append(str(path))
    if len(seen) == num_synthetic:
      break
  path = out / "astronaut.png"
  iio.imwrite(path, astronaut_face())
  paths.append(str(path))
  return paths


def main():
  import ml_collections  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.ERROR)  # tfds's data-config notice
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data-dir", default="data")
  parser.add_argument("--identities", type=int, default=96)
  parser.add_argument("--test-identities", type=int, default=8)
  parser.add_argument("--views", type=int, default=8)
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  data_config = ml_collections.ConfigDict(dict(
      name="synthetic_faces", data_dir=args.data_dir,
      train_identities=args.identities, test_identities=args.test_identities,
      views=args.views, image_size=args.size, seed=args.seed))
  for path in write_demo_photos(data_config, args.out):
    print(path)


if __name__ == "__main__":
  main()
