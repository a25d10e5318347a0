"""The processes of the embedded Argilla server: `python -m curation.server.app serve|worker|setup`.

argilla-server picks its search engine by name (env ARGILLA_SEARCH_ENGINE) from the engines
registered in the running process, so every server process imports ours first. The settings
themselves (home path, database, redis) come from the ARGILLA_* variables that
`curation.server.embedded` sets when it spawns these processes.

- `serve [--workers N]`: argilla-server's API and web UI under uvicorn (N worker processes,
  which uvicorn's supervisor replaces when one dies). A database or redis that cannot be
  reached answers 503 with a one-line reason, at once (see `add_unavailable_handlers`). A
  search beyond the bounds on searches at once answers 429 (see `add_search_admission`). An
  API read waits, a moment at most, for the writes in flight (`curation.server.writes_first`).
- `worker`: argilla-server's rq worker for its background jobs (record status updates, ...).
- `setup`: migrates the SQLite database and makes sure the owner exists with the credentials
  read as JSON from stdin (never from argv, which other users can see), then reindexes the
  datasets whose search index differs from the database (a crash between the two); prints JSON.
- `import-sqlite`: copies an embedded server's SQLite database (its path on stdin) into the
  empty PostgreSQL database of ARGILLA_DATABASE_URL; prints JSON.
- `reindex [--dataset NAME|ID] [--workspace NAME]`: rebuilds the search index from the
  database, of one dataset or of all; prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from curation.server import writes_first
from curation.server.query_bounds import add_offset_bounds


def import_engines() -> list[str]:
    """Register our search engines in argilla-server; returns the names registered."""
    from curation.upstream.argilla_server import SearchEngine

    import curation.server.noop_engine  # noqa: F401  (registers "curation-noop")
    import curation.server.search_engine  # noqa: F401  (registers "curation-sqlite")

    return sorted(SearchEngine.registered_classes)


def __getattr__(name: str):
    # `curation.server.app:app` for uvicorn: importing argilla_server reads the settings, so it
    # happens on first use, after the engines are registered.
    if name == "app":
        import_engines()
        speed_up_writes()
        from argilla_server import app

        add_unavailable_handlers(app)
        add_search_admission(app)
        add_offset_bounds(app)  # an offset beyond 64 bits or below 0: 422, not a 500 from SQL
        writes_first.install(app)  # an API read waits (a moment at most) for the writes in flight
        from curation.upstream.argilla_server import apply_fixes

        apply_fixes(app)  # argilla-server 2.8.0's bugs, each fixed where its upstream file is named
        install_corrections(app)
        return app
    raise AttributeError(name)


def install_corrections(app) -> None:
    """Our fixes to argilla-server's behaviour, in this process (idempotent): sign-in tokens
    that end with the user's access (`sessions`), and a removed user's records back in the
    queue (`user_removal`)."""
    from curation.server import sessions, user_removal

    sessions.install()
    user_removal.install(app)


def speed_up_writes() -> None:
    """The write path's settings and fixes, in this process before its first connection
    (idempotent): argilla-server's SQLite database in WAL mode (`database.use_wal`), a record's
    status decided under a row lock (`record_status_lock`), webhook events built only when a
    webhook listens (`unheard_webhook_events`), question settings parsed with one adapter
    (`lean_requests`). README: Production mode, submit latency."""
    from curation.server import database, lean_requests, record_status_lock, unheard_webhook_events
    from curation.upstream.argilla_server import async_engine, sync_engine

    database.use_wal([sync_engine, async_engine.sync_engine])
    record_status_lock.install()
    unheard_webhook_events.install()
    lean_requests.install()


def add_unavailable_handlers(app) -> None:
    """Answer 503 with the reason when the database or redis cannot be reached (argilla-server
    answers a bare 500 "Internal Server Error"). Idempotent."""
    import redis.exceptions
    import sqlalchemy.exc
    from fastapi.responses import JSONResponse

    def unavailable(service: str):
        async def handler(request, exc):
            return JSONResponse(status_code=503, content={"detail": f"{service} is unavailable: {_one_line(exc)}"})

        return handler

    handlers = {
        redis.exceptions.ConnectionError: unavailable("redis"),
        redis.exceptions.TimeoutError: unavailable("redis"),
        sqlalchemy.exc.OperationalError: unavailable("the database"),
        sqlalchemy.exc.InterfaceError: unavailable("the database"),
        ConnectionError: unavailable("the database"),  # asyncpg's refused connects, unwrapped
    }
    _add_exception_handlers(app, handlers, "_curation_unavailable")


def add_search_admission(app) -> None:
    """Bound the searches running at once, per user and in all (`curation.server.admission`):
    let the search engine know each request's user, and answer a refused search 429 with
    `Retry-After` and the reason. Idempotent."""
    from fastapi.responses import JSONResponse

    from curation import settings
    from curation.server.admission import RememberRequest, SearchBusy

    # A bad value stops the server as it starts, rather than failing every search.
    settings.searches_per_user(), settings.searches_at_once()

    async def busy(request, exc: SearchBusy):
        return JSONResponse(status_code=429, content={"detail": str(exc)},
                            headers={"Retry-After": str(exc.retry_after_s)})

    _add_exception_handlers(app, {SearchBusy: busy}, "_curation_search_busy")
    if not getattr(app, "_curation_remembers_request", False):
        app.add_middleware(RememberRequest)
        app._curation_remembers_request = True


def _add_exception_handlers(app, handlers: dict, flag: str) -> None:
    """Add handlers to the app and to the apps mounted in it (argilla-server's API is one), once."""
    from starlette.routing import Mount

    apps = [app] + [route.app for route in app.routes if isinstance(route, Mount)]
    for target in apps:
        if getattr(target, flag, False) or not hasattr(target, "add_exception_handler"):
            continue
        for kind, handler in handlers.items():
            target.add_exception_handler(kind, handler)
        setattr(target, flag, True)


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    # An import string, so that each worker process builds the app (and its connections) itself.
    uvicorn.run("curation.server.app:app", host=host, port=port, workers=workers, access_log=False,
                log_level="info", timeout_graceful_shutdown=10)


def worker() -> None:
    """argilla-server's `worker` command, as one rq worker (upstream runs a pool of two)."""
    import_engines()
    speed_up_writes()  # its jobs update records' status too
    from rq import Worker

    from curation.upstream.argilla_server import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION

    Worker([HIGH_QUEUE, DEFAULT_QUEUE], connection=REDIS_CONNECTION).work(with_scheduler=True)


def setup(credentials: dict) -> dict:
    """Migrate the database, create the owner (or reset its credentials when asked), and
    reindex the datasets whose index lost writes.

    Returns {"created": bool, "api_key": str, "reindexed": [{"dataset", "records"}]}: the
    owner's key as stored in the database.
    """
    from curation.upstream.argilla_server import migrate_db

    migrate_db(revision="head")
    from curation.server import record_order_index
    from curation.upstream.argilla_server import sync_engine

    record_order_index.ensure(sync_engine)
    import_engines()
    speed_up_writes()  # the SQLite file turns to WAL here, before the server processes open it
    from curation.server.reindex import check_and_repair

    async def both() -> dict:
        # One event loop: asyncpg's pooled connections belong to the loop that opened them.
        result = await _ensure_owner(credentials)
        result["reindexed"] = await check_and_repair()
        return result

    return asyncio.run(both())


def import_sqlite(source: str) -> dict:
    """Set up the (empty) database of ARGILLA_DATABASE_URL and copy every row of the embedded
    server's SQLite database `source` into it, table by table in foreign-key order, through
    argilla-server's own table definitions (which convert ids, enums, JSON and times)."""
    from sqlalchemy import create_engine, text

    # The shim imports argilla_server.models: every table, registered on the base.
    from curation.upstream.argilla_server import DatabaseModel, migrate_db, sync_engine

    reader_engine = create_engine(f"sqlite:///file:{source}?mode=ro&uri=true")
    with reader_engine.connect() as reader:
        revision = reader.execute(text("SELECT version_num FROM alembic_version")).scalar()
    migrate_db(revision="head")
    with sync_engine.connect() as probe:
        head = probe.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if revision != head:
        return {"error": f"the SQLite database is at schema revision {revision}, this argilla-server at {head}: "
                         "start the embedded server on it once (which migrates it), back it up again, then restore"}
    copied = {}
    with reader_engine.connect() as reader, sync_engine.begin() as writer:
        for table in DatabaseModel.metadata.sorted_tables:
            if writer.execute(table.select().limit(1)).first() is not None:
                return {"error": f"the PostgreSQL database already holds {table.name}: restore into an empty one"}
            rows = reader.execution_options(stream_results=True).execute(table.select())
            copied[table.name] = 0
            for chunk in rows.partitions(1000):
                writer.execute(table.insert(), [dict(row._mapping) for row in chunk])
                copied[table.name] += len(chunk)
    return {"copied": copied}


def reindex(dataset: str | None, workspace: str | None) -> dict:
    """Rebuild the search index of `dataset` (name or id), or of every dataset."""
    import_engines()
    from curation.server.reindex import DatasetNotFound
    from curation.server.reindex import reindex as rebuild

    try:
        return {"reindexed": asyncio.run(rebuild(dataset, workspace))}
    except DatasetNotFound as exc:
        return {"error": str(exc)}


async def _ensure_owner(credentials: dict) -> dict:
    from curation.upstream.argilla_server import AsyncSessionLocal, User, UserRole, accounts

    async with AsyncSessionLocal() as session:
        user = await accounts.get_user_by_username(session, credentials["username"])
        if user is None:
            user = await User.create(
                session,
                first_name=credentials["username"].capitalize(),
                username=credentials["username"],
                role=UserRole.owner,
                password_hash=accounts.hash_password(credentials["password"]),
                api_key=credentials["api_key"],
            )
            return {"created": True, "api_key": user.api_key}
        if credentials.get("reset"):
            user.api_key = credentials["api_key"]
            user.password_hash = accounts.hash_password(credentials["password"])
            await session.commit()
        return {"created": False, "api_key": user.api_key}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m curation.server.app", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="serve the API and web UI")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, required=True)
    serve_parser.add_argument("--workers", type=int, default=1)
    sub.add_parser("worker", help="run the background-job worker")
    sub.add_parser("setup", help="migrate the database and ensure the owner (JSON on stdin)")
    sub.add_parser("import-sqlite", help="copy an SQLite database (path on stdin) into an empty PostgreSQL one")
    reindex_parser = sub.add_parser("reindex", help="rebuild the search index from the database")
    reindex_parser.add_argument("--dataset", help="a dataset's name or id (default: every dataset)")
    reindex_parser.add_argument("--workspace", help="the workspace of --dataset")
    # Lets `ps` tell which data folder a process belongs to; the settings come from the env.
    parser.add_argument("--data-dir", help="the server's data folder (informational)")
    args = parser.parse_args(argv)

    if args.command == "serve":
        serve(args.host, args.port, args.workers)
    elif args.command == "worker":
        worker()
    elif args.command == "import-sqlite":
        sys.stdout.write("\n" + json.dumps(import_sqlite(sys.stdin.read().strip())) + "\n")
    elif args.command == "reindex":
        sys.stdout.write("\n" + json.dumps(reindex(args.dataset, args.workspace)) + "\n")
    else:
        result = setup(json.load(sys.stdin))
        sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
