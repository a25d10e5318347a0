#!/usr/bin/env bash
# Install (if needed) and run the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The UI test drives Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed; UI test will be skipped" >&2
fi
exec .venv/bin/python -m pytest "$@"
