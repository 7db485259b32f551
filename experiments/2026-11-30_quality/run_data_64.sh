#!/usr/bin/env bash
# The row of README.md, "Four times the data at 64x64": the hour at 64x64
# (R64_60min's config: the demo config at 64x64 with the object's density
# scale 1) on 1536 training identities instead of 384, with the same E2
# (pretrained on the first 384, as every other row's), seed 0, held-out
# metrics every 200 steps as P1_64px_density1's, alone on the two cores. The
# checkpoint is then scored after the demo's refinement and tuning, and four
# of its prior's meshes are exported and drawn from five yaws
# ($run/prior_meshes/meshes.png).
# Usage: experiments/2026-11-30_quality/run_data_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
name=H64_ids1536
run=runs/quality/$name
.venv/bin/python experiments/bench_quality.py \
    --config experiments/2026-11-30_quality/demo_900.py \
    --workdir $run --minutes 60 --set data.image_size=64 \
    --set render.density_scale=1.0 --set data.train_identities=1536 \
    --encoder-identities 384 --set log.eval_every_steps=200 --set seed=0 \
    2>/dev/null | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
experiments/2026-11-30_quality/score_hour.sh $run $name
