#!/usr/bin/env bash
# A row of README.md, "Larger codes, and bilinear feature upsampling, at
# 64x64": H64_ids1536 (run_data_64.sh: the demo config at 64x64, the
# object's density scale 1, 1536 training identities, E2 pretrained on the
# first 384, seed 0, held-out metrics every 200 steps) with the neural renderer doubling its feature
# maps bilinearly (`neural_renderer.upsample=bilinear`) instead of by
# repeating each pixel: the 64x64 reconstructions carry a plaid with the
# 16x16 feature image's period. A step budget of H64_ids1536's 1833 steps,
# so the figures do not depend on what else shares the cores. The
# checkpoint is then scored after the demo's refinement and tuning, and four
# of its prior's meshes drawn.
# Usage: experiments/2026-11-30_quality/run_renderer_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
name=H64_bilinear_renderer
run=runs/quality/$name
.venv/bin/python experiments/bench_quality.py --config configs/small_cpu.py \
    --workdir $run --steps 1833 --set data.image_size=64 \
    --set render.density_scale=1.0 --set data.train_identities=1536 \
    --set neural_renderer.upsample=bilinear \
    --encoder-identities 384 --set log.eval_every_steps=200 --set seed=0 \
    2>/dev/null | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
experiments/2026-11-30_quality/score_hour.sh $run $name
