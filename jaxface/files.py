"""Atomic file writes: a reader sees the old file or the whole new one."""

import io
import os
import pathlib
import tempfile

import numpy as np


def write_atomic(path, data: bytes) -> pathlib.Path:
  """Writes ``data`` to a temporary file beside ``path``, then renames it.

  A crash mid-write leaves the previous file intact (and no partial one).
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                   suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(temporary, path)
  except BaseException:
    pathlib.Path(temporary).unlink(missing_ok=True)
    raise
  return path


def npy_bytes(array) -> bytes:
  """``array`` in the ``.npy`` format."""
  buffer = io.BytesIO()
  np.save(buffer, np.asarray(array))
  return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
  """``arrays`` in the ``.npz`` format."""
  buffer = io.BytesIO()
  np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
  return buffer.getvalue()
