"""User-facing errors: the command line prints them as one line and exits."""

import sys


class JaxfaceError(Exception):
  """Base class for errors caused by input, not by a bug."""


class ConfigError(JaxfaceError):
  """A config is invalid or does not match what it is used with."""


class CheckpointError(JaxfaceError):
  """A checkpoint is missing or does not fit the model."""


class DataError(JaxfaceError):
  """Input data is missing or unreadable."""


class NonFiniteLossError(JaxfaceError):
  """Training produced a NaN or infinite loss."""


class WorkdirBusy(JaxfaceError):
  """Another live process is training in the workdir."""


class Preempted(JaxfaceError):
  """Training stopped on SIGTERM after saving a checkpoint; rerun resumes."""

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code


def report(message: str) -> None:
  """Prints a problem that does not stop the command, in the CLI's format."""
  print(f"jaxface: error: {message}", file=sys.stderr)
