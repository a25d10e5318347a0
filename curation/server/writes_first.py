"""Writes first: an API read waits to start while a write is in flight, so submits never queue behind reads.

One server process answers every annotator on one event loop, and the CPU it has is shared by
all the calls in flight at once. An annotator who never pauses alternates a search (the UI's
pending-records call) and a submit; when ten or fifty of them do, a submit shares the CPU with
every search that started before it ends, and waits that much longer (bench/team.py: submit
p95 2.4 s at 50 such annotators in embedded mode, no faster with the no-op search engine, so
the time is argilla-server's own, not our index's).

Here a read (`GET`/`HEAD` under `/api/`, and the `POST .../search` calls) starts only when no
write (any other `/api/` call: a submit, an edit, a push) is in flight and fewer than
`READS_AT_ONCE` reads are; waiting reads start one by one, first come first served, as those
end. So the CPU goes to the submits first, and the reads that follow them are let in a few at a
time instead of all at once (letting every waiting read in as soon as the writes end made waves:
fifty reads, then fifty submits sharing the CPU). Writes never wait. A read that has waited
`CURATION_READ_WAIT_MS` (a second; `curation.settings.read_wait_s`, 0 turns all this off) starts
anyway, so reads cannot starve behind a long push, and a user's slow searches hold everyone
else's reads up for at most that long.

The bounds on searches at once (`curation.server.admission`) are unchanged: a read let through
here can still be refused there, and one user's costly searches still hold only that user's
search slots, so nobody else's reads queue behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Deque

__all__ = ["HOLD_S", "READS_AT_ONCE", "WritesFirst", "install", "is_read"]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_read(method: str, path: str) -> bool:
    """Whether an `/api/` call only reads: GET/HEAD/OPTIONS, and argilla-server's search calls
    (`POST .../search`), which change nothing."""
    return method in _READ_METHODS or (method == "POST" and path.rstrip("/").endswith("/search"))


# Reads running at once that a waiting read lets go first: two, so that one can wait on the
# database while the other runs.
READS_AT_ONCE = 2
# How long a call in flight holds waiting reads back: past it, it runs on but no longer counts,
# so one user's slow searches (up to their time limit) or a long push hold nobody up for longer.
HOLD_S = 0.5


@dataclass
class _Loop:
    """The calls in flight on one event loop (a server process has one; tests run several)."""

    writes: int = 0
    reads: int = 0
    waiting: Deque[asyncio.Future] = field(default_factory=deque)

    def admit(self) -> None:
        """Let waiting reads start, first come first served, while the rule allows."""
        while self.waiting and not self.writes and self.reads < READS_AT_ONCE:
            waiter = self.waiting.popleft()
            if not waiter.done():
                self.reads += 1
                waiter.set_result(None)

    @contextlib.contextmanager
    def holding(self, kind: str):
        """Count one call of `kind` ("reads" or "writes", already added) for at most HOLD_S."""
        held = [True]

        def release():
            if held[0]:
                held[0] = False
                setattr(self, kind, getattr(self, kind) - 1)
                self.admit()

        timer = asyncio.get_running_loop().call_later(HOLD_S, release)
        try:
            yield
        finally:
            timer.cancel()
            release()


_loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop]" = weakref.WeakKeyDictionary()


def _state() -> _Loop:
    loop = asyncio.get_running_loop()
    state = _loops.get(loop)
    if state is None:
        state = _loops[loop] = _Loop()
    return state


class WritesFirst:
    """ASGI middleware: API reads yield to the writes in flight, for at most `read_wait_s`."""

    def __init__(self, app, read_wait_s: float):
        self.app = app
        self.read_wait_s = read_wait_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/") or self.read_wait_s <= 0:
            await self.app(scope, receive, send)
            return
        state = _state()
        if is_read(scope["method"], scope["path"]):
            await self._start_read(state)
            kind = "reads"
        else:
            state.writes += 1
            kind = "writes"
        with state.holding(kind):
            await self.app(scope, receive, send)

    async def _start_read(self, state: _Loop) -> None:
        """Return once this read may start (counted in `state.reads`)."""
        if not state.waiting and not state.writes and state.reads < READS_AT_ONCE:
            state.reads += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        state.waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.read_wait_s)
        except asyncio.TimeoutError:
            if not waiter.done():  # waited long enough: start anyway
                waiter.cancel()
                state.reads += 1
        except BaseException:  # the client went away while waiting
            if waiter.done() and not waiter.cancelled():
                state.reads -= 1  # it had been let in: give the place back
                state.admit()
            else:
                waiter.cancel()
            raise


def install(app) -> None:
    """Put `WritesFirst` in front of `app`'s routes, with the configured wait. Idempotent."""
    from curation import settings

    if not getattr(app, "_curation_writes_first", False):
        app.add_middleware(WritesFirst, read_wait_s=settings.read_wait_s())
        app._curation_writes_first = True
