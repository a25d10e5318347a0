"""A push whose server dies says how many new records the server holds, checked after a restart.

Each test runs a server of its own (not the session's): the push kills it, deterministically.
With CURATION_FAULT=before-index the server process exits hard inside its bulk write, after
argilla-server committed the records and before it answered: the push cannot know whether that
request was stored, so the message gives what was confirmed and what may also be there.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time

import argilla as rg
import httpx
import pytest

from curation.argilla import records
from curation.errors import ArgillaUnavailable
from curation.review import push as push_module
from curation.review.push import push_batch
from curation.review.records import id_prefix
from curation.server import embedded
from tests.fixtures.server import start_on_free_port
from tests.review.sample_batches import write_sample_batch

pytestmark = pytest.mark.slow

ROWS = 1200  # three bulk requests of 500, 500 and 200
STOPPED = re.compile(r"stopped after (\d+) of (\d+) new records"
                     r"(?: confirmed; the server may also hold the (\d+) it was sent last)?")


def _client(info, **http) -> rg.Argilla:
    return rg.Argilla(api_url=info.url, api_key=info.api_key, **http)


def _push_until_it_fails(batch, info, **http) -> tuple[int, int]:
    """Push to the server until it dies; (records confirmed, records that may also be stored)."""
    client = _client(info, **http)
    rg.Workspace(name="killed", client=client).create()
    with pytest.raises(ArgillaUnavailable) as failed:
        push_batch(batch, "killed-push", workspace="killed", client=client, show_progress=False)
    message = str(failed.value)
    found = STOPPED.search(message)
    assert found, message
    assert int(found[2]) == ROWS and "Traceback" not in message
    return int(found[1]), int(found[3] or 0)


def _held_after_restart(data_dir, batch) -> int:
    embedded.stop(data_dir)  # what the dead server left: its worker and redis
    info = start_on_free_port(data_dir)
    try:
        client = _client(info)
        dataset = client.datasets(name="killed-push", workspace="killed")
        return len(records.external_ids(client, dataset.id, id_prefix(batch.id)))
    finally:
        embedded.stop(data_dir)


def test_a_server_dying_inside_a_bulk_write_is_reported_with_what_it_stored(tmp_path, no_remote, monkeypatch):
    batch = write_sample_batch(tmp_path / "batches", "sft", ROWS)
    data_dir = tmp_path / "server"
    monkeypatch.setenv("CURATION_FAULT", "before-index")  # armed in the server's processes
    info = start_on_free_port(data_dir)
    monkeypatch.delenv("CURATION_FAULT")
    try:
        confirmed, maybe = _push_until_it_fails(batch, info)
    finally:
        embedded.stop(data_dir)
    held = _held_after_restart(data_dir, batch)
    assert held == 500  # the first request was committed, then the server died before answering
    assert held in (confirmed, confirmed + maybe), (confirmed, maybe, held)


def test_a_server_killed_between_requests_is_reported_exactly(tmp_path, no_remote, monkeypatch):
    batch = write_sample_batch(tmp_path / "batches", "sft", ROWS)
    data_dir = tmp_path / "server"
    info = start_on_free_port(data_dir)
    real_add_missing = records.add_missing

    def add_then_kill_the_server(*args, **kwargs):
        added = real_add_missing(*args, **kwargs)
        os.kill(info.pid, signal.SIGKILL)  # answered the first request, then gone
        while embedded.status(data_dir) is not None:
            time.sleep(0.05)
        # ... and its port closed: while the listening socket lingers, a connection is accepted and
        # never answered ("may also hold"), not refused.
        port, deadline = httpx.URL(info.url).port, time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                break
            time.sleep(0.05)
        return added

    monkeypatch.setattr(push_module.records, "add_missing", add_then_kill_the_server)
    try:
        # A connection per request: a pooled keep-alive connection to the dead server would be a
        # race (if the client has not yet seen the close, the request is written and the answer
        # never comes: "may also hold", which the test above covers), not "never reached a server".
        confirmed, maybe = _push_until_it_fails(batch, info, limits=httpx.Limits(max_keepalive_connections=0))
    finally:
        embedded.stop(data_dir)
    assert (confirmed, maybe) == (500, 0)  # the second request never reached a server: nothing unsure
    assert _held_after_restart(data_dir, batch) == confirmed
