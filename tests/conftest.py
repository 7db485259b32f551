"""Test setup: 8 fake CPU devices, quick compiles, a persistent cache.

All must be set before JAX is imported anywhere.
"""

import os
import pathlib

# The suite's programs are tiny and run a few steps: compiling them is most
# of its time. LLVM's -O0 backend compiles much faster and runs slower;
# the graph-level optimisations (fusion, layout) are unchanged.
# At -O0, XLA's newer CPU fusion emitters (MLIR) compile the tiny training
# step in 4.1 s against the classic ones' 2.3 s (12.9 against 8.4 s with the
# identity branch), and run it only 15-25% faster
# (experiments/bench_test_compile.py [--branch]); training keeps the default.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_backend_optimization_level=0"
    + " --xla_cpu_use_fusion_emitters=false"
    + " --xla_force_host_platform_device_count=8")
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parents[1] / ".cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

# absltest helpers (create_tempdir) read absl flags; pytest does not parse them.
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.FLAGS.mark_as_parsed()
