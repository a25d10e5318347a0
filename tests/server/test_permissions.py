"""The server's data folder holds every user's API key: nothing in it may be readable by others.

pytest's temporary root is already 0700, so "another account is denied" would pass even with a
0755 folder and 0644 files inside; these tests read the permission bits of every path instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import argilla as rg
import pytest

from curation.server import embedded
from tests.fixtures.server import exposed_paths

pytestmark = pytest.mark.slow


def test_everything_the_running_server_wrote_is_private(argilla_server, argilla_client):
    # Make the server write everywhere it writes: database, search index (and their journals), logs.
    workspace = rg.Workspace(name="perm-ws", client=argilla_client).create()
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["a", "b"])])
    dataset = rg.Dataset(name="perm-data", workspace=workspace, settings=settings, client=argilla_client).create()
    dataset.records.log([{"text": "a private record"}])
    assert [r.fields["text"] for r in dataset.records(query=rg.Query(query="private"))] == ["a private record"]

    data_dir = Path(argilla_server.data_dir)
    written = {p.name for p in data_dir.iterdir()}
    assert {"argilla.db", "curation-search.sqlite3", "owner.json", "auth-secret", "logs", "server.lock"} <= written
    assert embedded.redis_socket(data_dir).exists()
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert exposed_paths(data_dir) == []


def test_every_server_process_runs_under_a_private_umask(argilla_server):
    pids = embedded._read_json(Path(argilla_server.data_dir) / embedded.STATE_FILE)["pids"]
    assert set(pids) == {"redis", "server", "worker"}
    for name, pid in pids.items():
        fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        assert fields["Umask"].strip() == "0077", name
