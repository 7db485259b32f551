#!/usr/bin/env bash
# The step-matched row of README.md, "A 32x32 feature image at 64x64":
# H64_feat32 (run_feat32_64.sh) ran 934 steps in its hour, H64_ids1536 1833.
# This row continues H64_feat32 from its last checkpoint to step 1200 (a
# step budget, so the row does not depend on what else ran on the cores;
# the learning rates are constant and a resumed run equals an uninterrupted
# one: tests/train_test.py), with held-out metrics every 200 steps, to put
# beside the logged curve of H64_ids1536 at the same steps. Its train_sec
# covers the continued steps only (the recorded row's sec_per_step,
# printed before bench_quality.py recorded resumed_from_step, divides it
# by all 1200).
# Usage: experiments/2026-11-30_quality/run_feat32_64_steps.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
name=H64_feat32_steps1200
hour=runs/quality/H64_feat32
if [ ! -e runs/quality/$name ]; then
  cp -r $hour runs/quality/$name
  rm -rf runs/quality/$name/eval runs/quality/$name/samples \
      runs/quality/$name/prior_meshes
fi
.venv/bin/python experiments/bench_quality.py \
    --config experiments/2026-11-30_quality/demo_900.py \
    --workdir runs/quality/$name --steps 1200 --set data.image_size=64 \
    --set render.density_scale=1.0 --set data.train_identities=1536 \
    --set render.feature_size=32 \
    --encoder-identities 384 --set log.eval_every_steps=200 --set seed=0 \
    2>/dev/null | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
