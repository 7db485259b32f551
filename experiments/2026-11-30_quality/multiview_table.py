"""The table of "What the generator can draw" from multiview_fit.py's lines.

  python experiments/2026-11-30_quality/multiview_table.py \\
      experiments/2026-11-30_quality/results_multiview_fit.jsonl

One table per run and number of identities: PSNR inside the head on the
novel views (1-7, as ``evaluate``), on the views a fit was not shown, and
on those it was, with copying the input view on the same views; depth
error after offset on the novel views.
"""

import json
import sys

FITS = {"none": "Q's estimate", "input@q": "the input view at Q's pose",
        "input": "the input view",
        "half": "views 0, 2, 4, 6", "all": "all eight views"}


def _cell(row, key):
  value = row.get(key)
  return "-" if value is None else f"{value:.2f}"


def main():
  rows, seen = [], set()
  for line in open(sys.argv[1]):
    row = json.loads(line)
    key = (row["workdir"], row["identities"], row["level"], row["fit"],
           row["steps"], row.get("tune_steps"))
    if key not in seen:  # each invocation repeats Q's estimate
      seen.add(key)
      rows.append(row)
  for run in dict.fromkeys((r["workdir"], r["identities"]) for r in rows):
    order = list(FITS)
    mine = sorted((r for r in rows
                   if (r["workdir"], r["identities"]) == run),
                  key=lambda r: (order.index(r["fit"]), r["level"] == "tune",
                                 r["steps"]))
    first = mine[0]
    print(f"\n{run[0]} (step {first['step']}, {first['image_size']}², "
          f"{first['identities']} identities; copying the input scores "
          f"{mine[-1]['psnr_head_copy_novel']:.2f} on the novel views)\n")
    print("| fitted | to | steps | novel views | unseen views (copy) "
          "| fitted views | depth err after offset, novel |")
    print("|---|---|---:|---:|---|---:|---:|")
    for r in mine:
      what = {"encode": "-", "codes": "codes",
              "tune": f"field, {r.get('tune_steps')} steps more"}[r["level"]]
      unseen = ("-" if "psnr_head_unseen" not in r or r["fit"] == "none"
                else f"{r['psnr_head_unseen']:.2f} "
                     f"({r['psnr_head_copy_unseen']:.2f})")
      print(f"| {what} | {FITS[r['fit']]} | {r['steps']} "
            f"| {_cell(r, 'psnr_head_novel')} | {unseen} "
            f"| {_cell(r, 'psnr_head_fitted')} "
            f"| {100 * r['depth_abs_rel_head_offset_novel']:.1f}% |")


if __name__ == "__main__":
  main()
