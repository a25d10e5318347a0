"""Production mode: argilla-server on a real PostgreSQL and redis-server with 2 uvicorn workers
(the session's `argilla_pg_server`), and what `--workers` does on SQLite.

Failure cases run against the real processes: one worker killed with SIGKILL under load, redis
and then PostgreSQL stopped under the running server and started again.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import argilla as rg
import httpx
import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.server import database, embedded

pytestmark = pytest.mark.slow


def _owner(info) -> rg.Argilla:
    return rg.Argilla(api_url=info.url, api_key=info.api_key)


def _api_key(info, user_id) -> str:
    response = httpx.get(f"{info.url}/api/v1/users/{user_id}", headers={"X-Argilla-Api-Key": info.api_key})
    return response.json()["api_key"]


def _team(info, name: str, annotators: int, records: int):
    """A workspace, `annotators` annotators (each with its own key) and a dataset of `records` records."""
    client = _owner(info)
    workspace = rg.Workspace(name=f"{name}-ws", client=client).create()
    keys = []
    for i in range(annotators):
        user = rg.User(username=f"{name}-{i}", role="annotator", password=f"{name}-password-{i}", client=client).create()
        user.add_to_workspace(workspace)
        keys.append(_api_key(info, user.id))
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    dataset = rg.Dataset(name=f"{name}-data", workspace=workspace, settings=settings, client=client).create()
    dataset.records.log([{"text": f"{name} record number {i}"} for i in range(records)])
    record_ids = [str(record._server_id) for record in dataset.records]
    return dataset, keys, record_ids


def _stored_responses(info, dataset) -> set[tuple[str, str]]:
    """(record id, user id) of every response the database holds for the dataset."""
    stored = set()
    for record in _owner(info).datasets(name=dataset.name, workspace=dataset.workspace.name).records(with_responses=True):
        for response in record.responses["label"]:
            stored.add((str(record._server_id), str(response.user_id)))
    return stored


def _cmdlines_and_environs(info) -> list[tuple[str, str]]:
    state = embedded._read_json(info.data_dir / embedded.STATE_FILE)
    pids = [*state["pids"].values(), *embedded.worker_pids(state["pids"]["server"])]
    return [(Path(f"/proc/{pid}/cmdline").read_bytes().decode(), Path(f"/proc/{pid}/environ").read_bytes().decode())
            for pid in pids]


def test_the_server_runs_on_postgres_with_two_workers_and_no_password_in_argv(argilla_pg_server, postgres,
                                                                                 redis_server):
    info = argilla_pg_server
    assert info.workers == 2 and info.workers_running == 2
    assert info.database == postgres.url(database.target(database.stored_url(info.data_dir)).database,
                                         password=False).replace("postgres@", "postgres:***@")
    # The database is PostgreSQL's: no SQLite file; the data folder remembers the URL privately.
    assert not (info.data_dir / "argilla.db").exists()
    assert oct((info.data_dir / database.DATABASE_FILE).stat().st_mode & 0o777) == "0o600"
    assert database.table_count(database.stored_url(info.data_dir)) > 5

    # Passwords travel by environment only (readable by this account), never on a command line.
    for cmdline, _environ in _cmdlines_and_environs(info):
        assert postgres.password not in cmdline and redis_server.password not in cmdline
    server_environ = _cmdlines_and_environs(info)[0][1]
    assert f"ARGILLA_DATABASE_URL={database.stored_url(info.data_dir)}" in server_environ.split("\0")

    result = CliRunner().invoke(main, ["server", "status", "--data-dir", str(info.data_dir)])
    assert result.exit_code == 0 and "workers: 2 of 2 running" in result.output
    assert postgres.password not in result.output and "postgres:***@" in result.output

    # Records go in and are found through the (shared) search index, from both workers.
    dataset, _, _ = _team(info, "pgbasic", annotators=1, records=20)
    for _ in range(6):
        found = dataset.records(query=rg.Query(query="number 7")).to_list(flatten=True)
        assert [r["text"] for r in found] == ["pgbasic record number 7"]


def test_a_restart_reuses_the_postgres_database_it_is_bound_to(postgres, redis_server, tmp_path, no_remote):
    url = postgres.new_database("restart")
    data_dir = tmp_path / "server"
    first = embedded.start(data_dir, _free_port(), database_url=url, redis_url=redis_server.url)
    try:
        assert first.owner_created and first.database.endswith("/restart_" + url.rsplit("_", 1)[1])
        _team(first, "kept", annotators=1, records=3)
    finally:
        embedded.stop(data_dir)
    # No --database this time: the folder is bound to its database, which is reused as it is.
    again = embedded.start(data_dir, _free_port())
    try:
        assert not again.owner_created and again.api_key == first.api_key and again.database == first.database
        assert [d.name for d in _owner(again).datasets] == ["kept-data"]
    finally:
        embedded.stop(data_dir)
    # Another database for the same folder, or a move of an SQLite folder, is refused in one line.
    other = CliRunner().invoke(main, ["server", "start", "--data-dir", str(data_dir), "--port", str(_free_port()),
                                      "--database", postgres.url("postgres")])
    assert other.exit_code == 2 and "serves the database" in other.output and "Traceback" not in other.output
    assert postgres.password not in other.output
    assert "the password in --database shows in `ps`" in other.output  # it was on this command line


def test_several_workers_on_sqlite_are_refused_in_one_line(tmp_path, no_remote):
    result = CliRunner().invoke(main, ["server", "start", "--data-dir", str(tmp_path / "server"),
                                       "--port", str(_free_port()), "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "--workers 2 needs PostgreSQL (--database)" in result.output and "Traceback" not in result.output
    assert embedded.status(tmp_path / "server") is None
    bad = CliRunner().invoke(main, ["server", "start", "--data-dir", str(tmp_path / "server"),
                                    "--database", "mysql://root@127.0.0.1/argilla"])
    assert bad.exit_code == 2 and "must be a PostgreSQL URL" in bad.output
    # --database on an embedded server's folder would leave its data behind: the README's move instead.
    embedded_dir = tmp_path / "embedded"
    embedded_dir.mkdir()
    (embedded_dir / "argilla.db").touch()
    moved = CliRunner().invoke(main, ["server", "start", "--data-dir", str(embedded_dir),
                                      "--database", "postgresql+asyncpg://argilla@127.0.0.1:1/argilla"])
    assert moved.exit_code == 2 and "holds an embedded server's SQLite database" in moved.output
    assert "curate server restore" in moved.output and not (embedded_dir / database.DATABASE_FILE).exists()


def test_a_worker_killed_under_load_loses_no_response_and_is_replaced(argilla_pg_server):
    info = argilla_pg_server
    dataset, keys, record_ids = _team(info, "kill", annotators=4, records=40)
    user_ids = [str(u.id) for u in _owner(info).users if u.username.startswith("kill-")]
    acknowledged: set[tuple[str, str]] = set()
    failures: list[str] = []
    answered_after_kill = []
    killed_at = []

    def annotate(key: str) -> None:
        me = httpx.get(f"{info.url}/api/v1/me", headers={"X-Argilla-Api-Key": key}).json()["id"]
        with httpx.Client(base_url=info.url, headers={"X-Argilla-Api-Key": key}, timeout=30) as http:
            for record_id in record_ids:
                for _attempt in range(5):  # what the UI's user does when a request breaks: try again
                    try:
                        response = http.post(f"/api/v1/records/{record_id}/responses",
                                             json={"values": {"label": {"value": "good"}}, "status": "submitted"})
                    except httpx.TransportError:
                        time.sleep(0.2)
                        continue
                    if response.status_code in (201, 409):  # 409: stored by the attempt that broke
                        acknowledged.add((record_id, me))
                        if killed_at:
                            answered_after_kill.append(time.monotonic())
                    else:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    break
                else:
                    failures.append(f"{record_id}: no answer in 5 attempts")

    threads = [threading.Thread(target=annotate, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    victim = embedded.worker_pids(info.pid)[0]
    os.kill(victim, 9)
    killed_at.append(time.monotonic())
    for thread in threads:
        thread.join(timeout=300)

    assert failures == []
    assert answered_after_kill, "no request was answered after the kill"
    expected = {(record_id, user) for record_id in record_ids for user in user_ids}
    assert acknowledged == expected
    assert _stored_responses(info, dataset) == expected  # nothing acknowledged was lost

    # uvicorn's supervisor started a new worker in its place; status says so.
    deadline = time.monotonic() + 60
    while (victim in embedded.worker_pids(info.pid) or len(embedded.worker_pids(info.pid)) < 2) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    workers = embedded.worker_pids(info.pid)
    assert len(workers) == 2 and victim not in workers
    status = CliRunner().invoke(main, ["server", "status", "--data-dir", str(info.data_dir)])
    assert status.exit_code == 0 and "workers: 2 of 2 running" in status.output


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _free_port() -> int:
    from tests.fixtures.server import free_port

    return free_port()
