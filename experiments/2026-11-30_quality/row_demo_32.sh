#!/usr/bin/env bash
# One row on the demo's recipe before its cross-view term was doubled: the
# row D32_light_ds1 of "Density scale 1 at the demo's 32x32" (demo_900.py
# with the four changes that configs/small_cpu.py took, seed 0, 1277 steps,
# held-out metrics every 100 steps), then the caller's arguments (later ones
# win); D32_cross_x2 (its two cross-view --sets) is today's demo recipe.
# Usage: experiments/2026-11-30_quality/row_demo_32.sh NAME [--set k=v ...]
#   >> rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1
shift
experiments/2026-11-30_quality/row_32.sh "$name" --steps 1277 \
    --set loss.identity_random_weight=0 --set loss.recon_gan_weight=0 \
    --set identity.q_width=16 --set render.density_scale=1.0 "$@"
