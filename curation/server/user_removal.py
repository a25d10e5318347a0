"""Removing a user puts the records they had answered back in the review queue.

Corrects argilla-server 2.8.0's `contexts/accounts.py::delete_user`: it deletes the user row
and the database's ON DELETE CASCADE deletes the user's responses, so nothing recomputes the
status of the records they answered, as `contexts/datasets.py::delete_response` does for one
deleted response. A record only they had completed stayed `completed` with no response (the
review queue hid it, progress counted it done, export dropped it), and the search index kept
their answers until the next reindex.

Here `delete_user` notes the records the user had answered, deletes the user as upstream does,
then recomputes those records' status with upstream's own routine
(`contexts/distribution.py::unsafe_update_records_status`, in a SERIALIZABLE transaction per
chunk, retried on conflict as upstream's `update_record_status` is), indexes them again
through the search engine, so database and index agree when the DELETE answers, and sends the
`record.updated` webhook event for each record whose status changed, as upstream does when a
status changes. Every record they had answered is reindexed, not only the reopened ones: the
index must drop their responses everywhere. What it did is
reported per dataset in the answer's `X-Curation-Removed-Responses` header (JSON: dataset,
responses, pending_again), which `curate users remove` prints.

`install(app)` runs in every server process, through `curation.server.app`.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from uuid import UUID

HEADER = "x-curation-removed-responses"
_CHUNK = 200  # records per transaction and index write
# The DELETE request's report: a dict the middleware owns and delete_user fills in. A dict, not
# a value: the endpoint may run in a task copied from the middleware's context.
_report: ContextVar[dict | None] = ContextVar("curation_user_removal_report", default=None)


async def answered_records(db, user_id: UUID) -> dict[UUID, dict[UUID, bool]]:
    """{dataset id: {record id: completed now}} for every record the user responded to."""
    from sqlalchemy import select

    from curation.upstream.argilla_server import Record, RecordStatus, Response

    rows = await db.execute(
        select(Record.dataset_id, Record.id, Record.status)
        .join(Response, Response.record_id == Record.id)
        .where(Response.user_id == user_id)
    )
    answered: dict[UUID, dict[UUID, bool]] = {}
    for dataset_id, record_id, status in rows:
        answered.setdefault(dataset_id, {})[record_id] = status == RecordStatus.completed
    return answered


async def restore_records(answered: dict[UUID, dict[UUID, bool]]) -> list[dict]:
    """Recompute the status of `answered`'s records and index them again; [{dataset, responses,
    pending_again}] (pending_again: were completed, are pending now)."""
    from curation.upstream.argilla_server import get_search_engine

    summary = []
    async for engine in get_search_engine():
        for dataset_id, records in answered.items():
            label, reopened = await _restore_dataset(engine, dataset_id, records)
            summary.append({"dataset": label, "responses": len(records), "pending_again": reopened})
    return summary


async def _restore_dataset(engine, dataset_id: UUID, records: dict[UUID, bool]) -> tuple[str, int]:
    from curation.upstream.argilla_server import RecordStatus

    ids = list(records)
    reopened = 0
    label = str(dataset_id)
    for start in range(0, len(ids), _CHUNK):
        label, restored = await _restore_chunk(engine, dataset_id, ids[start:start + _CHUNK])
        reopened += sum(1 for record in restored if records[record.id] and record.status == RecordStatus.pending)
    return label, reopened


async def _restore_chunk(engine, dataset_id: UUID, record_ids: list[UUID]) -> tuple[str, list]:
    """`_restore_chunk_once`, retried on a conflicting write as upstream's update_record_status is."""
    import backoff
    import sqlalchemy.exc

    from curation.upstream.argilla_server import MAX_TIME_RETRY_SQLALCHEMY_ERROR

    retrying = backoff.on_exception(backoff.expo, sqlalchemy.exc.SQLAlchemyError,
                                    max_time=MAX_TIME_RETRY_SQLALCHEMY_ERROR)
    return await retrying(_restore_chunk_once)(engine, dataset_id, record_ids)


async def _restore_chunk_once(engine, dataset_id: UUID, record_ids: list[UUID]) -> tuple[str, list]:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from curation.upstream.argilla_server import (
        Dataset, Record, RecordEvent, Response, Suggestion, _get_async_db, distribution, notify_record_event,
    )

    async for db in _get_async_db(isolation_level="SERIALIZABLE"):
        # What the index needs, as argilla-server's own reindex loads it.
        dataset = (await db.execute(
            select(Dataset).filter_by(id=dataset_id).options(
                selectinload(Dataset.workspace), selectinload(Dataset.fields), selectinload(Dataset.questions),
                selectinload(Dataset.metadata_properties), selectinload(Dataset.vectors_settings))
        )).scalar_one_or_none()
        if dataset is None:  # deleted meanwhile, with its records and their index
            return str(dataset_id), []
        records = (await db.execute(
            select(Record).where(Record.id.in_(record_ids)).options(
                selectinload(Record.dataset), selectinload(Record.responses_submitted),
                selectinload(Record.responses).selectinload(Response.user),
                selectinload(Record.suggestions).selectinload(Suggestion.question),
                selectinload(Record.vectors))
        )).scalars().all()
        before = {record.id: record.status for record in records}
        await distribution.unsafe_update_records_status(db, records)
        await db.commit()
        await engine.index_records(dataset, records)
        for record in records:
            if record.status != before[record.id]:
                await notify_record_event(db, RecordEvent.updated, record)
        return f"{dataset.workspace.name}/{dataset.name}", records
    raise RuntimeError("argilla-server gave no database session")  # _get_async_db always yields one


def _delete_user_restoring_records(upstream_delete_user):
    async def delete_user(db, user):
        """argilla-server's delete_user, then the records the user answered restored (see module)."""
        answered = await answered_records(db, user.id)
        deleted = await upstream_delete_user(db, user)
        summary = await restore_records(answered)
        report = _report.get()
        if report is not None:
            report["datasets"] = summary
        return deleted

    delete_user.upstream = upstream_delete_user
    return delete_user


class RemovalReport:
    """ASGI middleware: puts what a user's deletion did to their records in the answer's header."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "DELETE":
            await self.app(scope, receive, send)
            return
        report: dict = {}
        token = _report.set(report)

        async def send_with_report(message):
            if message["type"] == "http.response.start" and "datasets" in report:
                value = json.dumps(report["datasets"], ensure_ascii=True).encode("latin-1")
                message = {**message, "headers": [*message.get("headers", []), (HEADER.encode(), value)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_report)
        finally:
            _report.reset(token)


def install(app) -> None:
    """Patch argilla-server's delete_user in this process and report through `app` (idempotent)."""
    from curation.upstream.argilla_server import accounts

    if not hasattr(accounts.delete_user, "upstream"):
        accounts.delete_user = _delete_user_restoring_records(accounts.delete_user)
    if not getattr(app, "_curation_removal_report", False):
        app.add_middleware(RemovalReport)
        app._curation_removal_report = True
