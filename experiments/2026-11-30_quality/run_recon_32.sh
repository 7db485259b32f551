#!/usr/bin/env bash
# The reconstruction terms (L1 and E2's feature maps on Q's codes rendered
# at Q's pose of the same image) twice as strong on the demo's recipe at
# 32x32, as the cross-view term was doubled: D32_cross_x2's settings plus
# loss.l1_weight=2, loss.perceptual_weight=1, seeds 0 and 1, run together,
# then refined and tuned (score_hour.sh). Their controls are D32_cross_x2
# and D32_cross_x2_seed1 (results_demo_rows_32.jsonl).
# Usage: experiments/2026-11-30_quality/run_recon_32.sh > results_recon_32.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/quality
row=experiments/2026-11-30_quality/row_demo_32.sh
score=experiments/2026-11-30_quality/score_hour.sh
# Each row's lines go to its own file while both run; a failed row fails
# the script (a bare `wait` would return 0).
pids=()
for seed in 0 1; do
  name=D32_recon_x2$([ $seed = 0 ] || echo _seed$seed)
  ( $row $name --set loss.cross_view_weight=2.0 \
      --set loss.cross_view_perceptual_weight=1.0 \
      --set loss.l1_weight=2.0 --set loss.perceptual_weight=1.0 \
      --set seed=$seed > runs/quality/$name.row
    $score runs/quality/$name $name >> runs/quality/$name.row ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid"
done
cat runs/quality/D32_recon_x2.row runs/quality/D32_recon_x2_seed1.row
