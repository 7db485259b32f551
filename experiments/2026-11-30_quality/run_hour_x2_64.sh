#!/usr/bin/env bash
# The hour config as it stands (configs/small_cpu64.py, with the demo's
# cross-view weights, twice A3's) for an hour of wall time, as the goal is
# stated: `bench_quality.py --minutes 60`, seed 0, E2 pretrained on the
# first 384 identities (as every 64x64 row's), the config's own evaluation
# every 320 steps inside the hour. Run it alone on the cores: the budget
# is wall time. Then scored refined and tuned, and its prior meshed
# (score_hour.sh). run_hour_64.sh is the same hour at A3's weights.
# The held-out set is pinned at the 8 identities it was scored on (the
# config has built 32 since; score_ids.sh scores it on them).
# Usage: experiments/2026-11-30_quality/run_hour_x2_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
experiments/2026-11-30_quality/bench_row.sh H64_hour_x2 \
    --config configs/small_cpu64.py --encoder-identities 384 --set seed=0 \
    --set data.test_identities=8 --minutes 60
experiments/2026-11-30_quality/score_hour.sh runs/quality/H64_hour_x2 \
    H64_hour_x2
