#!/usr/bin/env bash
# The ablation of experiments/2026-11-30_quality/README.md: each row adds one
# change to a row above (the README says which), at the same budget of 500
# steps (STEPS).
# Usage: experiments/2026-11-30_quality/run.sh [FIRST_ROW] > results.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${STEPS:-500}
rows=(
  "A0_demo"
  "A1_giraffe_fixes|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0)"
  "A2_pixel_jitter|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True"
  "A3_cross_view|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True --set data.pairs=True --set loss.cross_view_weight=1.0 --set loss.cross_view_perceptual_weight=0.5"
  "A4_opacity|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True --set data.pairs=True --set loss.cross_view_weight=1.0 --set loss.cross_view_perceptual_weight=0.5 --set loss.opacity_binary_weight=0.1"
  # A4 is left out from here on. A5, A6 and A7 each add one change to A3.
  "A5_l1_x10|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True --set data.pairs=True --set loss.cross_view_weight=10.0 --set loss.cross_view_perceptual_weight=0.5 --set loss.l1_weight=10.0"
  "A6_pos_freqs4|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True --set data.pairs=True --set loss.cross_view_weight=1.0 --set loss.cross_view_perceptual_weight=0.5 --set field.pos_freqs=4"
  "A7_triplane|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True --set data.pairs=True --set loss.cross_view_weight=1.0 --set loss.cross_view_perceptual_weight=0.5 --set field.kind=triplane"
  # A8 adds one change to A7.
  "A8_mean_codes|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True --set data.pairs=True --set loss.cross_view_weight=1.0 --set loss.cross_view_perceptual_weight=0.5 --set field.kind=triplane --set identity.code_noise=0.0"
  # A9 adds one change to A5.
  "A9_l1_x10_pos_freqs4|--set field.downscale=2.0 --set disc.input_range=(0.0,1.0) --set render.pixel_jitter=True --set data.pairs=True --set loss.cross_view_weight=10.0 --set loss.cross_view_perceptual_weight=0.5 --set loss.l1_weight=10.0 --set field.pos_freqs=4"
)
first=${1:-0}
for row in "${rows[@]:$first}"; do
  name=${row%%|*}
  args=""
  [[ "$row" == *"|"* ]] && args=${row#*|}
  # shellcheck disable=SC2086
  .venv/bin/python experiments/bench_quality.py \
      --config experiments/2026-11-30_quality/demo_900.py \
      --steps "$steps" --workdir "runs/quality/$name" $args 2>/dev/null \
      | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
done
