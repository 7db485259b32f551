#!/usr/bin/env bash
# The demo's cross-view term (twice A3's weights) at 64x64, against the
# hour config as it was (A3's weights), 2240 steps each, run together.
# The JSON lines record the overrides as the rows ran, before
# row_hour_64.sh pinned A3's weights (then the config's own).
# Usage: experiments/2026-11-30_quality/run_cross_64.sh > results_cross_64.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
row=experiments/2026-11-30_quality/row_hour_64.sh
# A failed row fails the script (a bare `wait` would return 0).
$row H64_hourcfg --steps 2240 &
control=$!
$row H64_cross_x2 --steps 2240 --set loss.cross_view_weight=2.0 \
    --set loss.cross_view_perceptual_weight=1.0 &
wait $control
wait $!
