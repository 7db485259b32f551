#!/usr/bin/env bash
# D32_light of run_light_32.sh (the lighter branch at 32x32, 1277 steps, seed
# 0) with the object's density unscaled (render.density_scale=1, the hour
# config's, against the demo's 4): is its fog the lighter branch at 32x32 or
# the branch at density scale 4? Refined, tuned and its prior meshed
# (score_hour.sh). Usage: ... > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
# (row_demo_32.sh: row_32.sh, 1277 steps, the lighter branch and scale 1)
experiments/2026-11-30_quality/row_demo_32.sh D32_light_ds1
experiments/2026-11-30_quality/score_hour.sh runs/quality/D32_light_ds1 \
    D32_light_ds1
