#!/usr/bin/env bash
# The 800-step rows of README.md, "More identities, pose labels and
# refinement": each changes one thing in the demo config as it was before
# those changes (96 training identities, no pose labels), at the demo's
# budget of 800 steps, then scores the checkpoint again after 100 steps of
# test-time refinement. Appends JSON lines (one per row) to stdout.
# Usage: experiments/2026-11-30_quality/run_800.sh > more_rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
# Settings the demo config has taken since these rows ran, set back.
pinned="--set loss.pose_pitch_weight=1.0 --set train.ynn_convolutions=True --set optim.grad_clip=0.0 --set render.density_scale=1.0"
before="--set data.train_identities=96"
rows=(
  "T800_triplane|$before"
  "K800_kl_1e-4|$before --set loss.kl_weight=1e-4"
  "I800_ids384|--set data.train_identities=384"
  "P800_real_pose|$before --set loss.real_pose_weight=1.0"
  # The demo config itself (both changes) with another seed: is its lower
  # opacity and mesh coverage noise?
  "D800_seed1|--set seed=1"
)
table=experiments/2026-11-30_quality/table.py
for row in "${rows[@]}"; do
  name=${row%%|*}
  args=${row#*|}
  # shellcheck disable=SC2086
  .venv/bin/python experiments/bench_quality.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --steps 800 --workdir "runs/quality/$name" $pinned $args 2>/dev/null \
      | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
  .venv/bin/jaxface evaluate --workdir "runs/quality/$name" --refine-steps 100 \
      --mesh-resolution 0 --config.refine.pose_weight=0.0 > /dev/null 2>&1
  .venv/bin/python "$table" --row "${name}_refine100" \
      "runs/quality/$name/eval/metrics_step800_refine100.json"
done
