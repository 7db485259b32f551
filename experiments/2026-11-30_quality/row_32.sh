#!/usr/bin/env bash
# One 32x32 row: the demo config as the rows ran it (demo_900.py: density
# scale 4, the full identity branch) trained from scratch by bench_quality.py,
# seed 0 and held-out metrics every 100 steps, then the caller's arguments
# (later ones win). Prints its JSON line with "row" first; the log goes to
# runs/quality/NAME.stderr.
# Usage: experiments/2026-11-30_quality/row_32.sh NAME --steps N [--set k=v ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1
shift
experiments/2026-11-30_quality/bench_row.sh "$name" \
    --config experiments/2026-11-30_quality/demo_900.py \
    --set log.eval_every_steps=100 --set seed=0 "$@"
