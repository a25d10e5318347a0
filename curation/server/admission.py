"""How many searches run at once in a server process: a bound per user and one for everybody.

A search holds one of the process's search threads until it ends or spends its budget (see
`search_store`), so without a bound one annotator firing costly searches in parallel takes every
thread and everybody else's searches queue behind them. Here a search first takes a slot: at most
`per_user` for one user and `overall` in all. One that finds no free slot waits up to
`QUEUE_WAIT_S` for one (first come, first served), then is refused with `SearchBusy`: HTTP 429,
a `Retry-After` and a one-line reason.

argilla-server calls the engine without the request, and passes the user only to some searches,
so `RememberRequest` (ASGI middleware) keeps the request's scope in a context variable, where
argilla-server's authentication leaves the signed-in user (`request.state.user`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Deque, Dict, List, Optional

from curation import settings

__all__ = ["QUEUE_WAIT_S", "RememberRequest", "SearchBusy", "request_user_id", "search_slot"]

# How long a search waits for a free slot before it is refused: long enough for the UI's
# searches, which take milliseconds, to pass each other; short enough that a client that
# fires many at once learns at once.
QUEUE_WAIT_S = 2.0

_request_scope: contextvars.ContextVar[Optional[dict]] = contextvars.ContextVar("curation_request_scope",
                                                                               default=None)


class SearchBusy(Exception):
    """A search refused for want of a free slot: HTTP 429, retry after `retry_after_s` seconds."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RememberRequest:
    """ASGI middleware: makes the current request's scope (and so its user) known to the engine."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        token = _request_scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_scope.reset(token)


def request_user_id() -> Optional[str]:
    """The id of the user signed in on the current request; None outside a request or before sign-in."""
    scope = _request_scope.get()
    user = (scope or {}).get("state", {}).get("user")
    return None if user is None else str(user.id)


@dataclass
class _Waiter:
    user: Optional[str]
    hold_s: float
    granted: asyncio.Future  # its result: the slot's deadline


@dataclass
class _Gate:
    """The slots of one event loop (a server process has one; tests run several, one after another)."""

    per_user: int
    overall: int
    # user -> when each of their running searches ends at the latest (time.monotonic())
    running: Dict[Optional[str], List[float]] = field(default_factory=dict)
    waiting: Deque[_Waiter] = field(default_factory=deque)

    def _total(self) -> int:
        return sum(len(deadlines) for deadlines in self.running.values())

    def fits(self, user: Optional[str]) -> bool:
        mine = len(self.running.get(user, ())) if user is not None else 0
        return mine < self.per_user and self._total() < self.overall

    def take(self, user: Optional[str], hold_s: float) -> float:
        """Take a slot for `user` for at most `hold_s`; returns its deadline, which identifies it."""
        deadline = time.monotonic() + hold_s
        self.running.setdefault(user, []).append(deadline)
        return deadline

    def release(self, user: Optional[str], deadline: float) -> None:
        deadlines = self.running[user]
        deadlines.remove(deadline)
        if not deadlines:
            del self.running[user]
        # Hand the freed slot to the longest-waiting search it fits: a slot freed by one user
        # can let through someone else's search that waited on the overall bound.
        for waiter in list(self.waiting):
            if self.fits(waiter.user):
                waiter.granted.set_result(self.take(waiter.user, waiter.hold_s))
                self.waiting.remove(waiter)

    def withdraw(self, waiter: _Waiter) -> None:
        self.waiting.remove(waiter)
        waiter.granted.cancel()

    def refusal(self, user: Optional[str]) -> SearchBusy:
        mine = self.running.get(user, []) if user is not None else []
        if len(mine) >= self.per_user:
            blocking = mine
            reason = (f"You have {len(mine)} searches running, the most one user may run at once on this "
                      "server: wait for them to finish")
        else:
            blocking = [deadline for deadlines in self.running.values() for deadline in deadlines]
            reason = f"The server is running {len(blocking)} searches, the most it runs at once"
        # By the earliest deadline among those in the way, a slot is free (unless another waiter takes it).
        retry = max(1, math.ceil(min(blocking, default=0.0) - time.monotonic()))
        return SearchBusy(f"{reason} (retry in {retry} s).", retry)


_gates: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate]" = weakref.WeakKeyDictionary()


def _gate() -> _Gate:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = _Gate(settings.searches_per_user(), settings.searches_at_once())
    return gate


@contextlib.asynccontextmanager
async def search_slot(user: Optional[str], hold_s: float) -> AsyncIterator[None]:
    """Hold a search slot for `user` (None: counted in the overall bound only) while the block runs.

    `hold_s` is how long the search may run (its time limit): the `Retry-After` of a refusal
    counts on it.
    Raises SearchBusy when no slot frees within QUEUE_WAIT_S.
    """
    gate = _gate()
    # No waiter ever fits (a freed slot goes to them at once), so a search that fits jumps no queue.
    if gate.fits(user):
        deadline = gate.take(user, hold_s)
    else:
        waiter = _Waiter(user, hold_s, asyncio.get_running_loop().create_future())
        gate.waiting.append(waiter)
        try:
            await asyncio.wait([waiter.granted], timeout=QUEUE_WAIT_S)
        except BaseException:  # cancelled (the client went away)
            if waiter.granted.done():
                gate.release(user, waiter.granted.result())
            else:
                gate.withdraw(waiter)
            raise
        if not waiter.granted.done():
            gate.withdraw(waiter)
            raise gate.refusal(user)
        deadline = waiter.granted.result()
    try:
        yield
    finally:
        gate.release(user, deadline)
