#!/usr/bin/env bash
# The rows of README.md, "Appearance planes, and a second seed, at 64x64":
# H64_ids1536 (run_data_64.sh: the demo config at 64x64, the object's
# density scale 1, 1536 training identities, E2 pretrained on the first
# 384, held-out metrics every 200 steps) with three appearance planes made
# from both codes and read at every point (`field.appearance=planes`,
# H64_app_planes, seed 0), and H64_ids1536 itself again from seed 1
# (H64_ids1536_seed1): how far one seed's figures move. A step budget of
# H64_ids1536's 1833 steps, so the figures do not depend on what else
# shares the cores. Each checkpoint is then scored after the demo's
# refinement and tuning, and four of its prior's meshes drawn.
# Usage: experiments/2026-11-30_quality/run_appearance_64.sh [ROW] > rows.jsonl
# (both rows in turn, or only ROW: each row ran as a call of its own).
set -euo pipefail
cd "$(dirname "$0")/../.."
row() {  # name, then the row's own settings
  experiments/2026-11-30_quality/row_64.sh "$@"
}
case "${1:-all}" in
  H64_app_planes|H64_ids1536_seed1|all) ;;
  *) echo "unknown row $1: H64_app_planes, H64_ids1536_seed1 or none" >&2
     exit 2 ;;
esac
case "${1:-all}" in
  H64_app_planes|all) row H64_app_planes --set field.appearance=planes \
      --set seed=0 ;;&
  H64_ids1536_seed1|all) row H64_ids1536_seed1 --set seed=1 ;;
esac
