"""Crash points for crash-recovery tests: the server process dies at a named point, as a power
cut or `kill -9` would leave it, so a test can stop it exactly between two writes.

`hit("before-index")` sits in the search engine's `index_records`: argilla-server has already
committed the records to its database and not yet indexed them. Set CURATION_FAULT to a point's
name in the environment of the server processes to arm it; unset, `hit` does nothing.
"""

from __future__ import annotations

import os

from curation import settings

# The exit status of a process stopped by a fault, so a test can tell it from a real crash.
FAULT_EXIT_STATUS = 97


def hit(point: str) -> None:
    """Exit this process at once (no cleanup, no flushing) if CURATION_FAULT names `point`."""
    if settings.fault() == point:
        os._exit(FAULT_EXIT_STATUS)
