#!/usr/bin/env bash
# One row: bench_quality.py with the caller's arguments, its workdir
# runs/quality/NAME, its JSON line printed with "row": NAME first and its
# training log in runs/quality/NAME.stderr. The row_*.sh scripts give it
# their base config and settings.
# Usage: experiments/2026-11-30_quality/bench_row.sh NAME [bench_quality.py args]
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1
shift
mkdir -p runs/quality
.venv/bin/python experiments/bench_quality.py \
    --workdir runs/quality/$name "$@" 2> runs/quality/$name.stderr \
  | grep '^{' | sed "s/^{/{\"row\": \"$name\", /"
