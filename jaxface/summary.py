"""TensorBoard event files, written by tensorboardX without PyTorch."""

import sys


def summary_writer(logdir):
  """A ``tensorboardX.SummaryWriter`` writing event files into ``logdir``.

  tensorboardX imports PyTorch at import time whenever it is installed
  (only to accept torch tensors, which jaxface never passes). That import
  costs about 2 s, once per training process; it is blocked here, and
  PyTorch stays importable afterwards for the code that needs it.
  """
  if "tensorboardX" not in sys.modules and "torch" not in sys.modules:
    sys.modules["torch"] = None  # makes `import torch` raise ImportError
    try:
      import tensorboardX  # pylint: disable=g-import-not-at-top
    finally:
      del sys.modules["torch"]
  import tensorboardX  # pylint: disable=g-import-not-at-top,reimported
  return tensorboardX.SummaryWriter(str(logdir))
