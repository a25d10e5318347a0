#!/usr/bin/env bash
# Install curation into ./.venv (idempotent: a second run with unchanged inputs is a no-op).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.curation-installed

# llama.cpp's default native build segfaults at the first token on CPUs reporting AVX512/AMX
# (measured); this portable AVX2 build works everywhere we run.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_OPENMP=OFF}"

want=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && "$(cat $STAMP)" == "$want" ]]; then
  exit 0
fi

[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "Installing curation and its dependencies into $VENV (first time builds llama-cpp-python, ~4 min)..." >&2
"$VENV/bin/python" -m pip install -q -c constraints.txt -e '.[test]'
echo "$want" > "$STAMP"
