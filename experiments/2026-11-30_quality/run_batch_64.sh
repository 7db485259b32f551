#!/usr/bin/env bash
# The row of README.md, "Smaller batches, more steps, at 64x64": H64_ids1536
# (row_64.sh: the demo config at 64x64, density scale 1, 1536 training
# identities, E2 on the first 384, seed 0) trained on the same images in the
# same time, in batches of 8 for twice the steps (3666), with the EMA of G
# averaging over the same number of images (decay 0.995 a step for 0.99)
# and held-out metrics after the same images (every 400 steps): H64_batch8.
# A step of 8 costs half a step of 16 on two cores (bench_train_step.py:
# 10.8 and 10.9 images/s), so the hour holds the same images either way.
# Usage: experiments/2026-11-30_quality/run_batch_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
experiments/2026-11-30_quality/row_64.sh H64_batch8 --steps 3666 \
    --set train.batch_size=8 --set log.eval_every_steps=400 \
    --set optim.ema_decay=0.995
