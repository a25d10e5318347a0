"""SQLite storage behind the curation search engine: connections, schema and per-dataset tables.

One file holds every dataset's index. A small catalog (`idx_datasets`, `idx_metadata`) records
which datasets are indexed, which record fields are full-text columns and the metadata
property types; each dataset then gets its own tables (named after the dataset id):

* `rec_<id>`:  one row per record (uuid as 16 bytes, external id, status, timestamps, a per-record hash
  used for the per-user random order argilla asks for);
* `fts_<id>`:  FTS5 table, one column per text/chat/custom field, rowid = record rowid;
* `meta_<id>`, `sugg_<id>`, `rval_<id>`: (record, key, value) rows for metadata, suggestion
  properties and response values, one row per list element, indexed for filtering;
* `resp_<id>`: one row per response (id, user, status);
* `vec_<id>`:  float32 vectors as blobs.

Indexes are only those filters and sorting need: every index on a random key (uuids,
metadata values) costs dirty pages on each write batch.

The argilla server and its rq worker both open the file, so it runs in WAL mode with a
busy timeout and every write takes the write lock up front (BEGIN IMMEDIATE). Writes in one
process go through one connection, one at a time; reads each take a connection of their own
from a pool, so WAL lets any number of them run at once (no lock spans a read) and one slow
search never makes the others wait. A read may carry a budget in CPU seconds and one in seconds
of wall-clock time: SQLite calls a progress handler every thousand virtual-machine steps and the
read stops once either is spent.

Writes and reads run on threads of their own, not on asyncio's default pool, which they shared:
writes on one thread (they take the write lock one at a time anyway), reads on a pool with room
for every search the process admits at once (`curation.server.admission`) and a few threads more
for the other reads. So an index write (a submit, a push) never queues behind searches.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, TypeVar
from uuid import UUID

from curation import settings
from curation.server.search_query import SearchRejected

__all__ = ["DatasetTables", "SearchStore", "default_search_db_path"]

T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0
# How often SQLite calls a read's progress handler, in virtual-machine steps: every few dozen rows
# of an FTS5 match (tens of steps a row, up to milliseconds of FTS5 work each), so a search stops
# soon after its budget; one Python call per thousand steps costs little beside them.
STEPS_PER_CHECK = 1_000
# Read threads beyond the searches admitted at once, for the reads that are not searches
# (progress counts, a record's document, metrics): they never wait for a search's thread.
OTHER_READ_THREADS = 4

_CATALOG_DDL = (
    """CREATE TABLE IF NOT EXISTS idx_datasets (
        id TEXT PRIMARY KEY,
        fields TEXT NOT NULL,
        vec_version TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE IF NOT EXISTS idx_metadata (
        dataset TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        PRIMARY KEY (dataset, name)
    )""",
)


def default_search_db_path() -> Path:
    """CURATION_SEARCH_DB, else <ARGILLA_HOME_PATH or ~/.argilla>/curation-search.sqlite3."""
    explicit = settings.search_db()
    if explicit:
        return Path(explicit).expanduser()
    return Path(settings.argilla_home_path()).expanduser() / "curation-search.sqlite3"


class DatasetTables:
    """Names of one dataset's tables."""

    def __init__(self, dataset_id: UUID):
        suffix = UUID(str(dataset_id)).hex
        self.dataset = str(dataset_id)
        self.rec = f"rec_{suffix}"
        self.fts = f"fts_{suffix}"
        self.meta = f"meta_{suffix}"
        self.sugg = f"sugg_{suffix}"
        self.resp = f"resp_{suffix}"
        self.rval = f"rval_{suffix}"
        self.vec = f"vec_{suffix}"

    def ddl(self, fts_columns: int) -> Tuple[str, ...]:
        """Statements creating this dataset's tables; FTS5 needs at least one column."""
        columns = ", ".join(f"c{i}" for i in range(max(fts_columns, 1)))
        return (
            f"""CREATE TABLE IF NOT EXISTS {self.rec} (
                rid INTEGER PRIMARY KEY,
                id BLOB NOT NULL UNIQUE,
                external_id TEXT,
                status TEXT,
                inserted_at INTEGER,
                updated_at INTEGER,
                rnd INTEGER NOT NULL DEFAULT 0
            )""",
            f"CREATE INDEX IF NOT EXISTS {self.rec}_inserted ON {self.rec} (inserted_at)",
            f"CREATE INDEX IF NOT EXISTS {self.rec}_updated ON {self.rec} (updated_at)",
            f"""CREATE VIRTUAL TABLE IF NOT EXISTS {self.fts} USING fts5(
                {columns}, tokenize = 'unicode61 remove_diacritics 0'
            )""",
            f"CREATE TABLE IF NOT EXISTS {self.meta} (rid INTEGER NOT NULL, name TEXT NOT NULL, value)",
            f"CREATE INDEX IF NOT EXISTS {self.meta}_value ON {self.meta} (name, value, rid)",
            f"CREATE INDEX IF NOT EXISTS {self.meta}_rid ON {self.meta} (rid, name)",
            f"""CREATE TABLE IF NOT EXISTS {self.sugg} (
                rid INTEGER NOT NULL, question TEXT NOT NULL, prop TEXT NOT NULL, value
            )""",
            f"CREATE INDEX IF NOT EXISTS {self.sugg}_value ON {self.sugg} (question, prop, value, rid)",
            f"CREATE INDEX IF NOT EXISTS {self.sugg}_rid ON {self.sugg} (rid, question)",
            f"""CREATE TABLE IF NOT EXISTS {self.resp} (
                id TEXT PRIMARY KEY, rid INTEGER NOT NULL, user_id TEXT NOT NULL, status TEXT NOT NULL
            )""",
            f"CREATE INDEX IF NOT EXISTS {self.resp}_rid ON {self.resp} (rid, user_id)",
            f"CREATE INDEX IF NOT EXISTS {self.resp}_user ON {self.resp} (user_id, status, rid)",
            f"CREATE INDEX IF NOT EXISTS {self.resp}_status ON {self.resp} (status, rid)",
            f"""CREATE TABLE IF NOT EXISTS {self.rval} (
                response_id TEXT NOT NULL, rid INTEGER NOT NULL, user_id TEXT NOT NULL,
                question TEXT NOT NULL, value
            )""",
            f"CREATE INDEX IF NOT EXISTS {self.rval}_value ON {self.rval} (question, value, rid)",
            f"CREATE INDEX IF NOT EXISTS {self.rval}_response ON {self.rval} (response_id)",
            f"CREATE INDEX IF NOT EXISTS {self.rval}_rid ON {self.rval} (rid, question)",
            f"""CREATE TABLE IF NOT EXISTS {self.vec} (
                settings_id TEXT NOT NULL, rid INTEGER NOT NULL, value BLOB NOT NULL
            )""",
            f"CREATE INDEX IF NOT EXISTS {self.vec}_rid ON {self.vec} (rid)",
        )

    def drop_ddl(self) -> Tuple[str, ...]:
        """Statements dropping this dataset's tables (their indexes go with them)."""
        return tuple(
            f"DROP TABLE IF EXISTS {name}"
            for name in (self.rec, self.fts, self.meta, self.sugg, self.resp, self.rval, self.vec)
        )

    def side_tables(self) -> Tuple[str, ...]:
        """Tables keyed by record rowid in a `rid` column."""
        return self.meta, self.sugg, self.resp, self.rval, self.vec


def _connect(path: Path) -> sqlite3.Connection:
    """A connection for worker threads (one thread at a time); transactions are explicit."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    for pragma in (
        f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA temp_store = MEMORY",
        "PRAGMA cache_size = -65536",
        "PRAGMA mmap_size = 268435456",
    ):
        conn.execute(pragma)
    return conn


class _ReaderPool:
    """Idle reader connections; a read takes one (or opens one) and gives it back when done.

    The lock only guards the idle list. The pool grows to the number of reads that ever ran at
    once, which the store's read threads bound.
    """

    def __init__(self, path: Path):
        self.path = path
        self._idle: List[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _connect(self.path)

    def give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._idle.append(conn)


class _Budget:
    """A progress handler that stops the statement once its thread has used `cpu_s` of CPU or
    `wall_s` have passed, whichever comes first (None: no such limit).

    CPU time, not steps: FTS5 does a match's work inside single virtual-machine steps, so a
    step count misses it (1,000 terms over 2,000 records: 80,000 steps, 11 s). CPU time bounds
    the work, whatever else runs; wall time bounds how long the caller waits, which CPU time
    alone lets stretch many times over when searches share the cores.
    """

    def __init__(self, cpu_s: Optional[float], wall_s: Optional[float]):
        self.cpu_s, self.wall_s = cpu_s, wall_s
        self.cpu_deadline = None if cpu_s is None else time.thread_time() + cpu_s
        self.wall_deadline = None if wall_s is None else time.monotonic() + wall_s
        self.spent: Optional[str] = None  # which limit stopped the statement, in words

    def __call__(self) -> int:
        if self.cpu_deadline is not None and time.thread_time() > self.cpu_deadline:
            self.spent = f"{self.cpu_s:g} s of CPU time, this server's limit for one search"
        elif self.wall_deadline is not None and time.monotonic() > self.wall_deadline:
            self.spent = f"{self.wall_s:g} s, this server's time limit for one search"
        # Non-zero: SQLite interrupts the statement (sqlite3.OperationalError).
        return 1 if self.spent else 0


def _run_read(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], max_cpu_s: Optional[float],
              max_wall_s: Optional[float]) -> T:
    budget = None
    if max_cpu_s is not None or max_wall_s is not None:
        budget = _Budget(max_cpu_s, max_wall_s)
        conn.set_progress_handler(budget, STEPS_PER_CHECK)
    try:
        # One read transaction so that multi-statement reads see one snapshot.
        conn.execute("BEGIN")
        return fn(conn)
    except sqlite3.OperationalError as error:
        if budget is not None and budget.spent:
            raise SearchRejected(
                f"The search was stopped after {budget.spent}: narrow it with fewer terms or a filter."
            ) from error
        raise
    finally:
        conn.set_progress_handler(None, 0)
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # a read changes nothing; this only ends its snapshot


class SearchStore:
    """The search index file as seen from this process: one writer connection, pooled reader ones."""

    _stores: Dict[Tuple[int, str], "SearchStore"] = {}
    _stores_lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(path)
        self._writer_lock = threading.Lock()
        self._writer.execute("PRAGMA journal_mode = WAL")
        present = self._writer.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('idx_datasets', 'idx_metadata')"
        ).fetchone()[0]
        if present < len(_CATALOG_DDL):
            # Only the first process on a new file takes the write lock here (this runs on the event loop).
            with self._writer_lock:
                self._write_sync(self._create_catalog)
        self._readers = _ReaderPool(path)
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="search-index-write")
        self._read_threads = ThreadPoolExecutor(settings.searches_at_once() + OTHER_READ_THREADS,
                                                thread_name_prefix="search-index-read")

    @classmethod
    def for_path(cls, path: Path) -> "SearchStore":
        """The shared store for a path; keyed by pid too, since rq forks work horses."""
        key = (os.getpid(), str(Path(path).resolve()))
        with cls._stores_lock:
            store = cls._stores.get(key)
            if store is None:
                store = cls._stores[key] = cls(Path(path))
            return store

    @staticmethod
    def _create_catalog(conn: sqlite3.Connection) -> None:
        for statement in _CATALOG_DDL:
            conn.execute(statement)

    def _write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _locked_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._writer_lock:
            return self._write_sync(fn)

    def _pooled_read(self, fn: Callable[[sqlite3.Connection], T], max_cpu_s: Optional[float],
                     max_wall_s: Optional[float]) -> T:
        conn = self._readers.take()
        try:
            return _run_read(conn, fn, max_cpu_s, max_wall_s)
        finally:
            self._readers.give_back(conn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(conn) in a write transaction on the store's write thread."""
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, self._locked_write, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T], max_cpu_s: Optional[float] = None,
                   max_wall_s: Optional[float] = None) -> T:
        """Run fn(conn) in a read transaction on a read thread, alongside any other reads.

        With `max_cpu_s` (`max_wall_s`), SQLite stops the read once its thread has spent that
        much CPU time in it (once that many seconds have passed), and SearchRejected (HTTP 422 in
        argilla-server) says which.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_threads, self._pooled_read, fn, max_cpu_s, max_wall_s)
