#!/usr/bin/env bash
# The rows of README.md, "Smooth plane upsampling, and an hour at 64x64":
# B900 changes one thing in the demo config (D900_demo): the tri-plane
# generator doubles its maps bilinearly (`field.plane_upsample=bilinear`),
# seed 0, 900 steps; it is then scored after refinement and pivotal tuning
# (the demo's `evaluate --refine-steps 100 --tune-generator`).
# R64_60min trains the demo config at 64x64 for 60 minutes of wall time.
# Every row ran alone on the two cores.
# Usage: experiments/2026-11-30_quality/run_planes_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
table=experiments/2026-11-30_quality/table.py
# render.density_scale=1.0: the demo config as these rows ran (it is 4 since
# "Solid heads").
bench() {  # name, then bench_quality.py's arguments
  local name=$1
  shift
  .venv/bin/python experiments/bench_quality.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --workdir "runs/quality/$name" --set render.density_scale=1.0 "$@" 2>/dev/null \
      | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
}
name=B900_seed0
bench $name --steps 900 --set field.plane_upsample=bilinear --set seed=0
run=runs/quality/$name
.venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
    --tune-generator > /dev/null
.venv/bin/python $table --row ${name}_refine100_tune \
    $run/eval/metrics_step900_refine100_tune.json
bench R64_60min --minutes 60 --set data.image_size=64
# The hour's checkpoint through the demo's refinement and tuning. (The
# prior's samples are training's own, in $run/samples/.)
run=runs/quality/R64_60min
.venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
    --tune-generator > /dev/null
.venv/bin/python $table --row R64_60min_refine100_tune \
    $run/eval/metrics_step2633_refine100_tune.json
