#!/usr/bin/env bash
# The row of README.md, "Solid heads", that tries a milder density scale:
#   K2_density_scale   the demo config (density scale 4) with scale 2,
#                      seed 0, 900 steps, against K4_density_scale
#                      (results_solid.jsonl), then scored refined and tuned
#                      as the demo scores it.
# It trained while the test suite shared the cores, so its sec_per_step is
# not the step's cost.
# Usage:
#   experiments/2026-11-30_quality/run_density.sh \
#     > experiments/2026-11-30_quality/results_density.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
here=experiments/2026-11-30_quality
name=K2_density_scale
run=runs/quality/$name
.venv/bin/python experiments/bench_quality.py \
    --config experiments/2026-11-30_quality/demo_900.py \
    --workdir $run --steps 900 --set seed=0 --set render.density_scale=2.0 \
    2>/dev/null | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
.venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
    --tune-generator --every-stage --mesh-resolution 0 > /dev/null
.venv/bin/python $here/table.py --row "${name}_refine100" \
    $run/eval/metrics_step900_refine100.json
.venv/bin/python $here/table.py --row "${name}_tune" \
    $run/eval/metrics_step900_refine100_tune.json
