#!/usr/bin/env bash
# The test command: makes .venv (if needed), installs disttensor with its test extras, runs pytest.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test,mpi,fast,examples,ray]"
exec .venv/bin/python -m pytest -q "$@"
