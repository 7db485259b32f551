#!/usr/bin/env bash
# The rows of README.md, "Momentum for the generator and Q, at 64x64":
# H64_ids1536 (run_data_64.sh: the demo config at 64x64, the object's
# density scale 1, 1536 training identities, E2 pretrained on the first
# 384, held-out metrics every 200 steps, seed 0) with Adam's first beta 0.9
# for G and the identity branch (`optim.adam_b1=0.9`), D's left at 0
# (H64_momentum). A step budget of H64_ids1536's 1833 steps, so the figures
# do not depend on what else shares the cores. The checkpoint is then
# scored after the demo's refinement and tuning, and four of its prior's
# meshes drawn.
# Usage: experiments/2026-11-30_quality/run_momentum_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
row() {  # name, then the row's own settings
  local name=$1
  shift
  local run=runs/quality/$name
  .venv/bin/python experiments/bench_quality.py --config configs/small_cpu.py \
      --workdir $run --steps 1833 --set data.image_size=64 \
      --set render.density_scale=1.0 --set data.train_identities=1536 \
      --encoder-identities 384 --set log.eval_every_steps=200 "$@" \
      2> runs/quality/$name.stderr | grep '^{' \
      | sed "s/^{/{\"row\": \"$name\", /"
  experiments/2026-11-30_quality/score_hour.sh $run $name
}
row H64_momentum --set optim.adam_b1=0.9 --set seed=0
