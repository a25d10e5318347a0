"""The argilla 2.8.0 SDK's own integration suite against production mode too: PostgreSQL, a
real redis-server and 2 uvicorn workers (the session's `argilla_pg_server`): the very test of
tests/server/test_sdk_suite.py (same script, same pass bar), pointed at that server."""

from __future__ import annotations

import pytest

from tests.server import test_sdk_suite as sdk_suite

pytestmark = pytest.mark.slow


def test_the_sdk_integration_suite_passes_on_postgres_with_two_workers(argilla_pg_server, monkeypatch):
    # The suite's script runs against ARGILLA_API_URL / ARGILLA_API_KEY as the owner (USE_SERVER=1).
    monkeypatch.setenv("ARGILLA_API_URL", argilla_pg_server.url)
    monkeypatch.setenv("ARGILLA_API_KEY", argilla_pg_server.api_key)
    sdk_suite.test_the_sdk_integration_suite_passes(argilla_pg_server)
