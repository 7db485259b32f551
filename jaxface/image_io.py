"""Loading user photos for single-image reconstruction.

Photos come from phones, scanners and image editors, so they arrive in every
mode Pillow knows, carry EXIF rotations, and are sometimes not images at all.
``load_image`` turns any of them into the square uint8 RGB array the encoder
expects, or raises ``errors.DataError`` with a one-line message that names the
file. ``expand_inputs`` and ``load_images`` collect such messages instead of
raising, so one bad file does not stop a batch.

Conversion rules:
  * EXIF orientation is applied first, so the face is upright as a viewer
    shows it.
  * Transparent pixels (RGBA, LA, palette or grey images with a transparent
    colour) are composited over white (``BACKGROUND``): cut-out portraits are
    usually shown on white, and white keeps the head's silhouette visible.
  * 16-bit images (``I;16*`` and Pillow's 32-bit ``I``, which 16-bit files
    decode to) are read as 0..65535 and divided by 257, which maps 65535 to
    255 exactly; Pillow's own ``convert`` would clip everything above 255.
  * Float images (``F``) are read as 0..1 when all values lie in it, else as
    0..255; values outside are clipped.
  * Everything else (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ...) goes
    through Pillow's ``convert("RGB")``.
  * Finally the largest centred square is cropped and resized to ``size``.
"""

import os
import pathlib
from typing import Sequence, Union

import numpy as np
from PIL import Image
from PIL import ImageOps

from jaxface import errors
from jaxface.data import input_pipeline

PathLike = Union[str, os.PathLike]

# Background under transparent pixels, RGB uint8.
BACKGROUND = (255, 255, 255)

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def _one_line(error: BaseException) -> str:
  # Decoder messages sometimes span lines; the command line prints one.
  text = " ".join(str(error).split())
  return text or type(error).__name__


def _composite(rgba: np.ndarray, background=BACKGROUND) -> np.ndarray:
  """[h, w, 4] uint8 straight alpha -> [h, w, 3] uint8 over ``background``."""
  alpha = rgba[..., 3:].astype(np.float32) / 255.0
  rgb = rgba[..., :3].astype(np.float32)
  bg = np.asarray(background, np.float32)
  return np.round(rgb * alpha + bg * (1.0 - alpha)).astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
  return np.repeat(grey[..., None], 3, axis=-1)


def to_rgb(image: Image.Image, background=BACKGROUND) -> np.ndarray:
  """Converts a decoded Pillow image of any mode to RGB.

  Args:
    image: a loaded Pillow image.
    background: RGB uint8 colour placed under transparent pixels.

  Returns:
    [h, w, 3] uint8, same height and width as ``image``.
  """
  mode = image.mode
  if mode in _SIXTEEN_BIT_MODES:
    # Through numpy: Pillow's convert("L") clips instead of rescaling.
    values = np.asarray(image).astype(np.float64)
    grey = np.round(np.clip(values, 0, 65535) / 257.0).astype(np.uint8)
    return _grey_to_rgb(grey)
  if mode == "F":
    values = np.nan_to_num(np.asarray(image, np.float64), nan=0.0)
    scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
    grey = np.round(np.clip(values * scale, 0, 255)).astype(np.uint8)
    return _grey_to_rgb(grey)
  # "transparency" in info marks a transparent palette index or grey/RGB
  # colour; convert("RGBA") turns it into an alpha channel.
  if mode in _ALPHA_MODES or "transparency" in image.info:
    return _composite(np.asarray(image.convert("RGBA")), background)
  if mode != "RGB":
    image = image.convert("RGB")
  return np.asarray(image, dtype=np.uint8)


def load_image(path: PathLike, size: int,
               background=BACKGROUND) -> np.ndarray:
  """Reads a photo as a square RGB image.

  Args:
    path: an image file in any format and mode Pillow reads.
    size: side of the output in pixels.
    background: RGB uint8 colour placed under transparent pixels.

  Returns:
    [size, size, 3] uint8: the upright image's centred square, resized.

  Raises:
    errors.DataError: the file is missing, a directory, empty, not an image,
      truncated or corrupt, or has no pixels. The message names the file.
  """
  if size < 1:
    raise ValueError(f"size must be positive, got {size}")
  path = pathlib.Path(path)
  if not path.exists():
    raise errors.DataError(f"{path}: no such file")
  if path.is_dir():
    raise errors.DataError(f"{path}: is a directory, not an image file")
  try:
    if path.stat().st_size == 0:
      raise errors.DataError(f"{path}: file is empty")
    with Image.open(path) as image:
      # Decoding is lazy: load() here makes truncated or corrupt pixel data
      # fail inside this try rather than later in convert().
      image.load()
      try:
        image = ImageOps.exif_transpose(image)
      except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        # Broken EXIF metadata says nothing about the pixels, which decoded
        # fine: use them as stored rather than reject the photo.
        pass
      width, height = image.size
      if width == 0 or height == 0:
        raise errors.DataError(f"{path}: image has zero size "
                               f"({width}x{height})")
      rgb = to_rgb(image, background)
  except Image.UnidentifiedImageError as e:
    raise errors.DataError(f"{path}: not an image file (or a format Pillow "
                           "cannot read)") from e
  except Image.DecompressionBombError as e:
    raise errors.DataError(f"{path}: image too large: {_one_line(e)}") from e
  # Pillow reports broken files through several exception types: OSError
  # (truncated data, zlib), SyntaxError (broken PNG chunks), ValueError and
  # EOFError from individual plugins.
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    raise errors.DataError(
        f"{path}: cannot decode image (truncated or corrupt?): "
        f"{_one_line(e)}") from e
  return input_pipeline.center_crop_resize(rgb, size)


def _is_image_name(path: pathlib.Path) -> bool:
  # Dot files are skipped: macOS writes "._name.jpg" metadata files next to
  # photos, and they are not images.
  return (path.suffix.lower() in input_pipeline.IMAGE_SUFFIXES
          and not path.name.startswith("."))


def expand_inputs(
    paths: Sequence[PathLike]) -> tuple[list[pathlib.Path], list[str]]:
  """Expands command-line inputs to image files.

  Each input is a file or a folder. A folder stands for its image files
  (suffix in ``input_pipeline.IMAGE_SUFFIXES``, any case; not recursive),
  sorted by name. A file is kept whatever its suffix: if it is not an image,
  ``load_image`` says so. A file named twice is returned once, at its first
  place.

  Args:
    paths: files and folders, in the order the user gave them.

  Returns:
    ``(files, problems)``: the image files, and one-line messages for inputs
    that do not exist and folders without images.
  """
  files, problems, seen = [], [], set()

  def add(file):
    key = file.resolve()
    if key not in seen:
      seen.add(key)
      files.append(file)

  for raw in paths:
    path = pathlib.Path(raw)
    if path.is_dir():
      found = sorted(p for p in path.iterdir()
                     if p.is_file() and _is_image_name(p))
      if not found:
        problems.append(
            f"{path}: folder contains no images (looked for "
            f"{', '.join(input_pipeline.IMAGE_SUFFIXES)})")
      for file in found:
        add(file)
    elif path.exists():
      add(path)
    else:
      problems.append(f"{path}: no such file or folder")
  return files, problems


def load_images(
    files: Sequence[PathLike], size: int, background=BACKGROUND
) -> tuple[list[tuple[pathlib.Path, np.ndarray]], list[str]]:
  """Loads many photos, collecting failures instead of raising.

  Args:
    files: image files, e.g. from ``expand_inputs``.
    size: side of the outputs in pixels.
    background: RGB uint8 colour placed under transparent pixels.

  Returns:
    ``(images, problems)``: ``(path, [size, size, 3] uint8)`` for each file
    that loaded, in input order, and a one-line message for each that did
    not.
  """
  images, problems = [], []
  for file in files:
    path = pathlib.Path(file)
    try:
      images.append((path, load_image(path, size, background)))
    except errors.DataError as e:
      problems.append(str(e))
  return images, problems
