#!/usr/bin/env bash
# Runs scored on more held-out identities than they were trained beside:
# `evaluate --test-identities N` (the run's data as built with N test
# identities: the same training identities, the run's own 8 first),
# feed-forward and refined STEPS steps with the demo's refinement settings
# (no identity term), `--every-stage`, no meshes, no tuning (one tuned
# generator per identity is the slow part). Rows RUN_idsN and
# RUN_idsN_refineSTEPS. Needs the data set: jaxface make-data --identities
# <the run's> --test-identities N ...
# Usage: experiments/2026-11-30_quality/score_ids.sh N STEPS RUN... >> rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
n=$1
steps=$2
shift 2
table=experiments/2026-11-30_quality/table.py
for run in "$@"; do
  name=$(basename "$run")_ids$n
  .venv/bin/jaxface evaluate --workdir "$run" --test-identities "$n" \
      --refine-steps "$steps" --every-stage --mesh-resolution 0 \
      --config.refine.identity_weight=0.0 > /dev/null
  step=$(ls "$run/eval" | sed -n "s/^metrics_step\([0-9]*\)_refine${steps}_ids$n.json$/\1/p")
  .venv/bin/python $table --row "$name" "$run/eval/metrics_step${step}_ids$n.json"
  .venv/bin/python $table --row "${name}_refine$steps" \
      "$run/eval/metrics_step${step}_refine${steps}_ids$n.json"
done
