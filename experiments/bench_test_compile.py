"""What LLVM's -O0 backend and XLA's classic CPU emitters do to the test
suite's programs.

``tests/conftest.py`` compiles with ``--xla_backend_optimization_level=0``
and ``--xla_cpu_use_fusion_emitters=false``. This times the tiny test config
with the default flags, with -O0, and with both, each in a fresh
process with the persistent compilation cache off: the training state's
initialisation (op by op, and as one jitted program, as
``train.create_sharded_state`` does), the training step's first call
(compile) and its mean step after that. One JSON line per flag setting.
With ``--branch`` every identity-branch term is on (but the cross-view
pair terms), with a random E2 of the demo's architecture: the larger step
the evaluate, bfloat16 and eight-device tests train.

  python experiments/bench_test_compile.py [--branch]
"""

import json
import os
import platform
import runpy
import subprocess
import sys
import time

FLAGS = ("", "--xla_backend_optimization_level=0",
         "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")
STEPS = 20


def _child(branch: bool):
  import functools  # pylint: disable=g-import-not-at-top
  import jax
  import numpy as np
  import bench_reconstruct  # same directory: its E2 helper
  from jaxface import identity_branch
  from jaxface import train_state as train_state_lib
  from jaxface import train_step as train_step_lib

  config = runpy.run_path("configs/tiny.py")["get_config"]()
  e2 = None
  if branch:
    for name in identity_branch.WEIGHTS:
      if not name.startswith("cross_view"):  # those need batches of pairs
        config.loss[name] = 1.0
    e2, _ = bench_reconstruct.identity_encoder(config, seed=0)
  result = {}
  start = time.perf_counter()
  jax.block_until_ready(train_state_lib.create_train_state(config, e2))
  result["init_eager_s"] = time.perf_counter() - start
  start = time.perf_counter()
  state = jax.jit(lambda: train_state_lib.create_train_state(config, e2))()
  jax.block_until_ready(state)
  result["init_jit_s"] = time.perf_counter() - start
  size = config.data.image_size
  batch = {"image": np.random.RandomState(0).randint(
      0, 256, (config.train.batch_size, size, size, 3)).astype(np.uint8)}
  step = jax.jit(functools.partial(train_step_lib.train_step, config=config))
  start = time.perf_counter()
  hparams = train_step_lib.config_hparams(config)
  state, metrics = step(state, batch, jax.random.key(0), hparams)
  jax.block_until_ready(metrics)
  result["first_step_s"] = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(STEPS):
    state, metrics = step(state, batch, jax.random.key(0), hparams)
  jax.block_until_ready(metrics)
  result["step_ms"] = 1e3 * (time.perf_counter() - start) / STEPS
  print(json.dumps({k: round(v, 2) for k, v in result.items()}))


def main():
  branch = "--branch" in sys.argv[1:]
  if "--child" in sys.argv[1:]:
    _child(branch)
    return
  for flags in FLAGS:
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu",
               JAX_ENABLE_COMPILATION_CACHE="false")
    out = subprocess.run(
        [sys.executable, __file__, "--child"] + ["--branch"] * branch,
        env=env, capture_output=True, text=True, check=True).stdout
    print(json.dumps(dict(benchmark="test_compile", config="configs/tiny.py",
                          identity_branch=branch, xla_flags=flags,
                          **json.loads(out.splitlines()[-1]),
                          host=platform.processor() or platform.machine())))


if __name__ == "__main__":
  main()
