#!/usr/bin/env bash
# The rows of README.md, "Pose labels, learning-rate decay, view direction
# and pivotal tuning (900 steps)": each changes one thing in the demo config
# of "Gradient clipping" (D900_demo), at the demo's 900 steps. Appends JSON
# lines (one per row) to stdout. P900_rp10's checkpoint is then scored after
# refinement and after pivotal tuning with four settings of the tuning.
# Usage: experiments/2026-11-30_quality/run_900.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=(
  "P900_rp10|--set loss.real_pose_weight=10.0"
  "C900_cosine|--set optim.schedule=cosine"
  "V900_seed0|--set field.view_freqs=0 --set seed=0"
  "V900_seed1|--set field.view_freqs=0 --set seed=1"
  "V900_seed2|--set field.view_freqs=0 --set seed=2"
)
table=experiments/2026-11-30_quality/table.py
# render.density_scale=1.0: the demo config as these rows ran (it is 4 since
# "Solid heads").
for row in "${rows[@]}"; do
  name=${row%%|*}
  args=${row#*|}
  # shellcheck disable=SC2086
  .venv/bin/python experiments/bench_quality.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --steps 900 --workdir "runs/quality/$name" \
      --set render.density_scale=1.0 $args 2>/dev/null \
      | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
done
run=runs/quality/P900_rp10
tuning=(
  "tune_fieldonly|--config.refine.tune_renderer=False --config.refine.tune_lr=3e-4"
  "tune_lr1e-4|--config.refine.tune_renderer=True --config.refine.tune_lr=1e-4"
  "tune_fieldonly_lr1e-4|--config.refine.tune_renderer=False --config.refine.tune_lr=1e-4"
)
.venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
    --mesh-resolution 0 > /dev/null
.venv/bin/python $table --row P900_rp10_refine100 \
    $run/eval/metrics_step900_refine100.json
# refine's defaults (the whole generator tuned at 3e-4), both sets and mesh.
.venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
    --tune-generator --config.refine.tune_renderer=True \
    --config.refine.tune_lr=3e-4 > /dev/null
.venv/bin/python $table --row P900_rp10_refine100_tune \
    $run/eval/metrics_step900_refine100_tune.json
for item in "${tuning[@]}"; do
  name=${item%%|*}
  args=${item#*|}
  # shellcheck disable=SC2086
  .venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
      --tune-generator --mesh-resolution 0 --sets clean \
      --out $run/eval/$name.json $args > /dev/null
  .venv/bin/python $table --row "P900_rp10_refine100_$name" \
      $run/eval/$name.json
done
