#!/usr/bin/env bash
# Run the README's test command while two CPU-burning processes run beside it: the suite
# must pass on a busy machine (no assertion may depend on wall-clock speed). Run it
# before a release: `bash scripts/busy_check.sh` (uses .venv, created by the README's
# second command).
set -euo pipefail
cd "$(dirname "$0")/.."
hogs=()
for _ in 1 2; do
    python3 -c 'while True: pass' &
    hogs+=("$!")
done
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
.venv/bin/python -m pytest "$@"
