"""Tests for loading user photos (jaxface.image_io)."""

import pathlib

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
from PIL import Image

from jaxface import errors
from jaxface import image_io

_RED = (255, 0, 0)
_BLUE = (0, 0, 255)


def _halves(height, width):
  """[height, width, 3] uint8: red top half, blue bottom half."""
  image = np.empty((height, width, 3), np.uint8)
  image[:height // 2] = _RED
  image[height // 2:] = _BLUE
  return image


def _palette_image(index: np.ndarray, palette: np.ndarray) -> Image.Image:
  """A "P" image with [h, w] uint8 ``index`` into [n, 3] uint8 ``palette``."""
  image = Image.frombytes("P", index.shape[::-1], index.tobytes())
  image.putpalette(palette.ravel().tolist())
  return image


def _save(image: Image.Image, path, **kwargs) -> pathlib.Path:
  image.save(path, **kwargs)
  return pathlib.Path(path)


class ModeConversionTest(parameterized.TestCase):
  """Each Pillow mode reaches RGB with the colours it shows in a viewer."""

  def setUp(self):
    super().setUp()
    self.dir = pathlib.Path(self.create_tempdir().full_path)

  def test_rgb_png_is_unchanged_at_its_own_size(self):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path = _save(Image.fromarray(pixels), self.dir / "rgb.png")
    np.testing.assert_array_equal(image_io.load_image(path, 16), pixels)

  def test_exif_orientation_6_is_applied(self):
    # Stored landscape, red on top; orientation 6 says "rotate 90 degrees
    # clockwise to display", which puts the red half on the right.
    stored = _halves(20, 40)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(stored), self.dir / "rotated.jpg",
                 exif=exif, quality=95)
    out = image_io.load_image(path, 20).astype(np.int32)
    # Independent expectation: rotate clockwise with numpy, then take the
    # centred 20x20 square of the 40x20 portrait.
    expected = np.rot90(stored, k=-1)[10:30].astype(np.int32)
    self.assertTrue(np.all(expected[:, -1] == _RED))  # red on the right
    self.assertLess(np.abs(out - expected).mean(), 8)
    self.assertGreater(out[:, 12:, 0].mean(), 200)
    self.assertGreater(out[:, :8, 2].mean(), 200)

  def test_image_without_exif_is_not_rotated(self):
    stored = _halves(20, 40)
    path = _save(Image.fromarray(stored), self.dir / "plain.png")
    np.testing.assert_array_equal(image_io.load_image(path, 20),
                                  stored[:, 10:30])

  def test_grey(self):
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = _save(Image.fromarray(grey), self.dir / "grey.png")
    out = image_io.load_image(path, 16)
    for channel in range(3):
      np.testing.assert_array_equal(out[..., channel], grey)

  def test_one_bit(self):
    checker = (np.indices((8, 8)).sum(0) % 2).astype(bool)
    path = _save(Image.fromarray(checker).convert("1"), self.dir / "bw.png")
    out = image_io.load_image(path, 8)
    np.testing.assert_array_equal(out, np.where(checker[..., None], 255, 0)
                                  .repeat(3, axis=-1))

  def test_palette(self):
    palette = np.array([[10, 20, 30], [200, 100, 0], [0, 255, 128]],
                       np.uint8)
    index = np.random.default_rng(1).integers(0, 3, (12, 12)).astype(np.uint8)
    image = _palette_image(index, palette)
    path = _save(image, self.dir / "palette.png")
    np.testing.assert_array_equal(image_io.load_image(path, 12),
                                  palette[index])

  def test_palette_with_transparent_index_shows_background(self):
    palette = np.array([[10, 20, 30], [200, 100, 0]], np.uint8)
    index = (np.indices((12, 12)).sum(0) % 2).astype(np.uint8)
    image = _palette_image(index, palette)
    path = _save(image, self.dir / "palette_t.png", transparency=0)
    out = image_io.load_image(path, 12)
    expected = np.where(index[..., None] == 0, image_io.BACKGROUND,
                        palette[1])
    np.testing.assert_array_equal(out, expected)

  def test_rgba_composites_over_background(self):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = (40, 80, 120)
    rgba[:, :3, 3] = 0     # transparent
    rgba[:, 3:6, 3] = 128  # half
    rgba[:, 6:, 3] = 255   # opaque
    path = _save(Image.fromarray(rgba), self.dir / "rgba.png")
    out = image_io.load_image(path, 10, background=(0, 255, 0)).astype(int)
    np.testing.assert_array_equal(out[:, :3], np.broadcast_to((0, 255, 0),
                                                              (10, 3, 3)))
    np.testing.assert_array_equal(out[:, 6:], np.broadcast_to((40, 80, 120),
                                                              (10, 4, 3)))
    a = 128 / 255
    half = np.array([40 * a, 80 * a + 255 * (1 - a), 120 * a])
    np.testing.assert_allclose(out[:, 3:6], np.broadcast_to(half, (10, 3, 3)),
                               atol=1)

  def test_rgba_default_background_is_white(self):
    rgba = np.zeros((4, 4, 4), np.uint8)
    path = _save(Image.fromarray(rgba), self.dir / "clear.png")
    np.testing.assert_array_equal(image_io.load_image(path, 4), 255)

  def test_grey_alpha(self):
    la = np.zeros((6, 6, 2), np.uint8)
    la[..., 0] = 50
    la[:3, :, 1] = 255
    path = _save(Image.fromarray(la), self.dir / "la.png")
    out = image_io.load_image(path, 6)
    np.testing.assert_array_equal(out[:3], 50)
    np.testing.assert_array_equal(out[3:], 255)

  def test_sixteen_bit_grey_spans_the_eight_bit_range(self):
    ramp = np.round(np.linspace(0, 65535, 64)).astype(np.uint16)
    pixels = np.tile(ramp, (64, 1))
    path = _save(Image.fromarray(pixels), self.dir / "deep.png")
    self.assertIn(Image.open(path).mode, ("I;16", "I"))
    out = image_io.load_image(path, 64)
    row = out[0, :, 0].astype(int)
    self.assertEqual(row[0], 0)
    self.assertEqual(row[-1], 255)
    self.assertTrue(np.all(np.diff(row) >= 0))
    # Linear: pixel i holds about i / 63 of full scale.
    np.testing.assert_allclose(row, np.linspace(0, 255, 64), atol=1)
    np.testing.assert_array_equal(out, np.broadcast_to(row[:, None],
                                                       (64, 64, 3)))

  def test_float_image_in_unit_range(self):
    values = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    path = _save(Image.fromarray(values), self.dir / "float.tif")
    out = image_io.load_image(path, 4)
    np.testing.assert_allclose(out[..., 0], values * 255, atol=0.5)

  def test_cmyk_jpeg(self):
    # Pure magenta + yellow ink is red.
    image = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    path = _save(image, self.dir / "cmyk.jpg", quality=95)
    out = image_io.load_image(path, 16).astype(int)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), _RED, atol=6)

  @parameterized.parameters("RGB", "L", "1", "P", "RGBA", "LA", "I;16",
                            "CMYK")
  def test_any_size_and_mode_gives_square_rgb(self, mode):
    rng = np.random.default_rng(2)
    base = Image.fromarray(rng.integers(0, 256, (53, 37, 3), dtype=np.uint8))
    if mode == "I;16":
      image = Image.fromarray(
          rng.integers(0, 65536, (53, 37), dtype=np.uint16))
    else:
      image = base.convert(mode)
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = _save(image, self.dir / f"any{suffix}")
    for size in (8, 32, 64):
      out = image_io.load_image(path, size)
      self.assertEqual(out.shape, (size, size, 3))
      self.assertEqual(out.dtype, np.uint8)

  def test_load_image_accepts_str(self):
    path = _save(Image.new("RGB", (5, 5)), self.dir / "s.png")
    self.assertEqual(image_io.load_image(str(path), 3).shape, (3, 3, 3))


class LoadErrorTest(absltest.TestCase):
  """Bad inputs raise DataError with one line that names the file."""

  def setUp(self):
    super().setUp()
    self.dir = pathlib.Path(self.create_tempdir().full_path)

  def assert_data_error(self, path, *words):
    with self.assertRaises(errors.DataError) as caught:
      image_io.load_image(path, 16)
    message = str(caught.exception)
    self.assertIn(str(path), message)
    self.assertNotIn("\n", message)
    for word in words:
      self.assertIn(word, message)

  def test_text_file_with_image_suffix(self):
    path = self.dir / "x.png"
    path.write_text("this is not a picture\n")
    self.assert_data_error(path, "not an image")

  def test_truncated_png(self):
    rng = np.random.default_rng(3)
    path = _save(Image.fromarray(
        rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), self.dir / "t.png")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    self.assert_data_error(path, "truncated")

  def test_truncated_jpeg(self):
    rng = np.random.default_rng(4)
    path = _save(Image.fromarray(
        rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), self.dir / "t.jpg")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    self.assert_data_error(path)

  def test_missing_file(self):
    self.assert_data_error(self.dir / "nope.jpg", "no such file")

  def test_directory(self):
    self.assert_data_error(self.dir, "directory")

  def test_empty_file(self):
    path = self.dir / "empty.jpg"
    path.write_bytes(b"")
    self.assert_data_error(path, "empty")


class BatchTest(absltest.TestCase):
  """Batches report each bad input and keep the good ones."""

  def setUp(self):
    super().setUp()
    self.dir = pathlib.Path(self.create_tempdir().full_path)

  def test_expand_inputs(self):
    folder = self.dir / "photos"
    folder.mkdir()
    _save(Image.new("RGB", (4, 4)), folder / "b.png")
    _save(Image.new("RGB", (4, 4)), folder / "a.JPG")
    (folder / "notes.txt").write_text("not an image")
    (folder / "._a.jpg").write_bytes(b"metadata")
    (folder / "sub").mkdir()
    _save(Image.new("RGB", (4, 4)), folder / "sub" / "deeper.png")
    empty = self.dir / "empty"
    empty.mkdir()
    missing = self.dir / "missing.png"

    files, problems = image_io.expand_inputs(
        [str(folder), str(missing), empty])
    self.assertEqual(files, [folder / "a.JPG", folder / "b.png"])
    self.assertLen(problems, 2)
    self.assertIn(str(missing), problems[0])
    self.assertIn(str(empty), problems[1])
    for problem in problems:
      self.assertNotIn("\n", problem)

  def test_expand_inputs_keeps_files_and_order(self):
    text = self.dir / "readme.txt"
    text.write_text("hello")
    image = _save(Image.new("RGB", (4, 4)), self.dir / "z.png")
    files, problems = image_io.expand_inputs([image, text, image])
    # A named file stays even if it is no image: load_image reports it.
    self.assertEqual(files, [image, text])
    self.assertEmpty(problems)

  def test_load_images_collects_errors(self):
    good = _save(Image.new("RGB", (9, 7), _RED), self.dir / "good.png")
    bad = self.dir / "bad.png"
    bad.write_text("nope")
    images, problems = image_io.load_images([bad, good], 5)
    self.assertLen(images, 1)
    path, pixels = images[0]
    self.assertEqual(path, good)
    np.testing.assert_array_equal(pixels, np.broadcast_to(_RED, (5, 5, 3)))
    self.assertLen(problems, 1)
    self.assertIn(str(bad), problems[0])


if __name__ == "__main__":
  absltest.main()
