#!/usr/bin/env bash
# The rows of README.md, "Where the identity branch's work goes, and a
# lighter branch in the same time, at 64x64": H64_ids1536 (row_64.sh: the
# demo config at 64x64, density scale 1, 1536 training identities, E2 on the
# first 384, seed 0) with the branch's work cut, each for the steps that
# H64_ids1536's 1833 steps of 1.439 s take (bench_train_step.py at batch
# 16 on quiet cores; evaluations not counted):
# - H64_no_novel: without the two terms that read the render of Q's codes at
#   random poses (loss.identity_random_weight, loss.recon_gan_weight), which
#   is then not drawn: 1.152 s a step, so 2291 steps.
# - H64_light: the same, and Q (the encoder, run on the real images and on
#   the prior samples every step) at half the width (identity.q_width=16
#   for 32): 0.883 s a step, so 2987 steps.
# Usage: experiments/2026-11-30_quality/run_branch_time_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
experiments/2026-11-30_quality/row_64.sh H64_no_novel --steps 2291 \
    --set loss.identity_random_weight=0 --set loss.recon_gan_weight=0
experiments/2026-11-30_quality/row_64.sh H64_light --steps 2987 \
    --set loss.identity_random_weight=0 --set loss.recon_gan_weight=0 \
    --set identity.q_width=16
