#!/usr/bin/env bash
# Install curation: the client into ./.venv, the Argilla server's own environment into ./.venv-server
# (argilla-server 2.8.0 pins an old web stack; the client has current bounds and never imports it).
# Idempotent: a second run with unchanged inputs is a no-op; changed inputs rebuild both from scratch,
# so nothing a former layout installed lingers (pip's wheel cache makes the rebuild quick).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
SERVER_VENV=.venv-server
STAMP=$VENV/.curation-installed

# llama.cpp's default native build segfaults at the first token on CPUs reporting AVX512/AMX
# (measured); this portable AVX2 build works everywhere we run.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_OPENMP=OFF}"

want=$(cat pyproject.toml constraints.txt curation/server/requirements.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
# The argilla SDK's own integration tests (tests/server/test_sdk_suite.py runs them): fetched here,
# at install, so the test run downloads nothing.
fetch_sdk_tests() {
  local cache=${XDG_CACHE_HOME:-$HOME/.cache}/curation/argilla-sdk
  if [[ ! -d $cache/argilla-2.8.0/tests/integration ]]; then
    mkdir -p "$cache"
    "$VENV/bin/python" -m pip download -q --no-deps --no-binary :all: "argilla==2.8.0" -d "$cache"
    tar -xzf "$cache/argilla-2.8.0.tar.gz" -C "$cache"
  fi
}

if [[ -f $STAMP && "$(cat $STAMP)" == "$want" && -x $SERVER_VENV/bin/python ]]; then
  fetch_sdk_tests
  exit 0
fi

rm -rf "$VENV" "$SERVER_VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "Installing curation (the client) into $VENV (first time builds llama-cpp-python, ~4 min)..." >&2
"$VENV/bin/python" -m pip install -q -c constraints.txt -e '.[test]'
# The server's environment, made by the same code `curate server start` uses on a machine without one.
echo "Creating the Argilla server's own environment in $SERVER_VENV..." >&2
PIP_QUIET=1 "$VENV/bin/python" -m curation.server.environment create "$SERVER_VENV" pytest
# The client finds it by this file (curation/server/environment.py).
echo "$PWD/$SERVER_VENV/bin/python" > "$VENV/curation-server-python"
echo "$want" > "$STAMP"
fetch_sdk_tests
