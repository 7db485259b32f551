#!/usr/bin/env bash
# Q reading each image box-filtered to 32x32 (identity.q_image_size=32) in
# the hour config's lighter branch, for the time of H64_light's 2987 steps:
# 0.839 s a step against 0.737 (bench_train_step.py, quiet cores, one run
# each), so 3400 steps. Prints one JSON line per evaluation.
set -euo pipefail
cd "$(dirname "$0")/../.."
light=(--set loss.identity_random_weight=0 --set loss.recon_gan_weight=0
       --set identity.q_width=16)
experiments/2026-11-30_quality/row_64.sh H64_q32 --steps 3400 \
    "${light[@]}" --set identity.q_image_size=32
