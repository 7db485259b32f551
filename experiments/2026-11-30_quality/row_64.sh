#!/usr/bin/env bash
# One row at 64x64 against H64_ids1536 (run_data_64.sh: the demo config as
# the rows ran it, demo_900.py with its full identity branch, at 64x64, the
# object's density scale 1, 1536 training identities, E2
# pretrained on the first 384, seed 0, held-out metrics every 200 steps),
# with the row's own settings after the name (a later --set or --steps
# wins, so --set seed=1 changes the seed). A step budget of H64_ids1536's
# 1833 steps, so the figures do not depend on what else shares the cores; the
# step's cost is measured apart (bench_train_step.py). Prints the row's
# JSON line, then score_hour.sh's: the checkpoint scored after the demo's
# refinement and tuning, and four of its prior's meshes drawn. The
# training's log goes to runs/quality/NAME.stderr.
# Usage: experiments/2026-11-30_quality/row_64.sh NAME [--set KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1
shift
experiments/2026-11-30_quality/bench_row.sh "$name" \
    --config experiments/2026-11-30_quality/demo_900.py \
    --steps 1833 --set data.image_size=64 \
    --set render.density_scale=1.0 --set data.train_identities=1536 \
    --encoder-identities 384 --set log.eval_every_steps=200 --set seed=0 \
    "$@"
experiments/2026-11-30_quality/score_hour.sh runs/quality/$name $name
