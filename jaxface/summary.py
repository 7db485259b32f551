"""TensorBoard event files, written by tensorboardX without PyTorch."""

import pathlib
import struct
import sys


def _tensorboardx():
  """``tensorboardX``, imported without importing PyTorch.

  tensorboardX imports PyTorch at import time whenever it is installed
  (only to accept torch tensors, which jaxface never passes). That import
  costs about 2 s, once per process; it is blocked here, and PyTorch stays
  importable afterwards for the code that needs it.
  """
  if "tensorboardX" not in sys.modules and "torch" not in sys.modules:
    sys.modules["torch"] = None  # makes `import torch` raise ImportError
    try:
      import tensorboardX  # pylint: disable=g-import-not-at-top
    finally:
      del sys.modules["torch"]
  import tensorboardX  # pylint: disable=g-import-not-at-top,reimported
  return tensorboardX


def summary_writer(logdir):
  """A ``tensorboardX.SummaryWriter`` writing event files into ``logdir``."""
  return _tensorboardx().SummaryWriter(str(logdir))


def read_scalars(tb_dir) -> dict:
  """{tag: [(step, value)]} from the TensorBoard event files in ``tb_dir``.

  Records are TFRecord-framed: uint64 length, its CRC, the event, its CRC.
  """
  _tensorboardx()
  # pylint: disable-next=g-import-not-at-top
  from tensorboardX.proto import event_pb2
  scalars = {}
  for path in sorted(pathlib.Path(tb_dir).glob("events.out.tfevents.*")):
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((event.step,
                                                  value.simple_value))
  return scalars
