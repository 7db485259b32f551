#!/usr/bin/env bash
# Which of the test-time loss's terms help refinement and tuning: each
# given run (D32_cross_x2 and its seeds; H64_hour_x2) scored as the demo
# scores it (`evaluate --refine-steps STEPS
# --tune-generator --every-stage`), with one variant of config.refine:
#   id0      no identity term (refine.identity_weight=0)
#   mirror0  no mirror image as a second target (refine.mirror_weight=0)
#   pixels   neither: L1 and E2's perceptual distance, the prior and the
#            pose pull alone
# Each variant evaluates through a view of the run (its checkpoint, config
# and E2 linked) under runs/quality/refine_terms, so the run's own eval
# files stay as they are. Rows are named RUN_VARIANT_refineSTEPS[_tune].
# Usage: experiments/2026-11-30_quality/run_refine_terms.sh STEPS \
#   VARIANT RUN... >> results_refine_terms.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=$1
variant=$2
shift 2
case $variant in
  id0) overrides=(--config.refine.identity_weight=0.0) ;;
  mirror0) overrides=(--config.refine.mirror_weight=0.0) ;;
  pixels) overrides=(--config.refine.identity_weight=0.0
                     --config.refine.mirror_weight=0.0) ;;
  *) echo "unknown variant $variant (id0, mirror0 or pixels)" >&2; exit 2 ;;
esac
table=experiments/2026-11-30_quality/table.py
for run in "$@"; do
  name=$(basename "$run")_$variant
  view=runs/quality/refine_terms/$name
  mkdir -p "$view"
  for part in ckpt config.json identity_encoder; do
    ln -sfn "$(realpath "$run/$part")" "$view/$part"
  done
  .venv/bin/jaxface evaluate --workdir "$view" --refine-steps "$steps" \
      --tune-generator --every-stage --mesh-resolution 0 \
      "${overrides[@]}" > /dev/null
  step=$(ls "$view/eval" | sed -n "s/^metrics_step\([0-9]*\)_refine${steps}_tune.json$/\1/p")
  .venv/bin/python $table --row "${name}_refine$steps" \
      "$view/eval/metrics_step${step}_refine$steps.json"
  .venv/bin/python $table --row "${name}_refine${steps}_tune" \
      "$view/eval/metrics_step${step}_refine${steps}_tune.json"
done
