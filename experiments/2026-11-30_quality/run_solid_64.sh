#!/usr/bin/env bash
# The rows of README.md, "On an accelerator", checked on the CPU: the demo
# config at 64x64 with the object's density scaled by 4 (as the demo) and
# by 1 (as the hour at 64x64, R64_60min, was trained), seed 0, 800 steps,
# held-out metrics every 200 steps (`experiments/logged_scalars.py` prints
# their curves). The two rows ran side by side on the two cores.
# Usage: experiments/2026-11-30_quality/run_solid_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
bench() {  # name, then bench_quality.py's arguments
  local name=$1
  shift
  .venv/bin/python experiments/bench_quality.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --workdir "runs/quality/$name" --set data.image_size=64 \
      --set log.eval_every_steps=200 --set seed=0 "$@" 2>/dev/null \
      | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
}
bench P4_64px_density4 --steps 800
bench P1_64px_density1 --steps 800 --set render.density_scale=1.0
