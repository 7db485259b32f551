#!/usr/bin/env bash
# One row on the hour config as it was before it took the demo's
# cross-view weights (configs/small_cpu64.py, the demo's model at 64x64,
# 1536 identities, Q at 32x32, with the cross-view term pinned below at
# A3's weights, which H64_q32 and H64_hour ran), seed 0, E2 pretrained on
# the first 384 identities (as every 64x64 row's), the config's own
# held-out evaluation every 320 steps, for the caller's budget (--steps N,
# which holds when rows share the cores, or --minutes M, which holds only
# alone on them), then the caller's settings (later ones win). The
# held-out set is pinned at the 8 identities these rows were scored on
# (the config has built 32 since).
# Prints the row's JSON line, then score_hour.sh's (refined, tuned, the
# prior's meshes). The training's log goes to runs/quality/NAME.stderr.
# Usage: experiments/2026-11-30_quality/row_hour_64.sh NAME --steps N
#   [--set k=v ...] >> rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1
shift
experiments/2026-11-30_quality/bench_row.sh "$name" \
    --config configs/small_cpu64.py --encoder-identities 384 --set seed=0 \
    --set data.test_identities=8 --set loss.cross_view_weight=1.0 \
    --set loss.cross_view_perceptual_weight=0.5 "$@"
experiments/2026-11-30_quality/score_hour.sh runs/quality/$name $name
