#!/usr/bin/env bash
# Install (if needed) and run the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Ray tests (tests/generation/test_ray.py) need the optional `ray` extra.
.venv/bin/python -c "import ray" 2>/dev/null || .venv/bin/python -m pip install -q -c constraints.txt -e '.[ray]'
.venv/bin/python -c "import datatrove" 2>/dev/null || .venv/bin/python -m pip install -q -c constraints.txt -e '.[datatrove]'
# Debian packages the tests drive for real: headless Chromium (UI tests), PostgreSQL 15 and
# redis-server (production mode). Installed once when missing; without them those tests skip,
# except under CI=true, where a skip fails the run (tests/fixtures/ci.py).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if (( ${#missing[@]} )) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "could not install ${missing[*]}; the tests that need them will be skipped" >&2
fi
# Lint (the small rule set in pyproject.toml's [tool.ruff.lint]) before the tests.
.venv/bin/ruff check --quiet .
# Two runs, one per environment (tests/server_side.py says which file runs where): the client's
# tests in .venv, the server's insides (they import argilla-server) in .venv-server. Exit status 5
# ("no tests collected": the arguments named only the other side's files) counts as success.
status=0
.venv/bin/python -m pytest "$@" || { rc=$?; (( rc == 5 )) || status=$rc; }
echo "--- the server's environment (.venv-server): tests of the server's insides ---" >&2
CURATION_TEST_SIDE=server .venv-server/bin/python -m pytest "$@" || { rc=$?; (( rc == 5 )) || status=$rc; }
exit $status
