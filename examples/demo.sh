#!/usr/bin/env bash
# The main job: trains the classic MNIST convnet with disttensor on the CPU, on the handwritten digits
# that ship with scikit-learn (or on MNIST IDX files when MNIST_DIR points at them).
# Creates .venv if needed and installs what it needs. Usage: bash examples/demo.sh [script args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[fast,examples]"
exec .venv/bin/python examples/mnist_convnet.py "$@"
