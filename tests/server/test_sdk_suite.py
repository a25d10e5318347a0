"""The argilla 2.8.0 SDK's own integration suite (its sdist's tests/integration/) against the
session's embedded server, through bench/argilla_sdk_suite.sh, so that a regression in our
search engine (or anything else the SDK relies on) shows up in the normal test run.

scripts/setup.sh fetches the sdist at install time into ~/.cache/curation (outside the
repository; the test downloads nothing: SDK_NO_DOWNLOAD=1), and the script
leaves out only the Hub tests, which need the real Hugging Face Hub and a write token for the
argilla-internal-testing organisation (upstream skips them without that token too): it lists
them with the reason. It takes about 70 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Passed on this server once `record.id` filters worked (test_search_records_by_server_id);
# fewer means a test stopped passing, or stopped being collected.
KNOWN_PASSED = 114
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) errors, (\d+) skipped", re.MULTILINE)


def test_the_sdk_integration_suite_passes(argilla_server):
    env = {**os.environ, "USE_SERVER": "1", "PY": sys.executable, "SDK_NO_DOWNLOAD": "1"}
    done = subprocess.run(
        ["bash", "bench/argilla_sdk_suite.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=840
    )
    report = f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    summary = SUMMARY.search(done.stdout)
    assert summary, report

    passed, failed, errors, _ = map(int, summary.groups())
    assert (failed, errors) == (0, 0), report
    assert passed >= KNOWN_PASSED, report
    assert done.returncode == 0, report
