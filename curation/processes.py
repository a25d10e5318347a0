"""Whether a process still runs, by its pid (a lock's owner, a watcher's process)."""

from __future__ import annotations

import os


def alive(pid: int | None) -> bool:
    """Whether process `pid` exists (one of another user counts)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
