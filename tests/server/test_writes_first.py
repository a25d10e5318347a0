"""Writes first (`curation.server.writes_first`): an API read waits for the writes in flight, so a
submit never queues behind reads (issue 21, submit latency; bench/team.py prints the figures).

The middleware runs here in front of a plain ASGI app whose calls end when the test says so, so
each test states an order of events, never a duration.
"""

from __future__ import annotations

import asyncio

import pytest

from curation.errors import BadInput
from curation.server import writes_first
from curation.server.writes_first import READS_AT_ONCE, WritesFirst, is_read

SEARCH = "/api/v1/me/datasets/d/records/search"
SUBMIT = "/api/v1/records/r/responses"


class Calls:
    """An ASGI app: each call records that it started, then waits until the test ends it."""

    def __init__(self):
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, scope, receive, send):
        name = scope["name"]
        self.started.append(name)
        await self.gates.setdefault(name, asyncio.Event()).wait()

    def end(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()


def call(middleware, name: str, method: str, path: str) -> asyncio.Task:
    scope = {"type": "http", "method": method, "path": path, "name": name}
    return asyncio.ensure_future(middleware(scope, None, None))


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_what_counts_as_a_read():
    assert is_read("GET", "/api/v1/me")
    assert is_read("POST", SEARCH)
    assert is_read("POST", "/api/v1/datasets/d/records/search/")
    assert not is_read("POST", SUBMIT)
    assert not is_read("PUT", "/api/v1/responses/x")
    assert not is_read("POST", "/api/v1/datasets/d/records/bulk")


def test_a_read_arriving_during_a_submit_starts_after_it_and_the_submit_never_waits():
    async def run():
        app = Calls()
        gate = WritesFirst(app, read_wait_s=60)
        submit = call(gate, "submit", "POST", SUBMIT)
        await settle()
        search = call(gate, "search", "POST", SEARCH)
        await settle()
        assert app.started == ["submit"]  # the search waits for the submit in flight
        second_submit = call(gate, "submit-2", "POST", SUBMIT)
        await settle()
        assert app.started == ["submit", "submit-2"]  # a write never waits, not even for a waiting read
        app.end("submit")
        app.end("submit-2")
        await settle()
        assert app.started[-1] == "search"
        app.end("search")
        await asyncio.gather(submit, second_submit, search)

    asyncio.run(run())


def test_reads_waiting_start_a_few_at_a_time_first_come_first_served():
    async def run():
        app = Calls()
        gate = WritesFirst(app, read_wait_s=60)
        submit = call(gate, "submit", "POST", SUBMIT)
        await settle()
        reads = [call(gate, f"read-{i}", "GET", "/api/v1/me") for i in range(READS_AT_ONCE + 2)]
        await settle()
        app.end("submit")
        await settle()
        assert app.started == ["submit"] + [f"read-{i}" for i in range(READS_AT_ONCE)]
        app.end("read-0")
        await settle()
        assert app.started[-1] == f"read-{READS_AT_ONCE}"  # the next in line, when one place frees
        for i in range(READS_AT_ONCE + 2):
            app.end(f"read-{i}")
        await asyncio.gather(submit, *reads)

    asyncio.run(run())


async def a_read_starts_while_a_submit_is_stuck(read_wait_s: float) -> None:
    app = Calls()
    gate = WritesFirst(app, read_wait_s=read_wait_s)
    stuck = call(gate, "stuck", "POST", SUBMIT)
    await settle()
    read = call(gate, "read", "GET", "/api/v1/me")
    while "read" not in app.started:
        await asyncio.sleep(0.01)
    assert not stuck.done()  # the read started while the submit was still in flight
    app.end("read")
    app.end("stuck")
    await asyncio.gather(stuck, read)


def test_a_call_that_runs_long_holds_reads_back_only_for_a_moment(monkeypatch):
    """A submit (or one user's slow search) that never ends lets the reads behind it start once
    its hold is over: reads cannot starve, and nobody's slow call stalls everyone."""
    monkeypatch.setattr(writes_first, "HOLD_S", 0.05)
    asyncio.run(a_read_starts_while_a_submit_is_stuck(read_wait_s=60))


def test_a_read_waits_at_most_the_configured_time(monkeypatch):
    monkeypatch.setattr(writes_first, "HOLD_S", 60)  # the submit holds reads back longer than they may wait
    asyncio.run(a_read_starts_while_a_submit_is_stuck(read_wait_s=0.05))


def test_a_read_whose_client_goes_away_while_waiting_gives_its_place_back():
    async def run():
        app = Calls()
        gate = WritesFirst(app, read_wait_s=60)
        submit = call(gate, "submit", "POST", SUBMIT)
        await settle()
        gone = call(gate, "gone", "GET", "/api/v1/me")
        await settle()
        gone.cancel()
        await settle()
        app.end("submit")
        await submit
        reads = [call(gate, f"read-{i}", "GET", "/api/v1/me") for i in range(READS_AT_ONCE)]
        await settle()
        assert app.started == ["submit"] + [f"read-{i}" for i in range(READS_AT_ONCE)]
        for i in range(READS_AT_ONCE):
            app.end(f"read-{i}")
        await asyncio.gather(*reads)
        assert gone.cancelled()

    asyncio.run(run())


def test_zero_turns_it_off_and_other_paths_pass_straight_through(monkeypatch):
    async def run():
        app = Calls()
        off = WritesFirst(app, read_wait_s=0)
        submit = call(off, "submit", "POST", SUBMIT)
        read = call(off, "read", "GET", "/api/v1/me")
        on = WritesFirst(app, read_wait_s=60)
        submit_on = call(on, "submit-on", "POST", SUBMIT)
        await settle()
        page = call(on, "ui-page", "GET", "/dataset/d/annotation-mode")  # the web UI's files: not gated
        await settle()
        assert app.started == ["submit", "read", "submit-on", "ui-page"]
        for name in app.started:
            app.end(name)
        await asyncio.gather(submit, read, submit_on, page)

    asyncio.run(run())


def test_the_wait_is_read_from_the_environment_and_a_bad_value_is_one_line(monkeypatch):
    from curation import settings

    monkeypatch.delenv("CURATION_READ_WAIT_MS", raising=False)
    assert settings.read_wait_s() == 5.0
    monkeypatch.setenv("CURATION_READ_WAIT_MS", "0")
    assert settings.read_wait_s() == 0
    for bad in ("-1", "soon"):
        monkeypatch.setenv("CURATION_READ_WAIT_MS", bad)
        with pytest.raises(BadInput, match="CURATION_READ_WAIT_MS"):
            settings.read_wait_s()
