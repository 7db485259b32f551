#!/usr/bin/env bash
# The rows of README.md, "A plane generator conditioned at every level, at
# 64x64": H64_ids1536 (run_data_64.sh: the demo config at 64x64, the
# object's density scale 1, 1536 training identities, E2 pretrained on the
# first 384, seed 0, held-out metrics every 200 steps) with the shape code
# scaling and shifting every level of the tri-plane generator
# (`field.plane_conditioning=film`), at the same width (H64_film) and at
# twice the width (H64_film_wide, `field.plane_width=128`). A step budget of
# H64_ids1536's 1833 steps, so the figures do not depend on what else
# shares the cores. Each checkpoint is then scored after the demo's
# refinement and tuning, and four of its prior's meshes drawn.
# Usage: experiments/2026-11-30_quality/run_film_64.sh [ROW] > rows.jsonl
# (both rows in turn, or only ROW: the two ran side by side).
set -euo pipefail
cd "$(dirname "$0")/../.."
row() {  # name, then the row's own settings (row_64.sh)
  experiments/2026-11-30_quality/row_64.sh "$1" \
      --set field.plane_conditioning=film "${@:2}"
}
case "${1:-all}" in
  H64_film|H64_film_wide|all) ;;
  *) echo "unknown row $1: H64_film, H64_film_wide or none" >&2; exit 2 ;;
esac
case "${1:-all}" in
  H64_film|all) row H64_film ;;&
  H64_film_wide|all) row H64_film_wide --set field.plane_width=128 ;;
esac
