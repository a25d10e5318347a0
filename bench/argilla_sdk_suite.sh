#!/usr/bin/env bash
# Run the Argilla SDK's own integration tests (argilla==2.8.0, tests/integration/) against the
# embedded server, and print "N passed, N failed" (plus errors/skipped/deselected).
#
#   bash bench/argilla_sdk_suite.sh [extra pytest args]
#
# Env: SDK_NO_DOWNLOAD=1 (fail instead of downloading the sdist: the tests), PORT (default: a free ephemeral port), SDK_SRC (an unpacked argilla-2.8.0 sdist; default /work/sdists/
# argilla-2.8.0 if present, else downloaded once into ${XDG_CACHE_HOME:-~/.cache}/curation),
# SEARCH_ENGINE (default curation-sqlite; curation-noop gives the no-search baseline),
# USE_SERVER=1 (run against the server that ARGILLA_API_URL / ARGILLA_API_KEY name, as the owner,
# instead of starting one: tests/server/test_sdk_suite.py runs it so against the session's server).
# A server it starts runs in a temporary data folder and is stopped on exit. Exit status: pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")  # absolute, venv kept
# A port the kernel picks as free (not a fixed one that concurrent test sessions may hold).
PORT=${PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
SEARCH_ENGINE=${SEARCH_ENGINE:-curation-sqlite}
SDK_VERSION=2.8.0

# Excluded tests: only those that need the real Hugging Face Hub (network and a write token
# for the argilla-internal-testing organisation). Upstream skips them without
# HF_TOKEN_ARGILLA_INTERNAL_TESTING anyway; listing them keeps the counts honest.
EXCLUDED=(
  "tests/integration/test_export_dataset.py::TestHubImportExportMixin"      # pushes to / pulls from the Hub
  "tests/integration/test_import_features.py::TestImportFeaturesFromHub"    # loads datasets from the Hub
)

if [[ -z "${SDK_SRC:-}" ]]; then
  if [[ -d /work/sdists/argilla-$SDK_VERSION/tests/integration ]]; then
    SDK_SRC=/work/sdists/argilla-$SDK_VERSION
  else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/curation/argilla-sdk
    SDK_SRC=$cache/argilla-$SDK_VERSION
    if [[ ! -d $SDK_SRC/tests/integration ]]; then
      if [[ "${SDK_NO_DOWNLOAD:-}" == 1 ]]; then  # the test suite: scripts/setup.sh fetched it at install
        echo "the argilla $SDK_VERSION sdist is not in $cache: run scripts/setup.sh" >&2
        exit 2
      fi
      mkdir -p "$cache"
      "$PY" -m pip download -q --no-deps --no-binary :all: "argilla==$SDK_VERSION" -d "$cache"
      tar -xzf "$cache/argilla-$SDK_VERSION.tar.gz" -C "$cache"
    fi
  fi
fi

work=$(mktemp -d)
data_dir=$work/server
cleanup() {
  if [[ -d $data_dir ]]; then
    "$PY" -c "import sys; from curation.server import embedded; embedded.stop(sys.argv[1])" "$data_dir" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# argilla 2.8.0's tests import huggingface_hub.utils._errors, which huggingface_hub 1.x
# renamed to huggingface_hub.errors: alias it so those modules collect (tests unchanged).
mkdir -p "$work/plugins"
cat > "$work/plugins/sdk_compat.py" <<'EOF'
import sys
try:
    import huggingface_hub.utils._errors  # noqa: F401
except ImportError:
    import huggingface_hub.errors
    sys.modules["huggingface_hub.utils._errors"] = huggingface_hub.errors
EOF

if [[ ${USE_SERVER:-0} == 1 ]]; then
  : "${ARGILLA_API_URL:?USE_SERVER=1 needs ARGILLA_API_URL}" "${ARGILLA_API_KEY:?USE_SERVER=1 needs ARGILLA_API_KEY}"
else
  echo "Starting the embedded server ($SEARCH_ENGINE) on port $PORT..." >&2
  (
    unset ARGILLA_API_URL ARGILLA_API_KEY ARGILLA_REDIS_URL CURATION_SEARCH_DB
    umask 077
    "$PY" - "$data_dir" "$PORT" "$SEARCH_ENGINE" > "$work/server.env" <<'EOF'
import shlex, sys
from curation.server import embedded
info = embedded.start(sys.argv[1], int(sys.argv[2]), search_engine=sys.argv[3])
print(f"export ARGILLA_API_URL={shlex.quote(info.url)} ARGILLA_API_KEY={shlex.quote(info.api_key)}")
EOF
  )
  # shellcheck disable=SC1091
  source "$work/server.env"
fi
unset HF_TOKEN_ARGILLA_INTERNAL_TESTING

deselect=()
for test in "${EXCLUDED[@]}"; do deselect+=(--deselect "$test"); done

echo "Running $SDK_SRC/tests/integration against $ARGILLA_API_URL..." >&2
set +e
(cd "$SDK_SRC" && PYTHONPATH="$work/plugins${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 \
  "$PY" -m pytest tests/integration -p sdk_compat -p no:cacheprovider -q -rfE \
  --junitxml="$work/junit.xml" "${deselect[@]}" "$@")
rc=$?
set -e

"$PY" - "$work/junit.xml" "${#EXCLUDED[@]}" <<'EOF'
import sys
import xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
total, failed, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
passed = total - failed - errors - skipped
print(f"{passed} passed, {failed} failed, {errors} errors, {skipped} skipped "
      f"(excluded: {sys.argv[2]} Hub-only test classes)")
EOF
exit $rc
