"""Start, status, stop and restart of the embedded server, through the CLI and the library."""

from __future__ import annotations

import os
import stat

import argilla as rg
import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.server import embedded
from tests.fixtures.server import can_sign_in, exposed_paths, free_port, start_on_free_port

pytestmark = pytest.mark.slow


def test_status_of_a_stopped_server(tmp_path, no_remote):
    result = CliRunner().invoke(main, ["server", "status", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Argilla server: not running (data: {tmp_path.resolve()})"
    assert embedded.status(tmp_path) is None
    assert embedded.stop(tmp_path) is False


def test_start_stop_restart_keeps_data(tmp_path, no_remote):
    data_dir = tmp_path / "server"
    runner = CliRunner()

    # First start: creates the owner and shows its credentials once.
    for _ in range(3):  # a port taken between choosing and checking it is refused before any setup
        port = free_port()
        start_args = ["server", "start", "--data-dir", str(data_dir), "--port", str(port)]
        first = runner.invoke(main, start_args)
        if "already in use" not in first.output:
            break
    try:
        assert first.exit_code == 0, first.output
        info = embedded.status(data_dir)
        assert info is not None and info.url == f"http://127.0.0.1:{port}"
        assert f"Argilla is running at {info.url}" in first.output
        assert f"API key:  {info.api_key}" in first.output
        password = first.output.split("password: ")[1].split()[0]
        owner = rg.Argilla(api_url=info.url, api_key=info.api_key)
        assert owner.me.username == "owner" and owner.me.role == "owner"
        assert can_sign_in(info.url, "owner", password)
        assert stat.S_IMODE(os.stat(data_dir / "owner.json").st_mode) == 0o600
        assert {"server.log", "worker.log", "redis.log", "setup.log"} <= {p.name for p in (data_dir / "logs").iterdir()}

        # Starting again is a no-op that never shows the secrets again.
        again = runner.invoke(main, start_args)
        assert again.exit_code == 0
        assert "already running" in again.output
        assert info.api_key not in again.output and password not in again.output
        assert embedded.start(data_dir, port) == info

        status = runner.invoke(main, ["server", "status", "--data-dir", str(data_dir)])
        assert status.exit_code == 0
        assert f"running at {info.url} (pid {info.pid}" in status.output

        workspace = rg.Workspace(name="lifecycle", client=owner).create()
        dataset = _dataset(owner, workspace)
        dataset.records.log([{"text": f"{word} record"} for word in ("alpha", "beta", "gamma")])

        pids = embedded._read_json(data_dir / embedded.STATE_FILE)["pids"]
        assert set(pids) == {"redis", "server", "worker"}
    finally:
        stopped = runner.invoke(main, ["server", "stop", "--data-dir", str(data_dir)])
    assert stopped.exit_code == 0 and "Stopped the Argilla server" in stopped.output
    assert embedded.status(data_dir) is None
    assert not any(embedded._alive(pid, data_dir.resolve()) for pid in pids.values())
    assert embedded.port_free(port)
    assert "No Argilla server was running" in runner.invoke(main, ["server", "stop", "--data-dir", str(data_dir)]).output

    # A folder left by an earlier version was world-readable: the next start tightens it.
    for path in (data_dir, data_dir / "logs"):
        os.chmod(path, 0o755)
    for path in (data_dir / "argilla.db", data_dir / "curation-search.sqlite3", data_dir / "logs" / "server.log"):
        os.chmod(path, 0o644)
    assert len(exposed_paths(data_dir)) == 5

    # Restart (on another free port): same owner key, same password, same data.
    restarted = start_on_free_port(data_dir)
    try:
        assert exposed_paths(data_dir) == []
        assert restarted.api_key == info.api_key and restarted.pid != info.pid
        owner = rg.Argilla(api_url=restarted.url, api_key=restarted.api_key)
        assert can_sign_in(restarted.url, "owner", password)
        dataset = owner.datasets(name="lifecycle-data", workspace="lifecycle")
        assert dataset is not None
        assert sorted(r.fields["text"] for r in dataset.records) == ["alpha record", "beta record", "gamma record"]
        # The search index persisted too.
        assert (data_dir / "curation-search.sqlite3").exists()
        assert [r.fields["text"] for r in dataset.records(query=rg.Query(query="beta"))] == ["beta record"]
    finally:
        stopped_again = embedded.stop(data_dir)
    assert stopped_again is True
    # Neither the owner's key nor its password is in any log the server wrote.
    logs = list((data_dir / "logs").rglob("*"))
    assert {"server.log", "worker.log", "redis.log", "setup.log"} <= {p.name for p in logs}
    for log in logs:
        text = log.read_text(errors="replace")
        assert info.api_key not in text and password not in text, log.name


def _dataset(client: rg.Argilla, workspace: rg.Workspace) -> rg.Dataset:
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])],
    )
    return rg.Dataset(name="lifecycle-data", workspace=workspace, settings=settings, client=client).create()



def _start_killed_once_redis_runs(data_dir) -> list[int]:
    """Run `curate server start` in a process of its own and `kill -9` it as soon as its redis is
    up (before it records its pids in server.json); returns the redis pids it left behind."""
    import signal
    import subprocess
    import sys
    import time

    from curation.server import orphans

    sock = embedded.redis_socket(data_dir)
    starter = subprocess.Popen(
        [sys.executable, "-c", "from curation.cli import main; main()", "server", "start",
         "--data-dir", str(data_dir), "--port", str(free_port())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not orphans.redis_pids(data_dir, sock):
            assert starter.poll() is None, "the start ended before its redis was up"
            assert time.monotonic() < deadline, "its redis never came up"
            time.sleep(0.02)
    finally:
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait()
    assert not (data_dir / embedded.STATE_FILE).exists()  # killed before it recorded anything
    return orphans.redis_pids(data_dir, sock)


def test_a_start_killed_in_its_first_seconds_leaves_no_redis_to_a_later_stop_or_start(tmp_path, no_remote):
    from curation.server import orphans

    data_dir = (tmp_path / "server").resolve()
    sock = embedded.redis_socket(data_dir)
    try:
        assert len(_start_killed_once_redis_runs(data_dir)) == 1
        stopped = CliRunner().invoke(main, ["server", "stop", "--data-dir", str(data_dir)])
        assert stopped.exit_code == 0, stopped.output
        assert orphans.redis_pids(data_dir, sock) == []

        left = _start_killed_once_redis_runs(data_dir)
        info = start_on_free_port(data_dir)  # the next start takes over the folder: one redis, its own
        running = orphans.redis_pids(data_dir, sock)
        state = embedded._read_json(data_dir / embedded.STATE_FILE)
        assert running == [state["pids"]["redis"]] and not set(left) & set(running)
        assert embedded.status(data_dir).pid == info.pid
        assert embedded.stop(data_dir) is True
        assert orphans.redis_pids(data_dir, sock) == []
    finally:
        embedded.stop(data_dir)
        for pid in orphans.redis_pids(data_dir, sock):  # on failure: nothing of this test left running
            os.kill(pid, 9)
