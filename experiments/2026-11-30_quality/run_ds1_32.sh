#!/usr/bin/env bash
# Two controls for D32_light_ds1 (run_light_32_ds1.sh), feed-forward only
# (no refine/tune scoring, for time): the same from seed 1, and the demo's
# full branch at density scale 1 for the demo's 900 steps (the time of
# D32_light_ds1's 1277). Held-out metrics every 100 steps. Logs go to
# runs/quality/NAME.stderr. Usage: ... > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
row() {
  experiments/2026-11-30_quality/row_32.sh "$@" --set render.density_scale=1.0
}
row D32_light_ds1_seed1 --steps 1277 --set seed=1 \
    --set loss.identity_random_weight=0 --set loss.recon_gan_weight=0 \
    --set identity.q_width=16 &
row D32_full_ds1 --steps 900
wait
