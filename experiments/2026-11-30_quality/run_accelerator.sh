#!/usr/bin/env bash
# The rows of README.md, "On an accelerator, and 64x64 with solid heads":
# the demo config trained from
# scratch for a few minutes of wall time on one GPU, at 64x64 and 128x128,
# each scored by bench_quality.py on the held-out identities (feed-forward,
# as the CPU hour's R64_60min row). Only the image size changes, and the
# checkpoint, sample and training-time evaluation intervals (1000 steps, not
# 300: at a GPU's pace they would otherwise take a large share of the
# budget). The budget includes compiling the step.
# Usage: MINUTES=3 SIZES="64 128" PYTHON=python3 \
#     experiments/2026-11-30_quality/run_accelerator.sh > rows.jsonl
# E2 and the judge are pretrained once into runs/quality_cache (as every
# row's), or reused from there; the data sets are made if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
MINUTES=${MINUTES:-3}
SIZES=${SIZES:-64 128}
for size in $SIZES; do
  name=A${size}_${MINUTES}min
  $PYTHON experiments/bench_quality.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --workdir "runs/quality/$name" --minutes "$MINUTES" \
      --set data.image_size="$size" --set ckpt.every_steps=1000 \
      --set log.eval_every_steps=1000 --set log.images_every_steps=1000 \
      | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
done
