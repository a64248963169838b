#!/usr/bin/env bash
# Creates .venv at the repo root and installs Readout into it (with test extras if asked).
# Usage: scripts/setup.sh [test|bench|all]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
case "$extras" in
  "") spec="." ;;
  all) spec=".[test,bench]" ;;
  *) spec=".[$extras]" ;;
esac
.venv/bin/python -m pip install --quiet -e "$spec"
