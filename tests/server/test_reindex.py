"""A crash between argilla-server's database commit and its index update loses nothing.

The crash is deterministic: with CURATION_FAULT=before-index the server process exits hard
(os._exit) in the search engine's `index_records`, after argilla-server committed the records.
The next start must find that dataset's index out of step and rebuild it. The database is read
with sqlite3 and the index with the engine's own document reader, record by record.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID

import argilla as rg
import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.server import embedded
from curation.server.search_engine import SQLiteSearchEngine
from tests.fixtures.server import free_port, start_on_free_port, team_dataset

pytestmark = pytest.mark.slow

TEXTS = [f"crash record {word}" for word in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")]


def database_state(data_dir: Path, dataset_id: UUID) -> dict:
    """{record id: (status, {response id: (user, status, label)}, suggested label)} from argilla.db."""
    with sqlite3.connect(data_dir / "argilla.db") as db:
        dataset_key = dataset_id.hex
        state = {
            str(UUID(rid)): [status, {}, None]
            for rid, status in db.execute("SELECT id, status FROM records WHERE dataset_id = ?", (dataset_key,))
        }
        for response_id, record_id, user_id, status, values in db.execute(
            "SELECT r.id, r.record_id, r.user_id, r.status, r.\"values\" FROM responses r "
            "JOIN records ON records.id = r.record_id WHERE records.dataset_id = ?", (dataset_key,)
        ):
            label = json.loads(values)["label"]["value"]
            state[str(UUID(record_id))][1][str(UUID(response_id))] = (str(UUID(user_id)), status, label)
        for record_id, value in db.execute(
            "SELECT s.record_id, s.value FROM suggestions s JOIN records ON records.id = s.record_id "
            "WHERE records.dataset_id = ?", (dataset_key,)
        ):
            state[str(UUID(record_id))][2] = json.loads(value)
    return {rid: tuple(parts) for rid, parts in state.items()}


def index_state(data_dir: Path, dataset_id: UUID, record_ids) -> dict:
    """The same, as the search index holds it (records it lacks are None)."""
    engine = SQLiteSearchEngine(data_dir / "curation-search.sqlite3")
    dataset = SimpleNamespace(id=dataset_id)

    async def read():
        return {rid: await engine.get_document(dataset, rid) for rid in record_ids}

    state = {}
    for rid, doc in asyncio.run(read()).items():
        if doc is None:
            state[rid] = None
            continue
        responses = {r["id"]: (r["user_id"], r["status"], r.get("label")) for r in doc.get("responses", [])}
        suggested = doc.get("suggestions", {}).get("label", {}).get("value")
        state[rid] = (doc["status"], responses, suggested)
    return state


def test_records_committed_before_a_crash_are_indexed_at_the_next_start(tmp_path, no_remote, monkeypatch):
    data_dir = tmp_path / "server"
    monkeypatch.setenv("CURATION_FAULT", "before-index")
    info = start_on_free_port(data_dir)
    try:
        annotator, dataset = team_dataset(rg.Argilla(api_url=info.url, api_key=info.api_key), "crash")
        records = []
        for i, text in enumerate(TEXTS):
            responses = [rg.Response("label", "good" if i % 3 else "bad", user_id=annotator.id,
                                     status="submitted")] if i % 2 else []
            records.append(rg.Record(fields={"text": text}, responses=responses,
                                     suggestions=[rg.Suggestion("label", "bad", score=0.25, agent="judge")]))
        # argilla-server commits the records, then its index_records stops the server dead.
        with pytest.raises(Exception):  # noqa: B017 (the lost connection surfaces as httpx's or the SDK's error)
            dataset.records.log(records)
        assert embedded.status(data_dir) is None  # the server process is gone
    finally:
        embedded.stop(data_dir)  # its worker and redis
    monkeypatch.delenv("CURATION_FAULT")

    in_database = database_state(data_dir, dataset.id)
    assert len(in_database) == len(TEXTS)
    assert sum(1 for _, responses, _ in in_database.values() if responses) == len(TEXTS) // 2
    # The crash left every committed record out of the index: reviewers would never see them.
    assert set(index_state(data_dir, dataset.id, in_database).values()) == {None}

    runner = CliRunner()
    for _ in range(3):  # a port taken between choosing and binding it is refused before any setup
        start = runner.invoke(main, ["server", "start", "--data-dir", str(data_dir), "--port", str(free_port())])
        if "already in use" not in start.output:
            break
    try:
        assert start.exit_code == 0, start.output
        assert (f"Reindexed crash-ws/crash-data ({len(TEXTS)} records): its search index had missed changes "
                "the database holds.") in start.output
        restarted = embedded.status(data_dir)
        assert index_state(data_dir, dataset.id, in_database) == in_database == database_state(data_dir, dataset.id)
        statuses = sorted(status for status, _, _ in in_database.values())
        assert statuses == ["completed"] * 3 + ["pending"] * 3
        labels = {label for _, responses, _ in in_database.values() for _, _, label in responses.values()}
        assert labels == {"good", "bad"}

        owner = rg.Argilla(api_url=restarted.url, api_key=restarted.api_key)
        found = owner.datasets(name="crash-data", workspace="crash-ws").records(query=rg.Query(query="gamma"))
        assert [r.fields["text"] for r in found] == ["crash record gamma"]
    finally:
        embedded.stop(data_dir)

    # In step now: the next start rebuilds nothing.
    again = start_on_free_port(data_dir)
    try:
        assert again.reindexed == []
        # `curate server reindex` rebuilds a dataset on demand, by name, while the server runs.
        result = runner.invoke(main, ["server", "reindex", "crash-data", "--data-dir", str(data_dir)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"Reindexed crash-ws/crash-data: {len(TEXTS)} records."
        assert index_state(data_dir, dataset.id, in_database) == in_database
        missing = runner.invoke(main, ["server", "reindex", "no-such-data", "--data-dir", str(data_dir)])
        assert missing.exit_code == 2 and "no dataset 'no-such-data'" in missing.output
    finally:
        embedded.stop(data_dir)
