#!/usr/bin/env bash
# "Learning rates, more identities and a stronger cross-view term, at the
# demo's 32x32": each row changes one thing in the demo's recipe as it
# was before these rows (row_demo_32.sh), and D32_base changes nothing,
# as the control trained with this machine's E2 and scored by its judge
# (both pretrained afresh).
# The rows ran two or three at a time. Usage: ... > rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
row=experiments/2026-11-30_quality/row_demo_32.sh
$row D32_lr2e-3 --set optim.g_lr=2e-3 --set optim.d_lr=2e-3 \
    --set optim.branch_lr=2e-3
$row D32_lr5e-4 --set optim.g_lr=5e-4 --set optim.d_lr=5e-4 \
    --set optim.branch_lr=5e-4
$row D32_ids1536 --set data.train_identities=1536 --encoder-identities 384
$row D32_cross_x2 --set loss.cross_view_weight=2.0 \
    --set loss.cross_view_perceptual_weight=1.0
$row D32_base
$row D32_cross_x2_seed1 --set loss.cross_view_weight=2.0 \
    --set loss.cross_view_perceptual_weight=1.0 --set seed=1
$row D32_base_seed1 --set seed=1
# The seed-0 control and cross-view rows refined and tuned as the demo is.
score=experiments/2026-11-30_quality/score_hour.sh
$score runs/quality/D32_base D32_base
$score runs/quality/D32_cross_x2 D32_cross_x2
# A third seed of the control and the cross-view row, run after the rest.
$row D32_base_seed2 --set seed=2
$row D32_cross_x2_seed2 --set loss.cross_view_weight=2.0 \
    --set loss.cross_view_perceptual_weight=1.0 --set seed=2
# The cross-view term at four times A3's weights, seeds 0 and 1, run after
# the demo took twice.
$row D32_cross_x4 --set loss.cross_view_weight=4.0 \
    --set loss.cross_view_perceptual_weight=2.0
$row D32_cross_x4_seed1 --set loss.cross_view_weight=4.0 \
    --set loss.cross_view_perceptual_weight=2.0 --set seed=1
# Seeds 1 and 2 of the cross-view row and the control refined and tuned.
for run in D32_cross_x2_seed1 D32_base_seed1 D32_cross_x2_seed2 \
    D32_base_seed2; do
  $score runs/quality/$run $run
done
