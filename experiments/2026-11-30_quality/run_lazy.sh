#!/usr/bin/env bash
# The rows of README.md, "A cheaper identity branch": the demo config at its
# 900 steps with the identity branch on every second (L2_branch_every2) or
# every third step (L3_branch_every3), or on every step but on 8 of the 16
# images (B8_branch_batch8); seed 0, as D900_check (results_mirrors.jsonl).
# L2 and L3 trained at the same time on the two cores, then B8 (beside
# their scoring). Each checkpoint is then scored refined and tuned as the
# demo scores it (`evaluate --refine-steps 100 --tune-generator
# --every-stage`).
# Usage:
#   experiments/2026-11-30_quality/run_lazy.sh \
#     > experiments/2026-11-30_quality/results_lazy.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
here=experiments/2026-11-30_quality
# render.density_scale=1.0: the demo config as these rows ran (it is 4 since
# "Solid heads").
bench() {  # name, then bench_quality.py's arguments
  local name=$1
  shift
  .venv/bin/python experiments/bench_quality.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --workdir "runs/quality/$name" --set render.density_scale=1.0 --steps 900 --set seed=0 "$@" \
      2>/dev/null | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
}
bench L2_branch_every2 --set train.branch_every=2 &
bench L3_branch_every3 --set train.branch_every=3 &
wait
bench B8_branch_batch8 --set train.branch_batch_size=8
for name in L2_branch_every2 L3_branch_every3 B8_branch_batch8; do
  run=runs/quality/$name
  .venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
      --tune-generator --every-stage --mesh-resolution 0 > /dev/null
  .venv/bin/python $here/table.py --row "${name}_refine100" \
      $run/eval/metrics_step900_refine100.json
  .venv/bin/python $here/table.py --row "${name}_tune" \
      $run/eval/metrics_step900_refine100_tune.json
done
