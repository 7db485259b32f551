#!/usr/bin/env bash
# The rows of README.md, "The lighter branch from a second seed, and on
# every other step, at 64x64": H64_light (run_branch_time_64.sh: the demo
# config at 64x64, density scale 1, 1536 training identities, E2 on the
# first 384, without the two random-pose terms, Q at half width; 2987 steps
# of 0.883 s, the time of H64_ids1536's 1833 steps of 1.439 s)
# - H64_light_seed1: the same from seed 1.
# - H64_light_lazy2: the branch on every second step only
#   (train.branch_every=2), plain GAN steps of 0.215 s between, so 4804
#   steps of 0.549 s on average in the same time (evaluations not counted;
#   both step costs from bench_train_step.py at batch 16 on quiet cores).
# Usage: experiments/2026-11-30_quality/run_light_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
light=(--set loss.identity_random_weight=0 --set loss.recon_gan_weight=0
       --set identity.q_width=16)
experiments/2026-11-30_quality/row_64.sh H64_light_seed1 --steps 2987 \
    "${light[@]}" --set seed=1
experiments/2026-11-30_quality/row_64.sh H64_light_lazy2 --steps 4804 \
    "${light[@]}" --set train.branch_every=2
