"""The ablation tables of README.md from JSON lines of results.

  python experiments/2026-11-30_quality/table.py [clean|wild] [RESULTS] \
      [--opacity-split]

RESULTS defaults to results.jsonl (run.sh's output). ``--opacity-split``
adds the head's opacity on its interior and on its rim (rows scored before
``evaluate`` had them show "-"). A line is one row:
``bench_quality.py``'s JSON, or ``jaxface evaluate``'s metrics JSON with a
"row" key added (``--row NAME METRICS_JSON`` prints such a line).
"""

import json
import pathlib
import sys

COLUMNS = (
    ("psnr_head_novel", "PSNR head, novel"),
    ("psnr_head_input", "PSNR head, input view"),
    ("psnr_head_novel_gain_copy", "gain vs copy"),
    ("psnr_head_novel_gain_copy_yaw15-30", "gain vs copy, 15-30°"),
    ("psnr_head_novel_gain_copy_yaw30+", "gain vs copy, >30°"),
    ("ssim_head_novel", "SSIM head"),
    ("depth_abs_rel_head_offset_novel", "depth err after offset"),
    ("pose_error_deg", "pose err °"),
    ("opacity_head_novel", "opacity in head"),
    ("opacity_background_novel", "opacity in bg"),
    ("judge_cosine_novel_of_ceiling", "judge / ceiling"),
    ("mesh_up_down_area", "mesh up/down area"),
    ("mesh_coverage", "mesh coverage"),
)
BASELINES = ("psnr_head_copy_novel", "psnr_head_mean_novel",
             "psnr_head_copy_novel_yaw15-30", "psnr_head_copy_novel_yaw30+",
             "mesh_up_down_area_gt")


OPACITY_SPLIT = (
    ("opacity_head_interior_novel", "opacity, head interior"),
    ("opacity_head_rim_novel", "opacity, head rim"),
)


def main():
  columns = COLUMNS
  if "--opacity-split" in sys.argv:
    sys.argv.remove("--opacity-split")
    at = [key for key, _ in COLUMNS].index("opacity_head_novel") + 1
    columns = COLUMNS[:at] + OPACITY_SPLIT + COLUMNS[at:]
  if sys.argv[1:2] == ["--row"]:
    _, _, name, metrics = sys.argv
    print(json.dumps({"row": name,
                      **json.loads(pathlib.Path(metrics).read_text())}))
    return
  held_out = sys.argv[1] if len(sys.argv) > 1 else "clean"
  path = (pathlib.Path(sys.argv[2]) if len(sys.argv) > 2
          else pathlib.Path(__file__).with_name("results.jsonl"))
  rows = [json.loads(line) for line in path.read_text().splitlines()
          if line.startswith("{")]
  print("| row | " + " | ".join(title for _, title in columns) + " |")
  print("|---" * (len(columns) + 1) + "|")
  for row in rows:
    # Rows scored without meshes (``--mesh-resolution 0``) show "-" there.
    cells = [f"{row[f'{held_out}/{key}']:.3f}" if f"{held_out}/{key}" in row
             else "-" for key, _ in columns]
    print(f"| {row['row']} | " + " | ".join(cells) + " |")
  # Each baseline from the first row that has it (a row scored without
  # meshes has no true head's mesh figure).
  baselines = []
  for key in BASELINES:
    values = [row[f"{held_out}/{key}"] for row in rows
              if f"{held_out}/{key}" in row]
    if values:
      baselines.append(f"{key} {values[0]:.3f}")
  print()
  print("Baselines on the same pairs: " + ", ".join(baselines))


if __name__ == "__main__":
  main()
