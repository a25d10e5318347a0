"""The argilla 2.8.0 SDK's own integration suite against production mode too: PostgreSQL, a
real redis-server and 2 uvicorn workers (the session's `argilla_pg_server`), through the same
script and the same pass bar as tests/server/test_sdk_suite.py (its helpers, reused)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.server.test_sdk_suite import KNOWN_PASSED, ROOT, SUMMARY

pytestmark = pytest.mark.slow


def test_the_sdk_integration_suite_passes_on_postgres_with_two_workers(argilla_pg_server):
    env = {**os.environ, "USE_SERVER": "1", "PY": sys.executable,
           "ARGILLA_API_URL": argilla_pg_server.url, "ARGILLA_API_KEY": argilla_pg_server.api_key}
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
