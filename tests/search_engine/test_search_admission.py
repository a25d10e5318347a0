"""Bounds on searches at once (`curation.server.admission`), the wall-clock budget, and index
writes that never wait for reads' threads.

Before these (issue 21), six costly searches by one annotator took every thread of asyncio's
shared pool: an admin's search and a submit's index write waited for them, 84 s. The same burst
through the real server is in tests/server/test_search_burst.py.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from argilla_server.enums import DatasetStatus

from curation.server import admission
from curation.server.admission import SearchBusy, search_slot
from curation.server.search_engine import SQLiteSearchEngine
from curation.server.search_query import SearchRejected
from tests.search_engine import builders as b
from tests.search_engine.builders import asynctest

# A deadlock guard only (a search that waits forever never returns); nothing is timed.
GUARD_S = 60
HOLD_S = 15.0


@pytest.fixture(autouse=True)
def small_bounds(monkeypatch):
    """Two searches per user, three in all; a refused search waits 0.2 s (not 2 s) for a slot."""
    monkeypatch.setenv("CURATION_SEARCHES_PER_USER", "2")
    monkeypatch.setenv("CURATION_SEARCHES_AT_ONCE", "3")
    monkeypatch.setattr(admission, "QUEUE_WAIT_S", 0.2)


async def holding(user, release: asyncio.Event, admitted: list):
    """A search of `user` that holds its slot until `release` is set."""
    async with search_slot(user, HOLD_S):
        admitted.append(user)
        await asyncio.wait_for(release.wait(), GUARD_S)


@asynctest
async def test_a_users_search_beyond_the_per_user_bound_waits_then_is_refused_with_retry_after():
    release, admitted = asyncio.Event(), []
    running = [asyncio.create_task(holding("ann", release, admitted)) for _ in range(2)]
    await asyncio.sleep(0)

    with pytest.raises(SearchBusy, match="2 searches running") as refused:
        async with search_slot("ann", HOLD_S):
            pass
    # Someone else's search is let through at once, the same moment.
    async with search_slot("bob", HOLD_S):
        pass

    assert 1 <= refused.value.retry_after_s <= HOLD_S
    assert "\n" not in str(refused.value)
    release.set()
    await asyncio.gather(*running)
    assert admitted == ["ann", "ann"]


@asynctest
async def test_the_overall_bound_refuses_any_user_and_a_freed_slot_goes_to_the_waiting_search():
    release, admitted = asyncio.Event(), []
    running = [asyncio.create_task(holding(user, release, admitted)) for user in ("ann", "bob", None)]
    await asyncio.sleep(0)

    with pytest.raises(SearchBusy, match="running 3 searches"):
        async with search_slot("cat", HOLD_S):
            pass

    go = asyncio.Event()
    go.set()
    waiting = asyncio.create_task(holding("cat", go, admitted))
    await asyncio.sleep(0)
    assert admitted == ["ann", "bob", None]
    release.set()  # the three end: the waiting search gets a slot within its wait, not SearchBusy
    await asyncio.gather(*running, waiting)
    assert admitted[-1] == "cat"


@asynctest
async def test_a_cancelled_wait_leaves_no_slot_taken():
    release, admitted = asyncio.Event(), []
    running = [asyncio.create_task(holding("ann", release, admitted)) for _ in range(2)]
    await asyncio.sleep(0)
    waiting = asyncio.create_task(holding("ann", release, admitted))
    await asyncio.sleep(0)
    waiting.cancel()  # the client went away while its search waited
    release.set()
    await asyncio.gather(*running)
    with pytest.raises(asyncio.CancelledError):
        await waiting

    async with search_slot("ann", HOLD_S), search_slot("ann", HOLD_S):  # both of the user's slots are free
        pass
    assert admitted == ["ann", "ann"]


# --------------------------------------------------------------------------- the engine


async def indexed(engine: SQLiteSearchEngine, count: int):
    dataset = b.dataset(fields=[b.text_field("text")], status=DatasetStatus.ready)
    for i in range(count):
        b.record(dataset, fields={"text": f"card number {i}"})
    await engine.create_index(dataset)
    await engine.index_records(dataset, dataset.records)
    return dataset


@asynctest
async def test_a_search_stops_at_its_time_limit_and_says_so(engine):
    dataset = await indexed(engine, 300)
    hurried = SQLiteSearchEngine(engine.path, max_search_wall_s=0)

    with pytest.raises(SearchRejected, match="after 0 s, this server's time limit for one search"):
        await hurried.search(dataset, query="card")
    assert (await engine.search(dataset, query="card", limit=1)).total == 300


@asynctest
async def test_the_engine_refuses_a_users_searches_beyond_the_bound(engine, monkeypatch):
    """A search takes its user's slot for its whole read; the next one beyond the bound is refused."""
    dataset = await indexed(engine, 3)
    reading, done = threading.Event(), threading.Event()
    store_read = engine.store.read

    async def held_read(fn, **budget):
        def blocked(conn):
            reading.set()
            done.wait(GUARD_S)
            return fn(conn)

        return await store_read(blocked, **budget)

    monkeypatch.setattr(engine.store, "read", held_read)
    running = [asyncio.create_task(engine.search(dataset, query="card", user_id="ann")) for _ in range(2)]
    assert await asyncio.to_thread(reading.wait, GUARD_S)

    with pytest.raises(SearchBusy):
        await engine.search(dataset, query="card", user_id="ann")
    done.set()
    assert [result.total for result in await asyncio.gather(*running)] == [3, 3]


@asynctest
async def test_an_index_write_does_not_wait_for_reads_that_hold_every_read_thread(engine):
    """Writes have a thread of their own: before, they queued in the pool that reads filled."""
    dataset = await indexed(engine, 1)
    threads = engine.store._read_threads._max_workers
    started, finish = threading.Semaphore(0), threading.Event()

    def long_read(conn):
        started.release()
        return finish.wait(GUARD_S)

    reads = [asyncio.create_task(engine.store.read(long_read)) for _ in range(threads)]
    for _ in range(threads):
        assert await asyncio.to_thread(started.acquire, timeout=GUARD_S)

    more = b.record(dataset, fields={"text": "written while every read thread is busy"})
    write = asyncio.create_task(engine.index_records(dataset, [more]))
    done, _ = await asyncio.wait([write], timeout=GUARD_S)
    finish.set()
    assert write in done, "the index write waited for the reads"
    assert all(await asyncio.gather(*reads))
