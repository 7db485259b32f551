#!/usr/bin/env bash
# The control row of README.md, "Four times the data at 64x64": H64_ids1536's
# config and seed on the demo's 384 training identities, for the same 1833
# steps that H64_ids1536 ran in its hour (a step budget, so the row does not
# depend on what else ran on the cores), held-out metrics every 200 steps.
# Its first 800 steps are P1_64px_density1's (the same config and seed; run
# "On an accelerator", run_solid_64.sh): where that run is here, this one
# resumes from its step-800 checkpoint (a resumed run equals an
# uninterrupted one: tests/train_test.py), so its train_sec covers steps
# 800 to 1833 only. (The recorded row's sec_per_step, printed before
# bench_quality.py recorded resumed_from_step, divides that by all 1833.)
# Usage: experiments/2026-11-30_quality/run_data_64_control.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
name=H64_ids384
p1=runs/quality/P1_64px_density1
if [ ! -e runs/quality/$name ] && [ -d $p1/ckpt/800 ]; then
  cp -r $p1 runs/quality/$name
  rm -rf runs/quality/$name/eval runs/quality/$name/samples
fi
.venv/bin/python experiments/bench_quality.py \
    --config experiments/2026-11-30_quality/demo_900.py \
    --workdir runs/quality/$name --steps 1833 --set data.image_size=64 \
    --set render.density_scale=1.0 --set data.train_identities=384 \
    --encoder-identities 384 --set log.eval_every_steps=200 --set seed=0 \
    2>/dev/null | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
