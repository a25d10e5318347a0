"""What a submit (`POST /api/v1/records/{id}/responses`) costs the real servers: issue 21's
submit latency (README: Production mode).

- The embedded server's SQLite database runs in WAL mode (`database.use_wal`).
- On PostgreSQL, a record's status after concurrent submits is decided under a row lock, with no
  serialization failure (each one cost upstream a backoff of up to 1 s) and the right status
  (`record_status_lock`).
- Webhook events are built only when a webhook listens for them (`unheard_webhook_events`):
  read from PostgreSQL's own statement log.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from contextlib import closing, contextmanager

import argilla as rg
import httpx
import pytest

from curation.server import backup

pytestmark = pytest.mark.slow

ANSWER = {"values": {"label": {"value": "good"}}, "status": "submitted"}


def _team(info, name: str, annotators: int, records: int, min_submitted: int = 1):
    """A workspace, `annotators` annotators (their API keys) and a dataset of `records` records
    that each needs `min_submitted` submitted responses; returns (dataset id, keys, record ids)."""
    client = rg.Argilla(api_url=info.url, api_key=info.api_key)
    workspace = rg.Workspace(name=f"{name}-ws", client=client).create()
    keys = []
    for i in range(annotators):
        user = rg.User(username=f"{name}-{i}", role="annotator", password=f"{name}-password-{i}",
                       client=client).create()
        user.add_to_workspace(workspace)
        keys.append(httpx.get(f"{info.url}/api/v1/users/{user.id}",
                              headers={"X-Argilla-Api-Key": info.api_key}).json()["api_key"])
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])],
                           distribution=rg.TaskDistribution(min_submitted=min_submitted))
    dataset = rg.Dataset(name=f"{name}-data", workspace=workspace, settings=settings, client=client).create()
    dataset.records.log([{"text": f"{name} record {i}"} for i in range(records)])
    return str(dataset.id), keys, sorted(_statuses(info, str(dataset.id)))


def _statuses(info, dataset_id: str) -> dict[str, str]:
    """Each record's status as the database holds it (this listing does not use the search index)."""
    page = httpx.get(f"{info.url}/api/v1/datasets/{dataset_id}/records", params={"limit": 1000},
                     headers={"X-Argilla-Api-Key": info.api_key}).json()["items"]
    return {record["id"]: record["status"] for record in page}


def _submit(url: str, key: str, record_id: str) -> int:
    return httpx.post(f"{url}/api/v1/records/{record_id}/responses", json=ANSWER,
                      headers={"X-Argilla-Api-Key": key}, timeout=120).status_code


def test_the_embedded_database_runs_in_wal_mode_and_its_backup_is_one_file(argilla_server, tmp_path):
    # The server has opened its database by now (the fixture signed in as the owner).
    with closing(sqlite3.connect(argilla_server.data_dir / "argilla.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # A backup stays in rollback-journal mode: one self-contained file, readable from read-only media.
    copy = backup.backup(argilla_server.data_dir, tmp_path / "backup") / "argilla.db"
    assert copy.read_bytes()[18:20] == b"\x01\x01"  # the header's "legacy" (not WAL) file format
    assert sorted(p.name for p in copy.parent.iterdir()) == ["argilla.db", "auth-secret", "backup.json", "owner.json"]


def test_concurrent_submits_on_postgres_fail_no_transaction_and_complete_every_record(argilla_pg_server, postgres):
    info = argilla_pg_server
    # Annotators in pairs; each pair answers the same 8 records in the same order, at once, so a
    # record gets its two responses (and two status updates) at nearly the same moment.
    pairs, per_pair = 5, 8
    dataset_id, keys, record_ids = _team(info, "statuslock", annotators=2 * pairs, records=pairs * per_pair,
                                         min_submitted=2)
    log = postgres.folder / "postgres.log"

    def serialization_failures() -> int:
        return log.read_text(errors="replace").count("could not serialize access")

    failures_before = serialization_failures()

    codes: list[int] = []
    lock = threading.Lock()

    def annotator(key: str, records: list[str]) -> None:
        for record_id in records:
            code = _submit(info.url, key, record_id)
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=annotator, args=(key, record_ids[(i // 2) * per_pair:(i // 2 + 1) * per_pair]))
               for i, key in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert codes == [201] * (2 * pairs * per_pair)
    # Upstream's SERIALIZABLE recount failed some of these (then slept up to 1 s and retried).
    failures = serialization_failures() - failures_before
    assert failures == 0
    # Each record's later recount saw both responses.
    assert set(_statuses(info, dataset_id).values()) == {"completed"}


@contextmanager
def _statement_log(postgres):
    """PostgreSQL logs every statement while inside; yields a function returning the statements
    logged since the block began (between two marker statements of our own)."""
    marker = f"curation-marker-{uuid.uuid4().hex}"
    log = postgres.folder / "postgres.log"
    conn = postgres.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("ALTER SYSTEM SET log_statement = 'all'")
            cursor.execute("SELECT pg_reload_conf()")
        with closing(postgres.connect()) as probe, probe.cursor() as cursor:
            cursor.execute("SHOW log_statement")  # a new session reads the reloaded file
            assert cursor.fetchone()[0] == "all"
            cursor.execute(f"SELECT '{marker}-start'")

        def since_start() -> str:
            with closing(postgres.connect()) as probe, probe.cursor() as cursor:
                cursor.execute(f"SELECT '{marker}-end'")
            text = log.read_text(errors="replace")
            return text[text.index(f"{marker}-start"):text.index(f"{marker}-end")]

        yield since_start
    finally:
        with conn.cursor() as cursor:
            cursor.execute("ALTER SYSTEM RESET log_statement")
            cursor.execute("SELECT pg_reload_conf()")
        conn.close()


def test_a_submit_builds_webhook_events_only_when_a_webhook_listens(argilla_pg_server, postgres):
    info = argilla_pg_server
    _, keys, record_ids = _team(info, "unheard", annotators=1, records=4)
    key = keys[0]
    _submit(info.url, key, record_ids[0])  # every worker process has served a submit before we count
    owner = {"X-Argilla-Api-Key": info.api_key}

    # Building an event loads the dataset's vector settings; nothing else in a submit reads them.
    with _statement_log(postgres) as logged:
        assert _submit(info.url, key, record_ids[1]) == 201
        assert _submit(info.url, key, record_ids[2]) == 201
        unheard = logged()
    assert "INSERT INTO responses" in unheard  # the log did record the submits
    built = unheard.count("FROM vectors_settings")
    assert built == 0  # upstream: 3 events built per submit (6 here), none sent

    webhook = httpx.post(f"{info.url}/api/v1/webhooks", headers=owner,
                         json={"url": "http://127.0.0.1:9/hook", "events": ["response.created"]}).json()
    try:
        with _statement_log(postgres) as logged:
            assert _submit(info.url, key, record_ids[3]) == 201
            heard = logged()
        # The response event, which the webhook takes, is built (once); the record events are not.
        assert heard.count("FROM vectors_settings") == 1
    finally:
        httpx.delete(f"{info.url}/api/v1/webhooks/{webhook['id']}", headers=owner)
