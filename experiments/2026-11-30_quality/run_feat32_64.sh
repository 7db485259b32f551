#!/usr/bin/env bash
# The row of README.md, "A 32x32 feature image at 64x64": H64_ids1536's hour
# (the demo config at 64x64, the object's density scale 1, 1536 training
# identities, E2 pretrained on the first 384, seed 0, held-out metrics every
# 200 steps, alone on the two cores) with the field rendered to a 32x32
# feature image instead of 16x16, so the neural renderer upsamples twice, not
# four times. Each step costs about twice as much, so the hour holds about
# half the steps. The checkpoint is then scored after the demo's refinement
# and tuning, and four of its prior's meshes are exported and drawn from
# five yaws ($run/prior_meshes/meshes.png).
# Usage: experiments/2026-11-30_quality/run_feat32_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
name=H64_feat32
run=runs/quality/$name
.venv/bin/python experiments/bench_quality.py \
    --config experiments/2026-11-30_quality/demo_900.py \
    --workdir $run --minutes 60 --set data.image_size=64 \
    --set render.density_scale=1.0 --set data.train_identities=1536 \
    --set render.feature_size=32 \
    --encoder-identities 384 --set log.eval_every_steps=200 --set seed=0 \
    2>/dev/null | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
experiments/2026-11-30_quality/score_hour.sh $run $name
