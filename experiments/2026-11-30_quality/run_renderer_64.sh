#!/usr/bin/env bash
# A row of README.md, "Larger codes, and bilinear feature upsampling, at
# 64x64": H64_ids1536 (run_data_64.sh: the demo config at 64x64, the
# object's density scale 1, 1536 training identities, E2 pretrained on the
# first 384, seed 0, held-out metrics every 200 steps) with the neural renderer doubling its feature
# maps bilinearly (`neural_renderer.upsample=bilinear`) instead of by
# repeating each pixel: the 64x64 reconstructions carry a plaid with the
# 16x16 feature image's period. A step budget of H64_ids1536's 1833 steps,
# so the figures do not depend on what else shares the cores. The
# checkpoint is then scored after the demo's refinement and tuning, and four
# of its prior's meshes drawn.
# Usage: experiments/2026-11-30_quality/run_renderer_64.sh > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
experiments/2026-11-30_quality/row_64.sh H64_bilinear_renderer \
    --set neural_renderer.upsample=bilinear
