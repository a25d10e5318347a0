"""What a watcher has done, kept under the data folder: `$CURATION_HOME/watch/<TARGET>/`.

`state.sqlite` holds one row per source record the watcher has heard of (by a delivery or by the
catch-up at start) and where it stands:

- `pending`: to be generated (again, once `next_try` has passed, after a failure);
- `generated`: its batch is written, the push has not finished;
- `pushed`: its record is in TARGET (`target_id`);
- `skipped`: the export policy does not admit it (discarded, no agreement, ...): nothing to make;
- `failed`: generation failed `MAX_ATTEMPTS` times in a row; still tried again, every `MAX_DELAY`
  seconds, and at the next start.

and counters of the deliveries (accepted, duplicate, refused). `watcher.json` says which source,
recipe and webhook the watcher uses, and its process while it runs. SQLite commits each change, so
a watcher killed at any point restarts from what was committed; what was not (a record generated or
pushed but not yet marked) the catch-up finds again, and the record ids make it one record.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from curation import settings
from curation.processes import alive

STATE_FILE = "state.sqlite"
WATCHER_FILE = "watcher.json"
STATES = ("pending", "generated", "pushed", "skipped", "failed")
COUNTERS = ("deliveries", "duplicates", "refused")
MAX_ATTEMPTS = 5
MAX_DELAY = 300.0  # seconds between two tries of a record that keeps failing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    source_id TEXT PRIMARY KEY,
    server_id TEXT,               -- argilla-server's id of the record: read alone, not with its whole dataset
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    submitted_at REAL,            -- when the annotator's response completed it (from the event), if known
    done_at REAL,
    batch_id TEXT,
    target_id TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


def watch_dir(target: str) -> Path:
    """The watcher's folder for dataset `target` (its name made safe as a folder name)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in target)
    return settings.home() / "watch" / safe


@dataclass(frozen=True)
class Due:
    """A source record to generate from now."""

    source_id: str
    attempts: int
    received_at: float
    server_id: str | None


class WatchState:
    """The watcher's state file; safe to share between the listener's thread and the main one."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder = folder
        self._db = sqlite3.connect(folder / STATE_FILE, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def close(self) -> None:
        self._db.close()

    # --- deliveries -----------------------------------------------------------------------------
    def receive(self, source_id: str, submitted_at: float | None = None, server_id: str | None = None) -> bool:
        """A completed source record: pending unless it is already pending or pushed. Returns whether it is new
        work (a duplicate delivery, or a record completed again after an edit, is not)."""
        now = time.time()
        with self._changed:
            row = self._db.execute("SELECT state FROM sources WHERE source_id = ?", (source_id,)).fetchone()
            self._count("deliveries")
            if row is not None and row[0] in ("pending", "generated", "pushed"):
                self._count("duplicates")
                return False
            self._db.execute(
                "INSERT INTO sources (source_id, server_id, state, received_at, submitted_at) "
                "VALUES (?, ?, 'pending', ?, ?) "
                "ON CONFLICT(source_id) DO UPDATE SET state = 'pending', attempts = 0, next_try = 0, "
                "server_id = COALESCE(excluded.server_id, server_id), received_at = excluded.received_at, "
                "submitted_at = excluded.submitted_at, error = NULL",
                (source_id, server_id, now, submitted_at))
            self._changed.notify_all()
            return True

    def refuse(self) -> None:
        """A delivery refused (bad or missing signature, stale): counted, nothing else."""
        with self._lock:
            self._count("refused")

    def catch_up(self, admitted: dict[str, str | None], in_target: set[str]) -> int:
        """At start: records in TARGET are pushed; admitted ones (source id -> server id) not in TARGET and
        not pending become pending (deliveries missed while down, failures). Returns how many became pending."""
        now, added = time.time(), 0
        with self._changed:
            known = dict(self._db.execute("SELECT source_id, state FROM sources"))
            for source_id in in_target:
                if known.get(source_id) != "pushed":
                    self._db.execute(
                        "INSERT INTO sources (source_id, state, received_at, done_at) VALUES (?, 'pushed', ?, ?) "
                        "ON CONFLICT(source_id) DO UPDATE SET state = 'pushed', done_at = excluded.done_at, "
                        "error = NULL", (source_id, now, now))
            for source_id, server_id in admitted.items():
                if source_id in in_target or known.get(source_id) == "pending":
                    continue
                self._db.execute(
                    "INSERT INTO sources (source_id, server_id, state, received_at) VALUES (?, ?, 'pending', ?) "
                    "ON CONFLICT(source_id) DO UPDATE SET state = 'pending', attempts = 0, next_try = 0, "
                    "server_id = COALESCE(excluded.server_id, server_id), error = NULL", (source_id, server_id, now))
                added += 1
            # A record generated but not marked pushed when the watcher died: generate it again (the
            # record id makes a second push of it a no-op).
            self._db.execute("UPDATE sources SET state = 'pending' WHERE state = 'generated'")
            self._changed.notify_all()
        return added

    # --- the main loop ---------------------------------------------------------------------------
    def wait_for_work(self, timeout: float) -> None:
        """Block until something is received or `timeout` seconds pass."""
        with self._changed:
            self._changed.wait(timeout)

    def wake(self) -> None:
        """End a `wait_for_work` now (the watcher is stopping)."""
        with self._changed:
            self._changed.notify_all()

    def due(self, limit: int) -> list[Due]:
        """Pending (and failing) records whose next try has come, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT source_id, attempts, received_at, server_id FROM sources WHERE state IN ('pending', 'failed') "
                "AND next_try <= ? "
                "ORDER BY received_at, source_id LIMIT ?", (time.time(), limit)).fetchall()
        return [Due(*row) for row in rows]

    def next_wakeup(self) -> float | None:
        """When the earliest pending record is due (epoch seconds), or None."""
        with self._lock:
            (value,) = self._db.execute("SELECT MIN(next_try) FROM sources WHERE state IN ('pending', 'failed')").fetchone()
        return value

    def mark(self, source_ids, state: str, *, batch_id: str | None = None, target_ids: dict | None = None,
             error: str | None = None) -> None:
        assert state in STATES
        now = time.time()
        with self._lock:
            for source_id in source_ids:
                self._db.execute(
                    "UPDATE sources SET state = ?, batch_id = COALESCE(?, batch_id), "
                    "target_id = COALESCE(?, target_id), error = ?, done_at = ? WHERE source_id = ?",
                    (state, batch_id, (target_ids or {}).get(source_id), error, now, source_id))

    def retry_later(self, source_ids, error: str, base_delay: float) -> list[str]:
        """One failed attempt more for each: tried again after a delay that doubles each time (at most
        MAX_DELAY), and `failed` from MAX_ATTEMPTS on. Returns the ids that are now failed."""
        now, gave_up = time.time(), []
        with self._lock:
            for source_id in source_ids:
                (attempts,) = self._db.execute("SELECT attempts FROM sources WHERE source_id = ?",
                                               (source_id,)).fetchone()
                attempts += 1
                state = "failed" if attempts >= MAX_ATTEMPTS else "pending"
                if state == "failed":
                    gave_up.append(source_id)
                delay = min(MAX_DELAY, base_delay * 2 ** (attempts - 1))
                self._db.execute("UPDATE sources SET state = ?, attempts = ?, next_try = ?, error = ?, done_at = ? "
                                 "WHERE source_id = ?", (state, attempts, now + delay, error, now, source_id))
        return gave_up

    # --- what `curate status` shows --------------------------------------------------------------
    def summary(self) -> dict:
        with self._lock:
            states = dict(self._db.execute("SELECT state, COUNT(*) FROM sources GROUP BY state"))
            counters = dict(self._db.execute("SELECT name, n FROM counters"))
            errors = [row[0] for row in self._db.execute(
                "SELECT error FROM sources WHERE error IS NOT NULL AND state IN ('pending', 'failed') "
                "ORDER BY done_at DESC LIMIT 1")]
        out = {"received": sum(states.values())}
        out.update({state: states.get(state, 0) for state in STATES})
        out.update({name: counters.get(name, 0) for name in COUNTERS})
        out["last_error"] = errors[0] if errors else None
        return out

    def latencies(self) -> list[float]:
        """Seconds from each pushed record's completion (its submit) to its push, where known."""
        with self._lock:
            rows = self._db.execute("SELECT done_at - submitted_at FROM sources WHERE state = 'pushed' "
                                    "AND submitted_at IS NOT NULL AND done_at IS NOT NULL").fetchall()
        return [row[0] for row in rows]

    def _count(self, name: str) -> None:
        self._db.execute("INSERT INTO counters (name, n) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1",
                         (name,))


def write_watcher(folder: Path, info: dict) -> None:
    """`watcher.json`, replaced whole (no secret in it)."""
    tmp = folder / (WATCHER_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True))
    os.replace(tmp, folder / WATCHER_FILE)


def watch_status(target: str) -> dict | None:
    """What the watcher of `target` has done, and whether it runs; None if no watcher ever ran for it."""
    folder = watch_dir(target)
    if not (folder / STATE_FILE).is_file():
        return None
    state = WatchState(folder)
    try:
        summary = state.summary()
    finally:
        state.close()
    try:
        info = json.loads((folder / WATCHER_FILE).read_text())
    except (OSError, ValueError):
        info = {}
    pid = info.get("pid")
    running = alive(pid)
    return {**summary, "source": info.get("source"), "recipe": info.get("recipe"), "running": running,
            "pid": pid if running else None, "listen": info.get("listen"), "folder": str(folder)}
