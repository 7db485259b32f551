#!/usr/bin/env bash
# The rows of README.md, "Mirrors": the demo config at its 900 steps,
# unchanged (D900_check, seed 0, as D900_demo) and with half the training
# images mirrored (M900_mirror, `data.mirror`). D900_check's checkpoint is
# then scored after the demo's refinement, and after its refinement and
# tuning (`evaluate --refine-steps 100 [--tune-generator]`), without and
# with Q's mirrored pose reading (`refine.mirror_pose`) and with the mirror
# image as a second target (`refine.mirror_weight`); M900_mirror's
# checkpoint, tuned without and with that target, is the second check.
# Last, Q's pose over all 64 held-out images, read alone and with the
# mirror image. The two training rows ran at the same time on the two
# cores; the scorings ran one at a time, some beside the demo's training.
# Usage:
#   experiments/2026-11-30_quality/run_mirrors.sh \
#     > experiments/2026-11-30_quality/results_mirrors.jsonl
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
bench D900_check &
bench M900_mirror --set data.mirror=True &
wait
scored() {  # run, row name, then evaluate's options
  local run=runs/quality/$1 name=$2
  shift 2
  .venv/bin/jaxface evaluate --workdir $run --refine-steps 100 \
      --mesh-resolution 0 --out $run/eval/$name.json "$@" > /dev/null
  .venv/bin/python $here/table.py --row "$name" $run/eval/$name.json
}
plain="--config.refine.mirror_pose=False --config.refine.mirror_weight=0.0"
pose="--config.refine.mirror_pose=True --config.refine.mirror_weight=0.0"
half="--config.refine.mirror_pose=True --config.refine.mirror_weight=0.5"
one="--config.refine.mirror_pose=True --config.refine.mirror_weight=1.0"
# shellcheck disable=SC2086
{
  scored D900_check D900_check_refine100_plain $plain
  scored D900_check D900_check_refine100_mirror_pose $pose
  scored D900_check D900_check_tune_plain --tune-generator $plain
  scored D900_check D900_check_tune_mirror_pose --tune-generator $pose
  scored D900_check D900_check_tune_mirror_w0.5 --tune-generator $half
  scored D900_check D900_check_tune_mirror_w1 --tune-generator $one
  scored D900_check D900_check_refine100_mirror_w0.5 $half
  scored M900_mirror M900_mirror_tune_mirror_pose --tune-generator $pose
  scored M900_mirror M900_mirror_tune_mirror_w0.5 --tune-generator $half
}
.venv/bin/python $here/pose_bias.py runs/quality/D900_check \
    runs/quality/M900_mirror >> $here/pose_bias.jsonl
