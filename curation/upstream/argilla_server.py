"""argilla-server 2.8.0: the internals our server modules borrow, and the fixes to its bugs.

argilla-server has no documented Python API: everything below is internal to it. Our modules
that change its behaviour (`curation.server.record_status_lock`, `unheard_webhook_events`,
`sessions`, `user_removal`), our search engines (`curation.server.search_engine`, `search_sql`,
`search_query`, `noop_engine`, `reindex`: its SearchEngine interface, models and enums) and the
processes that run it (`curation.server.app`) take each internal name they touch from here;
tests/upstream/test_argilla_server_contract.py checks each one's shape. Importing this module
checks the installed version first.

Server side only: it runs in the server's own environment. Importing it imports argilla_server,
which reads the ARGILLA_* settings, so only server-side modules import it, loaded by the
server's processes once those variables are set.

Fixes (`apply_fixes(app)`), each named with the upstream file it corrects; site-packages is
never edited:
- argilla_server/api/handlers/v1/records.py `get_record`: `GET /api/v1/records/{id}` answered
  500 for a record with vectors (`_get_record_loading_vector_settings`).
"""

from __future__ import annotations

from uuid import UUID

from curation.upstream import UpstreamChanged, require

VERSION = require("argilla-server", "2.8.0")

# Imported after the version check, so another argilla-server fails on the line above, not on
# whichever of these it renamed.
from argilla_server.api.handlers.v1 import records as record_handlers
from argilla_server.contexts import accounts, distribution, webhooks
from argilla_server.contexts import datasets as datasets_context
from argilla_server.contexts.distribution import MAX_TIME_RETRY_SQLALCHEMY_ERROR
from argilla_server.database import AsyncSessionLocal, _get_async_db, async_engine, sync_engine
from argilla_server.enums import (
    FieldType,
    MetadataPropertyType,
    RecordStatus,
    ResponseStatusFilter,
    SimilarityOrder,
    SortOrder,
)
from argilla_server.errors.future import NotFoundError, UnprocessableEntityError
from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
from argilla_server.models import (
    Dataset,
    MetadataProperty,
    Question,
    Record,
    Response,
    Suggestion,
    User,
    UserRole,
    Vector,
    VectorSettings,
    Workspace,
)
from argilla_server.models.base import DatabaseModel
from argilla_server.models.database import generate_user_api_key
from argilla_server.search_engine import SearchEngine, get_search_engine
from argilla_server.search_engine.base import (  # the interface our search engines implement
    AndFilter,
    Filter,
    FilterScope,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    MetadataMetrics,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchResponseItem,
    SearchResponses,
    SuggestionFilterScope,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)
from argilla_server.security.authentication.db.bearer_token_backend import (
    BearerTokenAuthenticationBackend,
)
from argilla_server.security.authentication.jwt import JWT
from argilla_server.security.authentication.userinfo import UserInfo
from argilla_server.webhooks.v1 import records as record_webhooks
from argilla_server.webhooks.v1 import responses as response_webhooks
from argilla_server.webhooks.v1.enums import RecordEvent
from argilla_server.webhooks.v1.records import notify_record_event

# argilla-server's typer CLI holds these two: imported on first use (module `__getattr__`), so a
# process that neither migrates nor reindexes (uvicorn's workers, rq's) never builds that CLI.
_FROM_CLI = {
    "migrate_db": "argilla_server.cli.database.migrate",
    "Reindexer": "argilla_server.cli.search_engine.reindex",
}

__all__ = [
    "AndFilter", "AsyncSessionLocal", "BearerTokenAuthenticationBackend", "DEFAULT_QUEUE", "DatabaseModel", "Dataset",
    "FieldType", "Filter", "FilterScope", "FloatMetadataMetrics", "HIGH_QUEUE", "IntegerMetadataMetrics", "JWT",
    "MAX_TIME_RETRY_SQLALCHEMY_ERROR", "MetadataFilterScope", "MetadataMetrics", "MetadataProperty",
    "MetadataPropertyType", "NotFoundError", "Order", "Question", "RECORD_ROUTE", "REDIS_CONNECTION", "RangeFilter",
    "Record", "RecordEvent", "RecordFilterScope", "RecordStatus", "Response", "ResponseFilterScope",
    "ResponseStatusFilter", "SearchEngine", "SearchResponseItem", "SearchResponses", "SimilarityOrder", "SortOrder",
    "Suggestion", "SuggestionFilterScope", "TermsFilter", "TermsMetrics", "TextQuery", "UnprocessableEntityError",
    "User", "UserInfo", "UserRole", "VERSION", "Vector", "VectorSettings", "Workspace", "_get_async_db", "accounts",
    "apply_fixes", "async_engine", "datasets_context", "distribution", "generate_user_api_key", "get_search_engine",
    "notify_record_event", "record_handlers", "record_webhooks", "response_webhooks", "sync_engine", "webhooks",
]


def __getattr__(name: str):
    if name in _FROM_CLI:
        import importlib

        return getattr(importlib.import_module(_FROM_CLI[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


RECORD_ROUTE = "/api/v1/records/{record_id}"


def _get_record_loading_vector_settings():
    """argilla_server/api/handlers/v1/records.py `get_record`, with each vector's settings loaded.

    Upstream loads `Record.vectors` but not `Vector.vector_settings`, which its RecordSchema reads
    (`{vector.vector_settings.name: ...}`): a lazy load in an async session, so
    `GET /api/v1/records/{id}` answers 500 for every record with vectors. The web UI fetches a
    similarity search's reference record that way, and then draws no record at all.
    """
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
        await record_handlers.authorize(current_user, record_handlers.RecordPolicy.get(record))
        return record

    get_record.curation_fix = True
    return get_record


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


def apply_fixes(app) -> None:
    """Install every fix on argilla-server's app (idempotent); refuses in one line a route that
    is not the one a fix was written for, instead of serving unfixed."""
    route = _route(app, RECORD_ROUTE, "GET")
    if getattr(route.dependant.call, "curation_fix", False):
        return
    if route.dependant.call is not record_handlers.get_record:
        raise UpstreamChanged(f"GET {RECORD_ROUTE} is not argilla-server 2.8.0's get_record")
    fixed = _get_record_loading_vector_settings()
    # FastAPI resolved the dependencies (db, current_user) from upstream's signature, which the
    # fixed function shares; the route's handler calls `dependant.call` on every request.
    route.dependant.call = fixed
    route.endpoint = fixed
