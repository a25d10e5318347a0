"""Keep the search index in step with the database.

argilla-server commits a change to its database first and updates the search index after it;
a crash in between leaves records (or responses) the database holds and the index lacks, and
reviewers never see them: the UI finds records through the index. `stale_datasets` compares
the two per dataset, record by record (ids, statuses, responses, suggestions), and
`reindex_dataset` rebuilds one dataset's index from the database with argilla-server's own
reindex routine. Runs inside a server process (`python -m curation.server.app`), whose
environment names the database and the index.
"""

from __future__ import annotations

import sys
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from curation.server.search_engine import SQLiteSearchEngine
from curation.server.search_engine import _scalars as index_scalars
from curation.server.search_store import DatasetTables
from curation.upstream.argilla_server import (
    AsyncSessionLocal,
    Dataset,
    Question,
    Record,
    Reindexer,
    Response,
    SearchEngine,
    Suggestion,
    Workspace,
    get_search_engine,
)


class DatasetNotFound(LookupError):
    """No dataset by that name (or id), or a name that several workspaces use."""


def dataset_label(dataset: Dataset) -> str:
    return f"{dataset.workspace.name}/{dataset.name}"


async def check_and_repair(log=sys.stderr) -> list[dict]:
    """Reindex every dataset whose index differs from its database; returns [{dataset, records}]."""
    async with AsyncSessionLocal() as db:
        async for engine in get_search_engine():
            repaired = []
            for dataset in await stale_datasets(db, engine):
                print(f"search index of {dataset_label(dataset)} differs from the database: reindexing", file=log)
                repaired.append(await reindex_dataset(db, engine, dataset))
            return repaired
    return []


async def reindex(dataset_ref: str | None = None, workspace: str | None = None) -> list[dict]:
    """Rebuild the index of one dataset (by name or id) or, without `dataset_ref`, of every dataset."""
    async with AsyncSessionLocal() as db:
        async for engine in get_search_engine():
            if dataset_ref is None:
                datasets = await _datasets(db)
            else:
                datasets = [await find_dataset(db, dataset_ref, workspace)]
            return [await reindex_dataset(db, engine, dataset) for dataset in datasets]
    return []


async def reindex_dataset(db: AsyncSession, engine: SearchEngine, dataset: Dataset) -> dict:
    """Drop the dataset's index and index every record again from the database."""
    label = dataset_label(dataset)
    dataset = await Reindexer.reindex_dataset(db, engine, dataset.id)  # delete and create the index
    count = 0
    async for records in Reindexer.reindex_dataset_records(db, engine, dataset):
        count += len(records)
    return {"dataset": label, "records": count}


async def find_dataset(db: AsyncSession, ref: str, workspace: str | None) -> Dataset:
    try:
        query = select(Dataset).where(Dataset.id == UUID(ref))
    except ValueError:
        query = select(Dataset).where(Dataset.name == ref)
    if workspace is not None:
        query = query.join(Workspace).where(Workspace.name == workspace)
    found = (await db.execute(query.options(selectinload(Dataset.workspace)))).scalars().all()
    where = f" in workspace {workspace!r}" if workspace else ""
    if not found:
        raise DatasetNotFound(f"no dataset {ref!r}{where}")
    if len(found) > 1:
        spaces = ", ".join(sorted(d.workspace.name for d in found))
        raise DatasetNotFound(f"several workspaces have a dataset {ref!r} ({spaces}): name one with --workspace")
    return found[0]


async def _datasets(db: AsyncSession) -> list[Dataset]:
    query = select(Dataset).options(selectinload(Dataset.workspace)).order_by(Dataset.inserted_at)
    return [d for d in (await db.execute(query)).scalars().all() if not d.is_draft]


# -- the comparison ---------------------------------------------------------------------------


async def stale_datasets(db: AsyncSession, engine: SearchEngine) -> list[Dataset]:
    """The published datasets whose index does not hold exactly what the database holds.

    Only our SQLite engine can be read back record by record; with another engine nothing is checked.
    """
    if not isinstance(engine, SQLiteSearchEngine):
        return []
    stale = []
    for dataset in await _datasets(db):
        if await database_view(db, dataset.id) != await index_view(engine, dataset.id):
            stale.append(dataset)
    return stale


def _scalars(value: Any) -> list[str]:
    """A value as the index keeps it (the engine's own flattening), as text."""
    return [str(item) for item in index_scalars(value)]


def _answers(values: dict | None) -> tuple:
    rows = []
    for question, answer in (values or {}).items():
        value = answer.get("value") if isinstance(answer, dict) else None
        rows.extend((question, item) for item in _scalars(value))
    return tuple(sorted(rows))


async def database_view(db: AsyncSession, dataset_id: UUID) -> dict:
    """{record id: (status, responses, suggestions)} as the database has them."""
    view: dict[str, list] = {}
    records = await db.execute(select(Record.id, Record.status).where(Record.dataset_id == dataset_id))
    for record_id, status in records:
        view[str(record_id)] = [str(getattr(status, "value", status)), set(), set()]
    responses = await db.execute(
        select(Response.id, Response.record_id, Response.user_id, Response.status, Response.values)
        .join(Record, Response.record_id == Record.id)
        .where(Record.dataset_id == dataset_id)
    )
    for response_id, record_id, user_id, status, values in responses:
        view[str(record_id)][1].add((str(response_id), str(user_id), str(getattr(status, "value", status)),
                                     _answers(values)))
    suggestions = await db.execute(
        select(Suggestion.record_id, Question.name, Suggestion.value)
        .join(Question, Suggestion.question_id == Question.id)
        .join(Record, Suggestion.record_id == Record.id)
        .where(Record.dataset_id == dataset_id)
    )
    for record_id, question, value in suggestions:
        view[str(record_id)][2].update((question, item) for item in _scalars(value))
    return {record_id: (status, frozenset(resp), frozenset(sugg)) for record_id, (status, resp, sugg) in view.items()}


async def index_view(engine: SQLiteSearchEngine, dataset_id: UUID) -> dict:
    """The same view, read from the search index."""
    tables = DatasetTables(dataset_id)

    def read(conn) -> dict:
        indexed = conn.execute("SELECT 1 FROM idx_datasets WHERE id = ?", (tables.dataset,)).fetchone()
        if indexed is None:
            return {}
        ids, view = {}, {}
        for rid, key, status in conn.execute(f"SELECT rid, id, status FROM {tables.rec}"):
            ids[rid] = str(UUID(bytes=key))
            view[ids[rid]] = [str(status), {}, set()]
        answers: dict[str, list] = {}
        for response_id, question, value in conn.execute(f"SELECT response_id, question, value FROM {tables.rval}"):
            answers.setdefault(response_id, []).append((question, str(value)))

        def of(rid: int) -> list:  # rows of a record the index lacks make the views differ too
            return view.setdefault(ids.get(rid, f"missing record {rid}"), ["", {}, set()])

        for response_id, rid, user_id, status in conn.execute(f"SELECT id, rid, user_id, status FROM {tables.resp}"):
            of(rid)[1][response_id] = (response_id, user_id, status, tuple(sorted(answers.get(response_id, []))))
        query = f"SELECT rid, question, value FROM {tables.sugg} WHERE prop = 'value'"
        for rid, question, value in conn.execute(query):
            of(rid)[2].add((question, str(value)))
        return {
            record_id: (status, frozenset(responses.values()), frozenset(suggestions))
            for record_id, (status, responses, suggestions) in view.items()
        }

    return await engine.store.read(read)
