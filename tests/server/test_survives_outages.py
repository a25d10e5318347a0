"""Redis, then PostgreSQL, stopped under the running production server: fail fast, then recover.

Marked `stops_shared_servers`, so it runs after every other test (tests/conftest.py): pooled
database connections opened before the outage can still fail one later request (a known limit,
see the README), which must not reach the tests that share that server.
"""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.server import embedded
from tests.server.test_production import _team, _timed, _wait_for

pytestmark = [pytest.mark.slow, pytest.mark.stops_shared_servers]


def test_redis_then_postgres_stopped_under_the_server_fail_fast_and_recover(argilla_pg_server, postgres,
                                                                             redis_server):
    info = argilla_pg_server
    dataset, _, _ = _team(info, "outage", annotators=1, records=2)
    http = httpx.Client(base_url=info.url, headers={"X-Argilla-Api-Key": info.api_key}, timeout=30)
    update = lambda: http.patch(f"/api/v1/datasets/{dataset.id}", json={"guidelines": "updated"})  # noqa: E731
    me = lambda: http.get("/api/v1/me")  # noqa: E731
    assert update().status_code == 200

    redis_server.stop()
    try:
        # A change that queues a background job says redis is down, at once; reads go on.
        response, seconds = _timed(update)
        assert response.status_code == 503 and "redis is unavailable" in response.json()["detail"], response.text
        assert seconds < 5
        assert me().status_code == 200
    finally:
        redis_server.start()
    _wait_for(lambda: update().status_code == 200, "the server to use redis again")

    postgres.stop()
    try:
        for _ in range(4):  # both workers
            response, seconds = _timed(me)
            assert response.status_code == 503, response.text
            assert "the database is unavailable" in response.json()["detail"]
            assert seconds < 5
    finally:
        postgres.start()
    # Back without a restart, on every worker.
    _wait_for(lambda: all(me().status_code == 200 for _ in range(6)), "the server to use PostgreSQL again")
    http.close()
    # rq's worker outlives the outages unless its own poll hit the dropped connection (then it
    # exits): either the server still runs whole, or `curate server status` says it needs a restart.
    status = CliRunner().invoke(main, ["server", "status", "--data-dir", str(info.data_dir)])
    if embedded.status(info.data_dir) is not None:
        assert status.exit_code == 0 and "running at" in status.output, status.output
    else:
        assert status.exit_code == 1 and "not running" in status.output, status.output
