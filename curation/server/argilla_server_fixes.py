"""Fixes to argilla-server 2.8.0 bugs, applied to the app every server process builds.

argilla-server is frozen upstream (no release since 2.8.0, March 2025), so its bugs are fixed
here, each named with the upstream file it corrects; site-packages is never edited.
`apply(app)` is idempotent and checks that the route it changes is still the one it was written
for, so a different argilla-server fails at start-up in one line instead of serving unfixed.
"""

from __future__ import annotations

from uuid import UUID

RECORD_ROUTE = "/api/v1/records/{record_id}"


class UpstreamChanged(RuntimeError):
    """The installed argilla-server is not the one a fix was written for (raised by every module
    of ours that changes argilla-server's behaviour)."""


def _get_record_loading_vector_settings():
    """argilla_server/api/handlers/v1/records.py `get_record`, with each vector's settings loaded.

    Upstream loads `Record.vectors` but not `Vector.vector_settings`, which its RecordSchema reads
    (`{vector.vector_settings.name: ...}`): a lazy load in an async session, so
    `GET /api/v1/records/{id}` answers 500 for every record with vectors. The web UI fetches a
    similarity search's reference record that way, and then draws no record at all.
    """
    from argilla_server.api.handlers.v1 import records as handlers
    from argilla_server.models import Record, Vector
    from sqlalchemy.orm import selectinload

    async def get_record(*, db, record_id: UUID, current_user):
        record = await Record.get_or_raise(
            db,
            record_id,
            options=[
                selectinload(Record.dataset),
                selectinload(Record.suggestions),
                selectinload(Record.responses),
                selectinload(Record.vectors).selectinload(Vector.vector_settings),
            ],
        )
        await handlers.authorize(current_user, handlers.RecordPolicy.get(record))
        return record

    get_record.curation_fix = True
    return handlers.get_record, get_record


def _route(app, path: str, method: str):
    """The APIRoute serving `method path`, looking into mounted sub-applications."""
    from fastapi.routing import APIRoute
    from starlette.routing import Mount

    def walk(routes, prefix):
        for route in routes:
            if isinstance(route, Mount):
                yield from walk(getattr(route.app, "routes", []), prefix + route.path)
            elif isinstance(route, APIRoute):
                yield prefix + route.path, route

    for full_path, route in walk(app.routes, ""):
        if full_path.endswith(path) and method in route.methods:
            return route
    raise UpstreamChanged(f"argilla-server serves no {method} {path}: the fixes in {__name__} are for 2.8.0")


def apply(app) -> None:
    """Install every fix on argilla-server's app. Idempotent."""
    route = _route(app, RECORD_ROUTE, "GET")
    if getattr(route.dependant.call, "curation_fix", False):
        return
    upstream, fixed = _get_record_loading_vector_settings()
    if route.dependant.call is not upstream:
        raise UpstreamChanged(f"GET {RECORD_ROUTE} is not argilla-server 2.8.0's get_record")
    # FastAPI resolved the dependencies (db, current_user) from upstream's signature, which the
    # fixed function shares; the route's handler calls `dependant.call` on every request.
    route.dependant.call = fixed
    route.endpoint = fixed
