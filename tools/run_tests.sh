#!/usr/bin/env bash
# The project's test command: set up .venv if needed (tools/install.sh), then
# ruff and the whole pytest suite. Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
t0=$(date +%s)
bash tools/install.sh
t1=$(date +%s)
echo "[tests] setup took $((t1 - t0))s"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
echo "[tests] ruff + pytest took $(( $(date +%s) - t1 ))s"
