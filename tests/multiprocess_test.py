"""Two processes on one machine, as on two hosts: coordinator on localhost.

Each process is ``jaxface train`` with ``--coordinator --num-processes
--process-id`` (the command line the README gives for GPU hosts) and two
fake CPU devices; the CPU backend's gloo collectives join them into one
4-device mesh.
"""

import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
from absl.testing import absltest

from jaxface import checkpoint as checkpoint_lib
from jaxface import preemption
from jaxface import train
from jaxface import train_state as train_state_lib
from tests import testing_utils

JAXFACE = [sys.executable, "-m", "jaxface.main"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start(args, *, processes: int):
  """``jaxface train ARGS`` as ``processes`` processes of one job."""
  port = _free_port()
  return [subprocess.Popen(
      JAXFACE + ["train", *args, "--coordinator", f"localhost:{port}",
                 "--num-processes", str(processes), "--process-id", str(i)],
      env=testing_utils.subprocess_env(2), cwd=testing_utils.REPO, text=True,
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
          for i in range(processes)]


def _finish(procs, timeout=240):
  """(return codes, stderrs); kills every process if one hangs."""
  deadline = time.time() + timeout
  results = []
  try:
    for proc in procs:
      _, stderr = proc.communicate(timeout=max(1, deadline - time.time()))
      results.append((proc.returncode, stderr))
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  return [r for r, _ in results], [e for _, e in results]


def _restore(workdir, config, step=None):
  ckpt = checkpoint_lib.Checkpointer(pathlib.Path(workdir) / "ckpt",
                                     config.ckpt, read_only=True)
  return ckpt.restore(train_state_lib.create_train_state(config), step)


def _finished(ckpt_dir: pathlib.Path, step: int) -> bool:
  """Whether checkpoint ``step`` is complete (orbax renames it when done)."""
  return (ckpt_dir / str(step)).is_dir()


def _max_diff(a, b) -> float:
  return max(jax.tree.leaves(jax.tree.map(
      lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))),
      a, b)))


class MultiProcessTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(self.create_tempdir().full_path)
    folder = testing_utils.write_image_folder(self.tmp / "images")
    self.flags = ["--config=configs/tiny.py",
                  "--config.data.name=image_folder",
                  f"--config.data.data_dir={folder}",
                  "--config.ckpt.every_steps=2"]
    self.config = testing_utils.folder_config(folder)
    self.config.ckpt.every_steps = 2

  def _train(self, workdir, steps, processes):
    codes, stderrs = _finish(_start(
        self.flags + [f"--config.train.num_steps={steps}", "--workdir",
                      str(workdir)], processes=processes))
    self.assertEqual(codes, [0] * processes, "\n".join(stderrs))

  def test_two_processes_train_like_one_cross_over_and_stop_together(self):
    single, double = self.tmp / "single", self.tmp / "double"
    # The 1-process reference, trained in this process on 2 of its devices
    # (as `jaxface train` with the same flags would; one launch fewer).
    config = self.config.copy_and_resolve_references()
    config.train.num_steps = 4
    config.mesh.data = 2
    train.train_and_evaluate(config, single)
    self._train(double, 2, processes=2)
    # A 2-process checkpoint restores in this (1-process) test, and equals
    # the 1-process run after the same global batches.
    reference = _restore(single, self.config, step=2)
    two = _restore(double, self.config, step=2)
    for name in ("g_params", "d_params", "g_ema_params"):
      diff = _max_diff(getattr(two, name), getattr(reference, name))
      self.assertLess(diff, 1e-4, f"{name} differ by {diff}")
    # Written once: one TensorBoard file, one set of samples.
    self.assertLen(list((double / "tb").glob("events.*")), 1)
    self.assertTrue((double / "samples" / "multiview_grid.png").is_file())

    # 2 -> 1: the 2-process run continued by 1 process.
    one_from_two = self.tmp / "one_from_two"
    shutil.copytree(double, one_from_two)
    train.train_and_evaluate(config, one_from_two)  # 1 process, 2 devices
    final = _restore(single, self.config, step=4)
    resumed = _restore(one_from_two, self.config, step=4)
    diff = _max_diff(resumed.g_params, final.g_params)
    self.assertLess(diff, 1e-4, f"one_from_two: g_params differ by {diff}")

    # 1 -> 2: the 1-process step-2 checkpoint continued by 2 processes,
    # until SIGTERM to process 1 alone stops both (past step 4).
    two_from_one = self.tmp / "two_from_one"
    shutil.copytree(single, two_from_one)
    shutil.rmtree(two_from_one / "ckpt" / "4")
    procs = _start(self.flags + ["--config.train.num_steps=100000",
                                 "--config.ckpt.max_to_keep=100000",
                                 "--workdir", str(two_from_one)],
                   processes=2)
    deadline = time.time() + 180
    while time.time() < deadline and not _finished(two_from_one / "ckpt", 4):
      self.assertIsNone(procs[0].poll(), "process 0 ended early")
      time.sleep(0.05)
    procs[1].send_signal(signal.SIGTERM)  # only process 1 is told
    codes, stderrs = _finish(procs, timeout=120)
    self.assertEqual(codes, [preemption.EXIT_CODE] * 2, "\n".join(stderrs))
    saved = [re.search(r"preempted \(SIGTERM\): saved step (\d+)", e)
             for e in stderrs]
    self.assertTrue(all(saved), stderrs)
    steps = {int(m.group(1)) for m in saved}
    self.assertLen(steps, 1)  # both processes stopped after the same step
    step = steps.pop()
    self.assertGreaterEqual(step, 4)
    self.assertEqual(int(_restore(two_from_one, self.config).step), step)
    resumed = _restore(two_from_one, self.config, step=4)
    diff = _max_diff(resumed.g_params, final.g_params)
    self.assertLess(diff, 1e-4, f"two_from_one: g_params differ by {diff}")


if __name__ == "__main__":
  absltest.main()
