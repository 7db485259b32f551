#!/usr/bin/env bash
# A row of README.md, "Larger codes, and bilinear feature upsampling, at
# 64x64": H64_ids1536 (run_data_64.sh: the demo config at 64x64, the
# object's density scale 1, 1536 training identities, E2 pretrained on the
# first 384, seed 0, held-out metrics every 200 steps) with shape and appearance codes of 128 dimensions instead of 64
# (GIRAFFE's are 256). A step budget of H64_ids1536's 1833 steps, so the
# figures do not depend on what else shares the cores; the step's cost is
# measured apart (bench_train_step.py). The checkpoint is then scored after
# the demo's refinement and tuning, and four of its prior's meshes drawn.
# Usage: experiments/2026-11-30_quality/run_codes_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
experiments/2026-11-30_quality/row_64.sh H64_codes128 \
    --set field.z_shape_dim=128 --set field.z_app_dim=128
