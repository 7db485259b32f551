#!/usr/bin/env bash
# The hour config (configs/small_cpu64.py) for an hour of wall time, with
# the cross-view term pinned at A3's weights as it ran (the config took the
# demo's twice as strong later, "The demo's cross-view term at 64x64"),
# as the goal is stated: `bench_quality.py --minutes 60`, seed 0, E2
# pretrained on the first 384 identities (as every 64x64 row's), the
# config's own evaluation every 320 steps inside the hour (row_hour_64.sh).
# Run it alone on the cores: the budget is wall time. Then scored refined
# and tuned, and its prior meshed (score_hour.sh).
# Usage: experiments/2026-11-30_quality/run_hour_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
experiments/2026-11-30_quality/row_hour_64.sh H64_hour --minutes 60
