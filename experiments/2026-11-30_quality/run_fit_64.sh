#!/usr/bin/env bash
# The rows of README.md, "Momentum, and a lighter KL, at 64x64": H64_ids1536
# (row_64.sh: the demo config at 64x64, density scale 1, 1536 training
# identities, E2 on the first 384, seed 0, 1833 steps) with Adam's first
# beta 0.9 for G and the identity branch, D's left at 0
# (`optim.adam_b1=0.9`, H64_momentum), or with the KL term of Q's codes a
# tenth as heavy (`loss.kl_weight=1e-4`, H64_kl1e-4).
# Usage: experiments/2026-11-30_quality/run_fit_64.sh [ROW] > rows.jsonl
# (both rows in turn, or only ROW: the two ran partly side by side).
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-all}" in
  H64_momentum|H64_kl1e-4|all) ;;
  *) echo "unknown row $1: H64_momentum, H64_kl1e-4 or none" >&2; exit 2 ;;
esac
case "${1:-all}" in
  H64_momentum|all) experiments/2026-11-30_quality/row_64.sh H64_momentum \
      --set optim.adam_b1=0.9 ;;&
  H64_kl1e-4|all) experiments/2026-11-30_quality/row_64.sh H64_kl1e-4 \
      --set loss.kl_weight=1e-4 ;;
esac
