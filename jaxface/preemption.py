"""Preemption: SIGTERM ends training after the current step, with a checkpoint.

TPU and cluster schedulers stop work with SIGTERM and a grace period. The
training loop asks ``Preemption.reached(step)`` after every step; when it
says yes, it saves that step, stops, and the command exits with
``EXIT_CODE`` so a scheduler (or a wrapper script) knows to run the same
command again, which resumes exactly.

* One process: a SIGTERM handler sets a flag (Python runs it between steps,
  never inside a compiled computation).
* Several processes: the signal may reach only one of them, and a process
  that stopped alone would leave the others waiting in the next collective.
  ``jax.distributed.initialize`` starts JAX's preemption service, which
  catches SIGTERM in any process and agrees with every process on one step
  at which all stop (``orbax``'s ``reached_preemption``, which we call every
  step, as the service requires). No Python handler is installed then: it
  would replace the service's.
"""

import signal
import threading

import jax

# sysexits.h EX_TEMPFAIL: "a temporary failure; the user is invited to retry".
EXIT_CODE = 75


class Preemption:
  """Context manager that watches for SIGTERM while training.

  Args:
    checkpointer: a ``checkpoint.Checkpointer`` (its manager reaches the
      multi-process sync point).
  """

  def __init__(self, checkpointer):
    self._checkpointer = checkpointer
    self._signalled = False
    self._previous = None

  def __enter__(self):
    if (jax.process_count() == 1
        and threading.current_thread() is threading.main_thread()):
      self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
    return self

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None
    return False

  def _on_sigterm(self, signum, frame):
    del signum, frame
    self._signalled = True

  def reached(self, step: int) -> bool:
    """Whether training must stop after ``step`` (the same in all processes).

    Call it exactly once per step in every process.
    """
    if jax.process_count() > 1:
      return self._checkpointer.reached_preemption(step)
    return self._signalled
