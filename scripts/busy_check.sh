#!/usr/bin/env bash
# Run the tests while two CPU-burning processes run beside them: the suite must pass on a
# busy machine (no assertion may depend on wall-clock speed). Run it before a release:
#
#   bash scripts/busy_check.sh                      # the README's test command, once
#   BUSY_RUNS=10 bash scripts/busy_check.sh -p randomly -n 2 --no-cov tests/test_x.py ...
#                                                   # ten runs in a row, each in a new order
#
# Arguments go to pytest (uses .venv, created by the README's second command). It stops at
# the first failing run; pytest-randomly prints each run's seed (`--randomly-seed=N`
# replays it). The burners are killed on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${BUSY_RUNS:-1}"
hogs=()
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
for _ in 1 2; do
    python3 -c 'while 1: pass' &
    hogs+=("$!")
done
for run in $(seq "$runs"); do
    echo "busy run $run/$runs" >&2
    .venv/bin/python -m pytest "$@"
done
