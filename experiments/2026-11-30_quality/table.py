"""The ablation table of README.md from results.jsonl (run.sh's output).

  python experiments/2026-11-30_quality/table.py [clean|wild]
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


def main():
  held_out = sys.argv[1] if len(sys.argv) > 1 else "clean"
  path = pathlib.Path(__file__).with_name("results.jsonl")
  rows = [json.loads(line) for line in path.read_text().splitlines()
          if line.startswith("{")]
  print("| row | " + " | ".join(title for _, title in COLUMNS) + " |")
  print("|---" * (len(COLUMNS) + 1) + "|")
  for row in rows:
    cells = [f"{row[f'{held_out}/{key}']:.3f}" for key, _ in COLUMNS]
    print(f"| {row['row']} | " + " | ".join(cells) + " |")
  first = rows[0]
  print()
  print("Baselines on the same pairs: " + ", ".join(
      f"{key} {first[f'{held_out}/{key}']:.3f}" for key in BASELINES))


if __name__ == "__main__":
  main()
