"""The package's floors: no import cycles, inference imports no training.

Imports are read from the source with ``ast``, function-level ones
included, so an import moved into a function to dodge a cycle still counts.
"""

import ast
import os
import pathlib
import subprocess
import sys

from absl.testing import absltest

from jaxface import summary

from tests import testing_utils

PACKAGE = testing_utils.REPO / "jaxface"
# What `reconstruct`, `render`, `export-mesh` and `evaluate` run.
INFERENCE = ("workdir", "reconstruct", "evaluate", "export", "mesh",
             "sampling", "image_io", "data.held_out")
TRAINING = ("train", "train_step", "train_state", "optim")


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
  """{module: the jaxface modules it imports anywhere in its source}."""
  modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
  graph = {}
  for name, path in modules.items():
    edges = set()
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module:
        # `from jaxface import x` imports the module jaxface.x.
        targets = [f"{node.module}.{alias.name}" for alias in node.names]
        targets.append(node.module)
      else:
        continue
      edges.update(t for t in targets if t in modules and t != name)
    graph[name] = edges - {"jaxface", "jaxface.data"}
  return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One import cycle as [a, b, ..., a], or None (depth-first search)."""
  state = {}  # 1: on the current path, 2: done
  path = []

  def visit(node):
    state[node] = 1
    path.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 1:
        return path[path.index(nxt):] + [nxt]
      if nxt not in state:
        cycle = visit(nxt)
        if cycle:
          return cycle
    state[node] = 2
    path.pop()
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


class ImportGraphTest(absltest.TestCase):

  def test_finds_a_cycle_when_there_is_one(self):
    # The checker itself: a cycle is found, a tree is not.
    self.assertEqual(find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}),
                     ["a", "b", "c", "a"])
    self.assertIsNone(find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}))

  def test_reads_function_level_imports(self):
    graph = import_graph()
    self.assertIn("jaxface.train_step", graph["jaxface.train"])
    # main imports the commands inside a function (for a fast --help).
    self.assertIn("jaxface.commands", graph["jaxface.main"])

  def test_no_import_cycle(self):
    cycle = find_cycle(import_graph())
    self.assertIsNone(cycle, f"import cycle: {' -> '.join(cycle or [])}")

  def test_inference_modules_do_not_import_training(self):
    graph = import_graph()
    reachable, todo = set(), [f"jaxface.{m}" for m in INFERENCE]
    while todo:
      module = todo.pop()
      if module not in reachable:
        reachable.add(module)
        todo.extend(graph[module])
    self.assertEmpty(reachable & {f"jaxface.{m}" for m in TRAINING})

  def test_loading_the_inference_path_loads_no_training(self):
    modules = ", ".join(f"jaxface.{m}" for m in INFERENCE)
    code = (f"import sys\nimport {modules}\n"
            f"print(sorted(m for m in sys.modules if m.removeprefix("
            f"'jaxface.') in {TRAINING!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, cwd=testing_utils.REPO, timeout=300,
                            env=dict(os.environ, JAX_PLATFORMS="cpu"))
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(result.stdout.strip(), "[]")


class SummaryWriterTest(absltest.TestCase):

  def test_writes_events_without_loading_torch_and_torch_still_imports(self):
    logdir = self.create_tempdir().full_path
    code = f"""
import importlib.util, sys
from jaxface import summary
writer = summary.summary_writer({logdir!r})
writer.add_scalar("loss", 0.25, 3)
writer.close()
print("torch" in sys.modules)
if importlib.util.find_spec("torch") is not None:
  import torch
  print(torch.ones(2).sum().item())
else:
  print(2.0)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, cwd=testing_utils.REPO, timeout=300,
                            env=dict(os.environ, JAX_PLATFORMS="cpu"))
    self.assertEqual(result.returncode, 0, result.stderr)
    self.assertEqual(result.stdout.split(), ["False", "2.0"])
    self.assertEqual(summary.read_scalars(pathlib.Path(logdir)),
                     {"loss": [(3, 0.25)]})


if __name__ == "__main__":
  absltest.main()
