#!/usr/bin/env bash
# The lighter identity branch at the demo's 32x32, in the same time: the demo
# config (900 steps of 0.867 s) against the same with Q at half width and
# without the two random-pose terms (0.611 s a step, so 1277 steps;
# bench_train_step.py at batch 16 on quiet cores, evaluations not
# counted), seed 0, held-out metrics every 100 steps; each then refined,
# tuned and its prior meshed (score_hour.sh; results_light_32.jsonl holds
# the feed-forward rows only: the two ran side by side and their scoring
# was stopped for time). Logs go to runs/quality/NAME.stderr.
# Usage: experiments/2026-11-30_quality/run_light_32.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
row() {
  experiments/2026-11-30_quality/row_32.sh "$@"
  experiments/2026-11-30_quality/score_hour.sh runs/quality/$1 $1
}
row D32_full --steps 900
row D32_light --steps 1277 --set loss.identity_random_weight=0 \
    --set loss.recon_gan_weight=0 --set identity.q_width=16
