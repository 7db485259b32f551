"""The README's reconstruction figure and table, from a finished ``make demo``.

Reads what ``make demo`` wrote under ``--workdir`` and writes to ``--out``:

* ``held_out_views.png``: for each held-out identity of the clean set, its
  true views above the model's renders of view 0 at the same cameras
  (``jaxface evaluate``'s picture; column 0 is the input);
* ``photos.png``: each demo photo's ``render.png`` (input, reconstruction)
  beside its ``views.png`` (seven yaws over their depth), feed-forward;
* ``meshes.png``: each photo's exported ``mesh.ply`` seen from yaw -90°,
  -45°, 0°, 45° and 90° (depth, near is bright; rows as ``photos.png``);
* ``table.md``: the model beside the copy-the-input and mean-image
  baselines on the same pairs, inside the head, overall and by yaw, on both
  held-out sets, plus geometry, pose, opacity and the judge; Q's
  feed-forward estimate, and beside it the refined (and tuned) ones where
  ``make demo`` also ran ``jaxface evaluate --refine-steps`` (and
  ``--tune-generator``).

  python experiments/demo_report.py --workdir runs/demo \\
      --out experiments/2026-11-30_demo
"""

import argparse
import json
import pathlib
import re
import shutil

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np
import trimesh

from jaxface import camera
from jaxface import mesh
from jaxface import workdir as workdir_lib

BUCKETS = ("", "_yaw0-15", "_yaw15-30", "_yaw30+")
BUCKET_NAMES = ("all novel views", "yaw 0-15°", "yaw 15-30°", "yaw > 30°")


def _metrics(eval_dir: pathlib.Path) -> list[tuple[str, pathlib.Path]]:
  """The last step's metrics JSONs: feed-forward, refined and tuned if any.

  ``jaxface evaluate`` writes ``metrics_step<N>.json``; with
  ``--refine-steps R``, ``metrics_step<N>_refine<R>.json``; with
  ``--tune-generator`` too, ``metrics_step<N>_refine<R>_tune.json``.
  Returns ``[(column label, path)]``, feed-forward first.
  """
  plain = {int(m[1]): p for p in eval_dir.glob("metrics_step*.json")
           if (m := re.fullmatch(r"metrics_step(\d+)\.json", p.name))}
  if not plain:
    raise SystemExit(f"demo_report: no metrics_stepN.json in {eval_dir}")
  step = max(plain)
  columns = [("model", plain[step])]
  for label, suffix in (("refined", ""), ("tuned", "_tune")):
    found = {int(m[1]): p for p in eval_dir.glob(f"metrics_step{step}_*.json")
             if (m := re.fullmatch(
                 rf"metrics_step{step}_refine(\d+){suffix}\.json", p.name))}
    if found:
      columns.append((label, found[max(found)]))
  return columns


def photo_strip(reconstructions: pathlib.Path) -> np.ndarray:
  """Each photo's render.png beside its views.png, one photo per row."""
  rows = []
  for face in sorted(p for p in reconstructions.iterdir() if p.is_dir()):
    render = iio.imread(face / "render.png")[..., :3]
    views = iio.imread(face / "views.png")[..., :3]
    height = max(render.shape[0], views.shape[0])
    pad = lambda a: np.pad(a, ((0, height - a.shape[0]), (0, 0), (0, 0)),
                           constant_values=255)
    rows.append(np.concatenate([pad(render), pad(views)], axis=1))
  width = max(r.shape[1] for r in rows)
  rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)),
                 constant_values=255) for r in rows]
  return np.concatenate(rows, axis=0)


def mesh_strip(reconstructions: pathlib.Path, config,
               size: int = 96) -> np.ndarray:
  """Each photo's mesh from five yaws at pitch 0, one photo per row.

  A photo whose export found no surface (no mesh.ply) gets a black row, so
  rows stay in the photos' order.
  """
  yaws = np.radians([-90.0, -45.0, 0.0, 45.0, 90.0]).astype(np.float32)
  n = len(yaws)
  cameras = camera.make_camera(
      jnp.asarray(yaws), jnp.zeros(n),
      jnp.full(n, config.camera.radius_range[0]),
      jnp.full(n, np.radians(config.camera.fov_degrees)))
  rows = []
  for face in sorted(p for p in reconstructions.iterdir() if p.is_dir()):
    if not (face / "mesh.ply").exists():
      rows.append(np.zeros((size, n * size), np.uint8))
      continue
    surface = trimesh.load(face / "mesh.ply", process=False)
    depth = mesh.render_depth(surface.vertices, surface.faces, cameras, size)
    near, far = np.nanmin(depth), np.nanmax(depth)
    shade = 60.0 + 195.0 * (far - depth) / max(far - near, 1e-6)
    image = np.where(np.isnan(depth), 0.0, shade).astype(np.uint8)
    rows.append(np.concatenate(list(image), axis=1))
  return np.concatenate(rows, axis=0)


def table(columns: list[tuple[str, dict]]) -> str:
  """Markdown: model and baselines inside the head, then the rest.

  ``columns`` are ``(label, metrics)`` of one checkpoint, feed-forward
  first; later ones (refined, tuned) get a column beside it in every
  model figure.
  """
  metrics = columns[0][1]
  notes = {
      "refined": "of test-time refinement of codes and pose (`jaxface "
                 "evaluate --refine-steps {n}`)",
      "tuned": "of refinement, then as many of tuning the generator, one "
               "copy per identity (pivotal tuning; `jaxface evaluate "
               "--refine-steps {n} --tune-generator`)",
  }
  said = "".join(
      f"; \"{label}\" adds {m['clean/refine_steps']:.0f} steps "
      + notes[label].format(n=int(m["clean/refine_steps"]))
      for label, m in columns[1:])
  lines = [f"Step {metrics['step']}, {metrics['clean/num_identities']} "
           f"held-out identities, view 0 in, "
           f"{metrics['clean/num_novel_views']} novel views each. \"model\" "
           "is Q's feed-forward estimate" + (said or ", without refinement")
           + ".", ""]
  labels = " | ".join(label for label, _ in columns)
  rule = "---:|" * len(columns)
  for held_out in ("clean", "wild"):
    m = lambda name, h=held_out: metrics[f"{h}/{name}"]
    cells = lambda name, fmt, h=held_out: " | ".join(
        format(c[f"{h}/{name}"], fmt) for _, c in columns)
    lines += [f"**{held_out}** set: PSNR inside the true head mask (dB), "
              "model / copy the input view / mean training image, and the "
              "model's gain over copying", "",
              f"| novel views | views | {labels} | copy input | mean image "
              f"| gain vs copy: {labels} |",
              f"|---|---:|{rule}---:|---:|{rule}"]
    for bucket, name in zip(BUCKETS, BUCKET_NAMES):
      count = (m("num_novel_views") * m("num_identities") if not bucket
               else m(f"num_novel_{bucket[1:]}"))
      lines.append(
          f"| {name} | {count} | {cells('psnr_head_novel' + bucket, '.2f')}"
          f" | {m('psnr_head_copy_novel' + bucket):.2f} | "
          f"{m('psnr_head_mean_novel' + bucket):.2f} | "
          f"{cells('psnr_head_novel_gain_copy' + bucket, '+.2f')} |")
    lines += ["", f"SSIM inside the head: model "
              f"{cells('ssim_head_novel', '.3f').replace(' | ', ' / ')}"
              f" ({labels.replace(' | ', ' / ')}), "
              f"copy {m('ssim_head_copy_novel'):.3f}, mean "
              f"{m('ssim_head_mean_novel'):.3f}. Input view re-rendered: "
              f"PSNR {cells('psnr_head_input', '.2f').replace(' | ', ' / ')}"
              f" dB. Full frame (scores the "
              f"background too): model {m('psnr_full_novel'):.2f}, copy "
              f"{m('psnr_full_copy_novel'):.2f}, mean "
              f"{m('psnr_full_mean_novel'):.2f} dB.", ""]

  def row(label, name, fmt, pair=None):
    """One geometry row: the model's value(s) in every column.

    A column scored without a metric (``--mesh-resolution 0`` has no mesh
    figures) shows "-".
    """
    cell = lambda source, key: (format(source[f"clean/{key}"], fmt)
                                if f"clean/{key}" in source else "-")
    values = [cell(source, name) + (" / " + cell(source, pair) if pair
                                    else "")
              for _, source in columns]
    return f"| {label} | " + " | ".join(values) + " |"

  lines += [
      f"| geometry and pose (clean set) | {labels} |",
      f"|---|{rule}",
      row("depth error / head size, raw", "depth_abs_rel_head_novel", ".3f"),
      row("depth error / head size, after the best offset",
          "depth_abs_rel_head_offset_novel", ".3f"),
      row("pose error (degrees)", "pose_error_deg", ".1f"),
      row("opacity inside the head / on the background",
          "opacity_head_novel", ".2f", "opacity_background_novel"),
      row("opacity inside the head: its interior / its rim (one block)",
          "opacity_head_interior_novel", ".2f", "opacity_head_rim_novel"),
      row("judge cosine, novel views / its ceiling (true views)",
          "judge_cosine_novel", ".3f", "judge_cosine_gt_novel"),
      row("mesh: depth error / head size after offset",
          "mesh_depth_abs_rel_head_offset", ".3f"),
      row("mesh: share of the head covered", "mesh_coverage", ".2f"),
      row("mesh: surface facing up or down (true heads: "
          f"{metrics['clean/mesh_up_down_area_gt']:.2f})",
          "mesh_up_down_area", ".2f"),
  ]
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--workdir", default="runs/demo")
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  workdir, out = pathlib.Path(args.workdir), pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  paths = _metrics(workdir / "eval")
  metrics_path = paths[0][1]
  columns = [(label, json.loads(path.read_text())) for label, path in paths]
  shutil.copyfile(metrics_path.with_name(f"{metrics_path.stem}_views_clean.png"),
                  out / "held_out_views.png")
  iio.imwrite(out / "photos.png", photo_strip(workdir / "reconstructions"))
  iio.imwrite(out / "meshes.png", mesh_strip(
      workdir / "reconstructions", workdir_lib.load_config(workdir)))
  (out / "table.md").write_text(table(columns))
  print(json.dumps(dict(out=str(out),
                        **{label: str(path) for label, path in paths})))


if __name__ == "__main__":
  main()
