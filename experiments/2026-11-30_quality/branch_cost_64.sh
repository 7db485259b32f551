#!/usr/bin/env bash
# Where the identity branch's work goes at 64x64: the demo config at 64x64
# (density scale 1) at batch 16, as XLA counts the compiled step
# (bench_train_step.py's gflop_per_step), with every branch term on, then
# with one term off at a time, then with the branch off, then without each
# group of the branch's renders (the terms that read it off), then with Q at
# half its width (identity.q_width=16 for 32: a quarter of its work), alone
# and without the random-pose render. One step is timed (sec_per_step is
# not a cost here: one step after one warm-up).
# Usage: experiments/2026-11-30_quality/branch_cost_64.sh > branch_cost_64.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
bench() {
  .venv/bin/python experiments/bench_train_step.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --batch-size 16 --steps 1 --warmup 1 \
      --set data.image_size=64 render.density_scale=1.0 "$@" 2>/dev/null \
    | grep '^{'
}
terms="identity identity_random l1 perceptual kl recon_gan pose_regression
  code_regression cross_view cross_view_perceptual real_pose"
bench
all_off=()
for term in $terms; do
  bench loss.${term}_weight=0
  all_off+=(loss.${term}_weight=0)
done
bench "${all_off[@]}"
novel=(loss.identity_random_weight=0 loss.recon_gan_weight=0)
swap=(loss.cross_view_weight=0 loss.cross_view_perceptual_weight=0)
bench "${novel[@]}"
bench "${swap[@]}"
bench "${novel[@]}" "${swap[@]}"
bench identity.q_width=16
bench identity.q_width=16 "${novel[@]}"
