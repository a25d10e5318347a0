"""The watcher's webhook endpoint: argilla-server's signed deliveries in, source record ids out.

One route, `POST /watch/<TARGET>`. Every delivery is verified with the webhook's secret the way the
Argilla SDK's own listener verifies it (`argilla.webhooks._handler`: standard-webhooks, the
`webhook-id`/`webhook-timestamp`/`webhook-signature` headers, five minutes' tolerance); a delivery
without a valid signature, or signed too long ago or ahead, gets 401 and changes nothing. A valid
`record.completed` of the source dataset puts its record on the state's queue and is answered at
once (204): generation happens on the watcher's main thread, never while argilla-server's worker
waits. Neither the secret nor a signature is ever logged.

The server runs under uvicorn in a thread of the watcher's process, as the SDK's
`start_webhook_server` runs it.
"""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations (`Request`) as objects.
import datetime as dt
import threading
from collections.abc import Callable
from urllib.parse import quote

RECORD_COMPLETED = "record.completed"


def require_listener() -> None:
    """FastAPI and uvicorn are the `watch` extra's: a one-line error without them."""
    from curation.errors import BadInput

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise BadInput(f"curate watch needs its webhook listener's packages ({exc.name} is missing)",
                       hint="pip install 'curation[watch]'") from None


def route(target: str) -> str:
    return f"/watch/{quote(target, safe='')}"


def source_event(event: dict, source_dataset_id: str) -> tuple[str, float | None, str | None] | None:
    """(record id, when it was completed, the server's id of it) of a `record.completed` event of the
    source dataset, else None.

    The record id is the one `curate` gives records (the SDK's `record.id`: the server's
    `external_id`), the one export rows and seeds name."""
    data = event.get("data") or {}
    if event.get("type") != RECORD_COMPLETED or str((data.get("dataset") or {}).get("id")) != source_dataset_id:
        return None
    record_id = data.get("external_id") or data.get("id")
    if not record_id:
        return None
    return str(record_id), _epoch(event.get("timestamp")), str(data["id"]) if data.get("id") else None


def make_app(target: str, secret: str, on_record: Callable[[str, float | None, str | None], None],
             on_refused: Callable[[], None], source_dataset_id: str):
    """The FastAPI app that receives the deliveries."""
    from fastapi import FastAPI, Request, Response
    from standardwebhooks.webhooks import Webhook

    verifier = Webhook(secret)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post(route(target))
    async def deliver(request: Request) -> Response:
        body = await request.body()
        try:
            event = verifier.verify(body, dict(request.headers))
        except Exception:  # WebhookVerificationError, or headers too malformed to parse: not from the server
            on_refused()
            return Response(status_code=401)
        found = source_event(event if isinstance(event, dict) else {}, source_dataset_id)
        if found is not None:
            on_record(*found)
        return Response(status_code=204)

    return app


class Listener:
    """uvicorn serving `app` on host:port in a daemon thread."""

    def __init__(self, app, host: str, port: int):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, name="curate-watch-listener", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        from curation.errors import BadInput

        self.thread.start()
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
        while not self.server.started and self.thread.is_alive() and dt.datetime.now() < deadline:
            self.thread.join(0.01)
        if not self.server.started:
            self.stop()
            host, port = self.server.config.host, self.server.config.port
            raise BadInput(f"could not listen on {host}:{port} (in use, or not an address of this machine)",
                           hint="pick another --listen HOST:PORT")

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(10)


def _epoch(value) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
