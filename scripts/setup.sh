#!/usr/bin/env bash
# Creates .venv at the repo root and installs Readout into it (with test extras if asked).
# Usage: scripts/setup.sh [test|bench|all]. Needs only Python 3.11+ (python3 on PATH).
# An install already done for the same pyproject.toml and extras is not repeated (the
# install is editable, so code changes need none).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Readout needs Python 3.11 or newer (python3 is $(python3 --version 2>&1))" >&2; exit 1; }
case "$extras" in
  "") spec="." ;;
  all) spec=".[test,bench]" ;;
  *) spec=".[$extras]" ;;
esac
stamp=".venv/.readout-installed"
want="$spec $(python3 -c 'import hashlib,sys; print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest())')"
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e "$spec"
echo "$want" >>"$stamp"
