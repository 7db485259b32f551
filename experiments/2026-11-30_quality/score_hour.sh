#!/usr/bin/env bash
# Scores an hour's run as the demo is scored and looks at its prior: the
# refined and tuned rows (`evaluate --refine-steps 100 --tune-generator
# --every-stage`, printed as JSON lines named NAME_refine100 and
# NAME_refine100_tune), then four of the prior's meshes exported and drawn
# from five yaws into RUN/prior_meshes/meshes.png.
# Usage: experiments/2026-11-30_quality/score_hour.sh RUN NAME >> rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
run=$1
name=$2
table=experiments/2026-11-30_quality/table.py
.venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
    --tune-generator --every-stage --mesh-resolution 0 > /dev/null
step=$(ls $run/eval | sed -n 's/^metrics_step\([0-9]*\)_refine100_tune.json$/\1/p')
.venv/bin/python $table --row ${name}_refine100 \
    $run/eval/metrics_step${step}_refine100.json
.venv/bin/python $table --row ${name}_refine100_tune \
    $run/eval/metrics_step${step}_refine100_tune.json
.venv/bin/jaxface export-mesh --workdir $run --out $run/prior_meshes \
    --seed 0 --num-faces 4 --mesh-resolution 96 > /dev/null
.venv/bin/python - $run <<'PY'
import json, pathlib, sys
import imageio.v3 as iio
import ml_collections
sys.path.insert(0, "experiments")
import demo_report
run = pathlib.Path(sys.argv[1])
config = ml_collections.ConfigDict(json.loads((run / "config.json").read_text()))
iio.imwrite(run / "prior_meshes" / "meshes.png",
            demo_report.mesh_strip(run / "prior_meshes", config))
PY
