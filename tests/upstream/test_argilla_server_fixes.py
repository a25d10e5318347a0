"""curation/upstream/argilla_server.py's fixes install on argilla-server 2.8.0's app once, and refuse in one line
an app whose route is not the one they were written for (another argilla-server). The fix itself is tested on the
real server: tests/embeddings/test_push_vectors.py::test_a_record_with_vectors_opens_by_id and the UI's
similarity link in tests/embeddings/test_similar_ui.py."""

import pytest
from fastapi import FastAPI

import curation.upstream.argilla_server as upstream
from curation.upstream import UpstreamChanged


def route_call(app):
    return upstream._route(app, upstream.RECORD_ROUTE, "GET").dependant.call


def test_installs_once_on_argilla_servers_app():
    from argilla_server._app import create_server_app

    app = create_server_app()
    assert route_call(app) is upstream.record_handlers.get_record
    upstream.apply_fixes(app)
    fixed = route_call(app)
    assert fixed is not upstream.record_handlers.get_record and fixed.curation_fix
    upstream.apply_fixes(app)
    assert route_call(app) is fixed


def test_another_get_record_is_refused_in_one_line():
    app = FastAPI()

    @app.get("/api/v1/records/{record_id}")
    async def get_record(record_id: str):
        return {}

    with pytest.raises(UpstreamChanged, match=r"^GET /api/v1/records/\{record_id\} is not argilla-server 2\.8\.0's "):
        upstream.apply_fixes(app)


def test_an_app_without_the_route_is_refused_in_one_line():
    with pytest.raises(UpstreamChanged, match=r"^argilla-server serves no GET /api/v1/records/\{record_id\}: "):
        upstream.apply_fixes(FastAPI())
