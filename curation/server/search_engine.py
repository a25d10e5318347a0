"""A SQLite search engine for argilla-server ("embedded mode": no Elasticsearch/OpenSearch).

Registered as `curation-sqlite`; select it with ARGILLA_SEARCH_ENGINE=curation-sqlite. The
index lives in one SQLite file (see `search_store.default_search_db_path`): FTS5 for text
queries, indexed side tables for filters, sort and metrics, and exact cosine similarity with
numpy over stored float32 vectors. Semantics follow argilla-server's Elasticsearch engine
(`argilla_server.search_engine.commons`), which the tests in tests/search_engine/ port, with one
addition: a dataset with float metadata `review_priority` (curate push) serves a search with no sort
and no text by priority band first (search_sql.priority_band), shuffled per user within a band, and
a sorted search breaks its ties in the user's shuffled order instead of index order.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import uuid
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar, Union
from uuid import UUID

import numpy as np
from sqlalchemy import inspect as sa_inspect

from curation.upstream.argilla_server import (
    Dataset,
    FieldType,
    Filter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataMetrics,
    MetadataProperty,
    MetadataPropertyType,
    Order,
    Record,
    Response,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    SimilarityOrder,
    Suggestion,
    TermsMetrics,
    TextQuery,
    User,
    VectorSettings,
)
from curation.server.admission import request_user_id, search_slot
from curation.server.search_query import FtsQuery, SearchRejected, to_fts_query
from curation.server.search_sql import (
    INT64_MAX,
    filter_to_sql,
    fits_int64,
    from_micros,
    number_or_none,
    order_to_sql,
    priority_band,
    to_micros,
)
from curation.contract import META_REVIEW_PRIORITY
from curation.server import faults
from curation.server.search_store import DatasetTables, SearchStore, default_search_db_path

__all__ = ["SQLiteSearchEngine", "ENGINE_NAME"]

ENGINE_NAME = "curation-sqlite"

T = TypeVar("T")

# Elasticsearch's terms aggregation bucket cap used by argilla (max_terms_size).
_MAX_TERMS = 2**14
# The work one search (or similarity search) may do in SQLite, in CPU seconds of its thread: a
# UI search on 50,000 records takes milliseconds; past this it answers HTTP 422.
MAX_SEARCH_CPU_S = 10.0
# And how long it may take, in seconds of wall-clock time (searches at once share the cores):
# past this too it answers HTTP 422, so nobody waits on one for longer.
MAX_SEARCH_WALL_S = 15.0
# Keep well under SQLite's bound-parameter limit in IN (...) lists.
_CHUNK = 900
_TWO_32 = 4294967296
# Odd and below 2^31: (x < 2^32) * it never overflows SQLite's int64.
_SHUFFLE_MULTIPLIER = 2146121005


_TERMS = MetadataPropertyType.terms.value
_INTEGER = MetadataPropertyType.integer.value
_FLOAT = MetadataPropertyType.float.value
_IMAGE = FieldType.image.value
_CHAT = FieldType.chat.value


def _key(record_id: Union[str, UUID]) -> bytes:
    """The 16-byte key a record id is stored under."""
    return record_id.bytes if isinstance(record_id, UUID) else UUID(str(record_id)).bytes


def _value(enum_or_value: Any) -> Any:
    return getattr(enum_or_value, "value", enum_or_value)


def _loaded(obj: Any, attribute: str) -> Any:
    """The attribute if already loaded (or obj is not ORM-managed), else None: never lazy-load in async code."""
    try:
        state = sa_inspect(obj)
    except Exception:
        return getattr(obj, attribute, None)
    if attribute in state.unloaded:
        return None
    return getattr(obj, attribute)


def _scalars(value: Any) -> List[Any]:
    """Indexable scalar values of a JSON value: lists are flattened one level, objects are not indexed."""
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        if item is None or isinstance(item, (dict, list)):
            continue
        if isinstance(item, bool):
            item = "true" if item else "false"
        result.append(_value(item))
    return result


def _coerce_metadata(kind: str, value: Any) -> List[Any]:
    """Metadata values as Elasticsearch would index them: keyword text, long, or float32."""
    values = []
    for item in _scalars(value):
        if kind == _TERMS:
            values.append(str(item))
            continue
        number = number_or_none(item)
        if number is None:
            continue  # Elasticsearch would reject the document; we only skip the value.
        if kind == _INTEGER:
            if not fits_int64(int(number)):
                continue  # beyond a long: Elasticsearch would reject the document
            values.append(int(number))
        elif kind == _FLOAT:
            values.append(float(np.float32(number)))
    return values


def _field_text(kind: str, value: Any) -> Optional[str]:
    """The searchable text of a record field value."""
    if value is None:
        return None
    if kind == _CHAT and isinstance(value, list):
        # Elasticsearch indexes chat messages' content as text (role is a keyword, not searched).
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return value if isinstance(value, str) else str(value)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


@dataclasses.dataclass
class _Catalog:
    """What the index knows about a dataset: FTS columns per field and metadata types."""

    fields: List[Dict[str, str]]
    metadata_types: Dict[str, str]
    vec_version: str
    searchable_fields: List[Dict[str, str]] = dataclasses.field(init=False)
    columns: Dict[str, str] = dataclasses.field(init=False)  # field name -> FTS column

    def __post_init__(self):
        # Image fields are not searchable (Elasticsearch maps them `enabled: false`).
        self.searchable_fields = [f for f in self.fields if f["type"] != _IMAGE]
        self.columns = {f["name"]: f"c{i}" for i, f in enumerate(self.searchable_fields)}


@dataclasses.dataclass
class _Doc:
    """A record flattened for indexing; None parts were not loaded and are left as indexed."""

    id: bytes
    external_id: Optional[str]
    status: Optional[str]
    inserted_at: Optional[int]
    updated_at: Optional[int]
    rnd: int
    fields: Dict[str, Any]
    metadata: Dict[str, Any]
    suggestions: Optional[List[Tuple[str, str, Any]]]
    responses: Optional[List[Tuple[str, str, str, Optional[dict]]]]
    vectors: Optional[List[Tuple[str, bytes]]]


def _record_rnd(record_key: bytes) -> int:
    # A stable 32-bit hash per record, mixed with the user id for argilla's per-user random order.
    return zlib.crc32(record_key)


def user_order_key(rnd_column: str, seed: int) -> str:
    """SQL for a record's per-user order key in [0, 2^32): `(rnd XOR seed) * M mod 2^32`.

    Both operands are below 2^32 and M (odd, so the map is a bijection) below 2^31, so the product
    stays below 2^63: SQLite keeps it an INTEGER instead of overflowing to REAL (which would tie
    those records at the top for every user).
    """
    xor = f"(({rnd_column} | {seed}) - ({rnd_column} & {seed}))"
    return f"(({xor} * {_SHUFFLE_MULTIPLIER}) % {_TWO_32})"


def _suggestion_rows(suggestion: Suggestion, question_name: str) -> List[Tuple[str, str, Any]]:
    rows = []
    for prop in ("value", "score", "agent", "type"):
        for value in _scalars(getattr(suggestion, prop)):
            rows.append((question_name, prop, value))
    return rows


def _response_tuple(response: Response) -> Tuple[str, str, str, Optional[dict]]:
    return str(response.id), str(response.user_id), str(_value(response.status)), response.values


def _vector_blob(values: Sequence[float]) -> bytes:
    return np.asarray(values, dtype=np.float32).tobytes()


def _to_doc(record: Record) -> _Doc:
    suggestions = _loaded(record, "suggestions")
    suggestion_rows = None
    if suggestions is not None:
        suggestion_rows = [row for s in suggestions for row in _suggestion_rows(s, s.question.name)]
    responses = _loaded(record, "responses")
    vectors = _loaded(record, "vectors")
    key = _key(record.id)
    return _Doc(
        id=key,
        external_id=record.external_id,
        status=_value(record.status) if record.status is not None else None,
        inserted_at=to_micros(record.inserted_at) if record.inserted_at else None,
        updated_at=to_micros(record.updated_at) if record.updated_at else None,
        rnd=_record_rnd(key),
        fields=dict(record.fields or {}),
        metadata=dict(record.metadata_ or {}),
        suggestions=suggestion_rows,
        responses=None if responses is None else [_response_tuple(r) for r in responses],
        vectors=None if vectors is None else [(str(v.vector_settings_id), _vector_blob(v.value)) for v in vectors],
    )


def _field_specs(dataset: Dataset) -> Optional[List[Dict[str, str]]]:
    fields = _loaded(dataset, "fields")
    if fields is None:
        return None
    return [{"name": f.name, "type": str(_value(f.settings.get("type")))} for f in fields]


def _metadata_specs(dataset: Dataset) -> Optional[List[Tuple[str, str]]]:
    properties = _loaded(dataset, "metadata_properties")
    if properties is None:
        return None
    return [(p.name, str(_value(p.type))) for p in properties]


def _response_value_rows(response: Tuple[str, str, str, Optional[dict]], rid: int) -> List[tuple]:
    response_id, user_id, _, values = response
    rows = []
    for question, answer in (values or {}).items():
        value = answer.get("value") if isinstance(answer, dict) else None
        for item in _scalars(value):
            rows.append((response_id, rid, user_id, question, item))
    return rows


class _VectorCache:
    """Per-process normalized vector matrices, invalidated by the dataset's vector version token."""

    max_entries = 4

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: Dict[Tuple[str, str, str], Tuple[str, np.ndarray, List[UUID], np.ndarray]] = {}

    def get(self, conn: sqlite3.Connection, key: Tuple[str, str, str], tables: DatasetTables, version: str):
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                return entry[1], entry[2], entry[3]
        rows = conn.execute(
            f"SELECT v.rid, r.id, v.value FROM {tables.vec} v JOIN {tables.rec} r ON r.rid = v.rid "
            "WHERE v.settings_id = ? ORDER BY v.rid",
            (key[2],),
        ).fetchall()
        dims = len(rows[0][2]) // 4 if rows else 0
        rows = [row for row in rows if len(row[2]) == dims * 4]
        rids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        ids = [UUID(bytes=row[1]) for row in rows]
        matrix = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32).reshape(len(rows), dims)
        norms = np.linalg.norm(matrix, axis=1)
        norms[norms == 0] = 1.0
        matrix = matrix / norms[:, None]
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (version, rids, ids, matrix)
            while len(self._entries) > self.max_entries:
                # Drop the least recently loaded matrix: each can be ~75 MB (50k x 384 float32).
                self._entries.pop(next(iter(self._entries)))
        return rids, ids, matrix


_VECTORS = _VectorCache()


@SearchEngine.register(engine_name=ENGINE_NAME)
class SQLiteSearchEngine(SearchEngine):
    """argilla-server SearchEngine backed by a SQLite file (FTS5 + indexed side tables + numpy)."""

    def __init__(self, path: Optional[Union[str, Path]] = None, max_search_cpu_s: float = MAX_SEARCH_CPU_S,
                 max_search_wall_s: float = MAX_SEARCH_WALL_S):
        self.path = Path(path) if path is not None else default_search_db_path()
        self.store = SearchStore.for_path(self.path)
        self.max_search_cpu_s = max_search_cpu_s
        self.max_search_wall_s = max_search_wall_s

    @classmethod
    async def new_instance(cls) -> "SQLiteSearchEngine":
        return cls()

    async def close(self):
        # Connections are shared by every engine instance of this process; nothing per instance.
        pass

    async def ping(self) -> bool:
        return await self.store.read(lambda conn: conn.execute("SELECT 1").fetchone()[0] == 1)

    async def info(self) -> dict:
        return {"engine": ENGINE_NAME, "sqlite_version": sqlite3.sqlite_version, "path": str(self.path)}

    # ----------------------------------------------------------------- catalog / schema

    @staticmethod
    def _catalog(conn: sqlite3.Connection, tables: DatasetTables) -> Optional[_Catalog]:
        row = conn.execute("SELECT fields, vec_version FROM idx_datasets WHERE id = ?", (tables.dataset,)).fetchone()
        if row is None:
            return None
        types = dict(conn.execute("SELECT name, type FROM idx_metadata WHERE dataset = ?", (tables.dataset,)))
        return _Catalog(fields=json.loads(row[0]), metadata_types=types, vec_version=row[1])

    @staticmethod
    def _create_tables(conn: sqlite3.Connection, tables: DatasetTables, fields: List[Dict[str, str]]) -> None:
        searchable = [f for f in fields if f["type"] != _IMAGE]
        for statement in tables.ddl(len(searchable)):
            conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO idx_datasets (id, fields, vec_version) VALUES (?, ?, ?)",
            (tables.dataset, json.dumps(fields), uuid.uuid4().hex),
        )

    @staticmethod
    def _upsert_metadata_types(conn: sqlite3.Connection, dataset_id: str, specs: List[Tuple[str, str]]) -> None:
        conn.executemany(
            "INSERT INTO idx_metadata (dataset, name, type) VALUES (?, ?, ?) "
            "ON CONFLICT (dataset, name) DO UPDATE SET type = excluded.type",
            [(dataset_id, name, kind) for name, kind in specs],
        )

    async def create_index(self, dataset: Dataset):
        tables = DatasetTables(dataset.id)
        fields = _field_specs(dataset) or []
        metadata = _metadata_specs(dataset) or []

        def create(conn: sqlite3.Connection) -> None:
            self._create_tables(conn, tables, fields)
            self._upsert_metadata_types(conn, tables.dataset, metadata)

        await self.store.write(create)

    async def delete_index(self, dataset: Dataset):
        tables = DatasetTables(dataset.id)

        def drop(conn: sqlite3.Connection) -> None:
            for statement in tables.drop_ddl():
                conn.execute(statement)
            conn.execute("DELETE FROM idx_datasets WHERE id = ?", (tables.dataset,))
            conn.execute("DELETE FROM idx_metadata WHERE dataset = ?", (tables.dataset,))

        await self.store.write(drop)

    async def configure_metadata_property(self, dataset: Dataset, metadata_property: MetadataProperty):
        spec = [(metadata_property.name, str(_value(metadata_property.type)))]
        await self.store.write(lambda conn: self._upsert_metadata_types(conn, str(dataset.id), spec))

    # ----------------------------------------------------------------- writes

    @staticmethod
    def _rids(conn: sqlite3.Connection, tables: DatasetTables, ids: Sequence[bytes]) -> Dict[bytes, int]:
        found: Dict[bytes, int] = {}
        for chunk in _chunks(list(ids)):
            query = f"SELECT id, rid FROM {tables.rec} WHERE id IN ({_placeholders(len(chunk))})"
            found.update(conn.execute(query, chunk).fetchall())
        return found

    def _indexed_rid(self, conn: sqlite3.Connection, tables: DatasetTables, record_key: bytes) -> Optional[int]:
        """The rowid of an indexed record; None when the dataset or the record is not indexed."""
        if self._catalog(conn, tables) is None:
            return None
        return self._rids(conn, tables, [record_key]).get(record_key)

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, table: str, column: str, keys: Sequence[Any]) -> None:
        for chunk in _chunks(list(keys)):
            conn.execute(f"DELETE FROM {table} WHERE {column} IN ({_placeholders(len(chunk))})", chunk)

    @staticmethod
    def _bump_vector_version(conn: sqlite3.Connection, tables: DatasetTables) -> None:
        conn.execute("UPDATE idx_datasets SET vec_version = ? WHERE id = ?", (uuid.uuid4().hex, tables.dataset))

    @staticmethod
    def _fts_row(catalog: _Catalog, rid: int, fields: Dict[str, Any]) -> tuple:
        texts = [_field_text(f["type"], fields.get(f["name"])) for f in catalog.searchable_fields]
        return (rid, *(texts or [None]))

    @staticmethod
    def _metadata_rows(catalog: _Catalog, rid: int, metadata: Dict[str, Any]) -> List[tuple]:
        rows = []
        for name, value in metadata.items():
            kind = catalog.metadata_types.get(name)
            if kind is None:
                continue  # Like Elasticsearch's `dynamic: false`: unconfigured metadata is not indexed.
            rows.extend((rid, name, item) for item in _coerce_metadata(kind, value))
        return rows

    def _insert_fts(self, conn: sqlite3.Connection, tables: DatasetTables, catalog: _Catalog, rows: List[tuple]):
        columns = len(catalog.searchable_fields) or 1
        conn.executemany(
            f"INSERT INTO {tables.fts} (rowid, {', '.join(f'c{i}' for i in range(columns))}) "
            f"VALUES (?, {_placeholders(columns)})",
            rows,
        )

    def _write_docs(self, conn: sqlite3.Connection, tables: DatasetTables, catalog: _Catalog, docs: List[_Doc]):
        # A record given twice in one batch is indexed once, with its last version.
        docs = list({doc.id: doc for doc in docs}.values())
        existing = self._rids(conn, tables, [doc.id for doc in docs])
        known_vectors: List[int] = []
        if existing:
            rids = list(existing.values())
            self._delete_rows(conn, tables.fts, "rowid", rids)
            self._delete_rows(conn, tables.meta, "rid", rids)
            for table, part in ((tables.sugg, "suggestions"), (tables.resp, "responses"), (tables.rval, "responses")):
                known = [existing[d.id] for d in docs if d.id in existing and getattr(d, part) is not None]
                self._delete_rows(conn, table, "rid", known)
            known_vectors = [existing[d.id] for d in docs if d.id in existing and d.vectors is not None]
            self._delete_rows(conn, tables.vec, "rid", known_vectors)
            conn.executemany(
                f"UPDATE {tables.rec} SET external_id = ?, status = ?, inserted_at = ?, updated_at = ? WHERE rid = ?",
                [
                    (d.external_id, d.status, d.inserted_at, d.updated_at, existing[d.id])
                    for d in docs
                    if d.id in existing
                ],
            )

        next_rid = conn.execute(f"SELECT COALESCE(MAX(rid), 0) FROM {tables.rec}").fetchone()[0] + 1
        rid_of: Dict[bytes, int] = dict(existing)
        new_rows = []
        for doc in docs:
            if doc.id not in rid_of:
                rid_of[doc.id] = next_rid
                new_rows.append(
                    (next_rid, doc.id, doc.external_id, doc.status, doc.inserted_at, doc.updated_at, doc.rnd)
                )
                next_rid += 1
        conn.executemany(
            f"INSERT INTO {tables.rec} (rid, id, external_id, status, inserted_at, updated_at, rnd) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            new_rows,
        )

        fts_rows, meta_rows, sugg_rows, resp_rows, rval_rows, vec_rows = [], [], [], [], [], []
        for doc in docs:
            rid = rid_of[doc.id]
            fts_rows.append(self._fts_row(catalog, rid, doc.fields))
            meta_rows.extend(self._metadata_rows(catalog, rid, doc.metadata))
            if doc.suggestions:
                sugg_rows.extend((rid, *row) for row in doc.suggestions)
            for response in doc.responses or []:
                resp_rows.append((response[0], rid, response[1], response[2]))
                rval_rows.extend(_response_value_rows(response, rid))
            for settings_id, blob in doc.vectors or []:
                vec_rows.append((settings_id, rid, blob))

        self._insert_fts(conn, tables, catalog, fts_rows)
        conn.executemany(f"INSERT INTO {tables.meta} (rid, name, value) VALUES (?, ?, ?)", meta_rows)
        conn.executemany(f"INSERT INTO {tables.sugg} (rid, question, prop, value) VALUES (?, ?, ?, ?)", sugg_rows)
        conn.executemany(
            f"INSERT OR REPLACE INTO {tables.resp} (id, rid, user_id, status) VALUES (?, ?, ?, ?)", resp_rows
        )
        conn.executemany(
            f"INSERT INTO {tables.rval} (response_id, rid, user_id, question, value) VALUES (?, ?, ?, ?, ?)",
            rval_rows,
        )
        conn.executemany(f"INSERT INTO {tables.vec} (settings_id, rid, value) VALUES (?, ?, ?)", vec_rows)
        if vec_rows or known_vectors:
            self._bump_vector_version(conn, tables)

    def _ensure_catalog(
        self,
        conn: sqlite3.Connection,
        tables: DatasetTables,
        fields: Optional[List[Dict[str, str]]],
        metadata: Optional[List[Tuple[str, str]]],
    ) -> _Catalog:
        catalog = self._catalog(conn, tables)
        if catalog is None:
            if fields is None:
                raise ValueError(f"Dataset {tables.dataset} has no search index and its fields are not loaded")
            # Elasticsearch creates a missing index on first write; so do we, from the dataset's fields.
            self._create_tables(conn, tables, fields)
        if metadata:
            self._upsert_metadata_types(conn, tables.dataset, metadata)
        if catalog is None or metadata:
            catalog = self._catalog(conn, tables)
        return catalog

    async def index_records(self, dataset: Dataset, records: Iterable[Record]):
        faults.hit("before-index")  # crash-recovery tests: argilla committed, nothing indexed yet
        docs = [_to_doc(record) for record in records]
        if not docs:
            return
        tables = DatasetTables(dataset.id)
        # Only read relationships that are loaded: the server preloads what Elasticsearch needs.
        metadata = _metadata_specs(dataset) if any(doc.metadata for doc in docs) else None
        fields = _field_specs(dataset)

        def write(conn: sqlite3.Connection) -> None:
            catalog = self._ensure_catalog(conn, tables, fields, metadata)
            self._write_docs(conn, tables, catalog, docs)

        await self.store.write(write)

    async def partial_record_update(self, record: Record, **update):
        tables = DatasetTables(record.dataset_id)
        record_id = _key(record.id)
        columns = {"status", "external_id", "inserted_at", "updated_at"}
        unknown = set(update) - columns - {"metadata", "fields"}
        if unknown:
            raise ValueError(f"Cannot update {sorted(unknown)} of a record in the search index")
        assignments = {}
        for key in columns & set(update):
            value = update[key]
            assignments[key] = to_micros(value) if key in ("inserted_at", "updated_at") and value else _value(value)

        def write(conn: sqlite3.Connection) -> None:
            rid = self._indexed_rid(conn, tables, record_id)
            if rid is None:
                return
            catalog = self._catalog(conn, tables)
            if assignments:
                sets = ", ".join(f"{key} = ?" for key in assignments)
                conn.execute(f"UPDATE {tables.rec} SET {sets} WHERE rid = ?", (*assignments.values(), rid))
            if "metadata" in update:
                conn.execute(f"DELETE FROM {tables.meta} WHERE rid = ?", (rid,))
                conn.executemany(
                    f"INSERT INTO {tables.meta} (rid, name, value) VALUES (?, ?, ?)",
                    self._metadata_rows(catalog, rid, update["metadata"] or {}),
                )
            if "fields" in update:
                conn.execute(f"DELETE FROM {tables.fts} WHERE rowid = ?", (rid,))
                self._insert_fts(conn, tables, catalog, [self._fts_row(catalog, rid, update["fields"] or {})])

        await self.store.write(write)

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]):
        tables = DatasetTables(dataset.id)
        ids = [_key(record.id) for record in records]

        def write(conn: sqlite3.Connection) -> None:
            if self._catalog(conn, tables) is None:
                return
            rids = list(self._rids(conn, tables, ids).values())
            if not rids:
                return
            self._delete_rows(conn, tables.rec, "rid", rids)
            self._delete_rows(conn, tables.fts, "rowid", rids)
            for table in tables.side_tables():
                self._delete_rows(conn, table, "rid", rids)
            self._bump_vector_version(conn, tables)

        await self.store.write(write)

    async def update_record_response(self, response: Response):
        record = response.record
        tables = DatasetTables(record.dataset_id)
        record_id = _key(record.id)
        row = _response_tuple(response)

        def write(conn: sqlite3.Connection) -> None:
            rid = self._indexed_rid(conn, tables, record_id)
            if rid is None:
                return
            conn.execute(f"DELETE FROM {tables.rval} WHERE response_id = ?", (row[0],))
            conn.execute(
                f"INSERT OR REPLACE INTO {tables.resp} (id, rid, user_id, status) VALUES (?, ?, ?, ?)",
                (row[0], rid, row[1], row[2]),
            )
            conn.executemany(
                f"INSERT INTO {tables.rval} (response_id, rid, user_id, question, value) VALUES (?, ?, ?, ?, ?)",
                _response_value_rows(row, rid),
            )

        await self.store.write(write)

    async def delete_record_response(self, response: Response):
        tables = DatasetTables(response.record.dataset_id)
        response_id = str(response.id)

        def write(conn: sqlite3.Connection) -> None:
            if self._catalog(conn, tables) is None:
                return
            conn.execute(f"DELETE FROM {tables.resp} WHERE id = ?", (response_id,))
            conn.execute(f"DELETE FROM {tables.rval} WHERE response_id = ?", (response_id,))

        await self.store.write(write)

    async def _replace_suggestion(self, suggestion: Suggestion, rows: List[Tuple[str, str, Any]]) -> None:
        tables = DatasetTables(suggestion.record.dataset_id)
        record_id = _key(suggestion.record_id)
        question = suggestion.question.name

        def write(conn: sqlite3.Connection) -> None:
            rid = self._indexed_rid(conn, tables, record_id)
            if rid is None:
                return
            conn.execute(f"DELETE FROM {tables.sugg} WHERE rid = ? AND question = ?", (rid, question))
            conn.executemany(
                f"INSERT INTO {tables.sugg} (rid, question, prop, value) VALUES (?, ?, ?, ?)",
                [(rid, *row) for row in rows],
            )

        await self.store.write(write)

    async def update_record_suggestion(self, suggestion: Suggestion):
        await self._replace_suggestion(suggestion, _suggestion_rows(suggestion, suggestion.question.name))

    async def delete_record_suggestion(self, suggestion: Suggestion):
        await self._replace_suggestion(suggestion, [])

    # ----------------------------------------------------------------- reads

    async def _search_read(self, fn: Callable[[sqlite3.Connection], T],
                           user_id: Optional[Union[str, UUID]] = None) -> T:
        """A search's read: in one of its user's search slots (`admission`), within the search budgets."""
        user = request_user_id() or (None if user_id is None else str(user_id))
        async with search_slot(user, hold_s=self.max_search_wall_s):
            return await self.store.read(fn, max_cpu_s=self.max_search_cpu_s, max_wall_s=self.max_search_wall_s)

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        tables = DatasetTables(dataset.id)

        def read(conn: sqlite3.Connection) -> dict:
            if self._catalog(conn, tables) is None:
                return {"total": 0}
            query = f"SELECT status, COUNT(*) FROM {tables.rec} WHERE status IS NOT NULL GROUP BY status"
            counts = dict(conn.execute(query).fetchall())
            return {"total": sum(counts.values()), **counts}

        return await self.store.read(read)

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        tables = DatasetTables(dataset.id)
        user_id = str(user.id)

        def read(conn: sqlite3.Connection) -> dict:
            if self._catalog(conn, tables) is None:
                return {"total": 0}
            query = f"SELECT status, COUNT(*) FROM {tables.resp} WHERE user_id = ? GROUP BY status"
            counts = dict(conn.execute(query, (user_id,)).fetchall())
            return {"total": sum(counts.values()), **counts}

        return await self.store.read(read)

    @staticmethod
    def _text_query(catalog: _Catalog, dataset: Dataset, text: Union[TextQuery, str]) -> Optional[FtsQuery]:
        if isinstance(text, str):
            text = TextQuery(q=text)
        column = None
        if text.field:
            if not any(f["name"] == text.field for f in catalog.fields):
                raise Exception(f"Field {text.field} not found in dataset {dataset.id}")
            column = catalog.columns.get(text.field)
            if column is None:
                return None  # Image fields are not indexed for search.
        return to_fts_query(text.q, column)

    def _matching_sql(
        self,
        tables: DatasetTables,
        catalog: _Catalog,
        dataset: Dataset,
        query: Optional[Union[TextQuery, str]],
        filter: Optional[Filter],
    ) -> Optional[Tuple[str, List[Any], str]]:
        """FROM ... WHERE ... over matching records, its parameters and the score expression; None: no match."""
        from_sql, where, params, score = f"{tables.rec} r", [], [], "1.0"
        if query is not None:
            fts = self._text_query(catalog, dataset, query)
            if fts is None:
                return None
            if fts.negated:
                where.append(f"r.rid NOT IN (SELECT rowid FROM {tables.fts} WHERE {tables.fts} MATCH ?)")
            else:
                from_sql = f"{tables.fts} JOIN {tables.rec} r ON r.rid = {tables.fts}.rowid"
                where.append(f"{tables.fts} MATCH ?")
                score = f"-bm25({tables.fts})"
            params.append(fts.expression)
        if filter is not None:
            condition, values = filter_to_sql(filter, tables, catalog.metadata_types)
            where.append(condition)
            params.extend(values)
        return f"FROM {from_sql} WHERE {' AND '.join(where) or '1'}", params, score

    async def search(
        self,
        dataset: Dataset,
        query: Optional[Union[TextQuery, str]] = None,
        filter: Optional[Filter] = None,
        sort: Optional[List[Order]] = None,
        offset: int = 0,
        limit: int = 100,
        user_id: Optional[Union[str, UUID]] = None,
    ) -> SearchResponses:
        if offset > INT64_MAX:
            raise SearchRejected(f"The offset {offset} is beyond {INT64_MAX}, the largest this server takes.")
        tables = DatasetTables(dataset.id)

        def read(conn: sqlite3.Connection) -> SearchResponses:
            catalog = self._catalog(conn, tables)
            if catalog is None:
                return SearchResponses(items=[], total=0)
            matching = self._matching_sql(tables, catalog, dataset, query, filter)
            if matching is None:
                return SearchResponses(items=[], total=0)
            body, params, score = matching

            # The seed is an integer we computed, so inlining it in SQL is safe.
            seed = zlib.crc32(str(user_id).encode()) if user_id is not None else None
            if sort:
                # Records the sort ties (e.g. a shared review_priority) come in the user's shuffled order, so
                # annotators following the same sorted link still spread (Elasticsearch leaves ties unordered).
                tie_break = "r.rid" if seed is None else f"{user_order_key('r.rnd', seed)} DESC, r.rid"
                order, order_params = order_to_sql(sort, tables, tie_break)
                select = "NULL"  # Elasticsearch returns no score when sorting on fields.
            else:
                if seed is not None:
                    # Elasticsearch multiplies the score by random_score seeded with the user id: a stable
                    # per-user shuffle.
                    score = f"({score}) * {user_order_key('r.rnd', seed)} / {float(_TWO_32)}"
                select, order, order_params = score, "2 DESC, r.rid", []
                if query is None and catalog.metadata_types.get(META_REVIEW_PRIORITY) == _FLOAT:
                    # The review queue: higher priority bands first, the per-user shuffle within a band
                    # (a text search keeps its relevance order).
                    band, order_params = priority_band(tables, META_REVIEW_PRIORITY)
                    order = f"{band} DESC, 2 DESC, r.rid"

            rows = conn.execute(
                f"SELECT r.id, {select} {body} ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, *order_params, limit, offset),
            ).fetchall()
            if offset == 0 and len(rows) < limit:
                total = len(rows)  # the page holds every match: no need to count them again
            else:
                total = conn.execute(f"SELECT COUNT(*) {body}", params).fetchone()[0]
            items = [SearchResponseItem(record_id=UUID(bytes=key), score=score) for key, score in rows]
            return SearchResponses(items=items, total=total)

        return await self._search_read(read, user_id)

    async def get_document(self, dataset: Dataset, record_id: Union[str, UUID]) -> Optional[dict]:
        """The indexed document of a record, shaped like Elasticsearch's `_source`; None if not indexed."""
        tables = DatasetTables(dataset.id)
        record_key = _key(record_id)

        def single(values: List[Any]) -> Any:
            return None if not values else values[0] if len(values) == 1 else values

        def read(conn: sqlite3.Connection) -> Optional[dict]:
            catalog = self._catalog(conn, tables)
            row = None
            if catalog is not None:
                row = conn.execute(
                    f"SELECT rid, id, external_id, status, inserted_at, updated_at FROM {tables.rec} WHERE id = ?",
                    (record_key,),
                ).fetchone()
            if row is None:
                return None
            rid = row[0]
            columns = catalog.columns
            texts = conn.execute(f"SELECT * FROM {tables.fts} WHERE rowid = ?", (rid,)).fetchone() or ()
            document = {
                "id": str(UUID(bytes=row[1])),
                "external_id": row[2],
                "status": row[3],
                "fields": {name: texts[int(column[1:])] for name, column in columns.items()},
                "inserted_at": from_micros(row[4]).isoformat() if row[4] is not None else None,
                "updated_at": from_micros(row[5]).isoformat() if row[5] is not None else None,
            }
            metadata: Dict[str, List[Any]] = {}
            query = f"SELECT name, value FROM {tables.meta} WHERE rid = ? ORDER BY rowid"
            for name, value in conn.execute(query, (rid,)):
                metadata.setdefault(name, []).append(value)
            if metadata:
                document["metadata"] = {name: single(values) for name, values in metadata.items()}
            suggestions: Dict[str, Dict[str, List[Any]]] = {}
            query = f"SELECT question, prop, value FROM {tables.sugg} WHERE rid = ? ORDER BY rowid"
            for question, prop, value in conn.execute(query, (rid,)):
                suggestions.setdefault(question, {}).setdefault(prop, []).append(value)
            if suggestions:
                document["suggestions"] = {
                    question: {prop: single(props.get(prop, [])) for prop in ("agent", "score", "type", "value")}
                    for question, props in suggestions.items()
                }
            responses = conn.execute(
                f"SELECT id, status, user_id FROM {tables.resp} WHERE rid = ? ORDER BY rowid", (rid,)
            ).fetchall()
            if responses:
                document["responses"] = []
                for response_id, status, user_id in responses:
                    values: Dict[str, List[Any]] = {}
                    query = f"SELECT question, value FROM {tables.rval} WHERE response_id = ? ORDER BY rowid"
                    for question, value in conn.execute(query, (response_id,)):
                        values.setdefault(question, []).append(value)
                    answers = {question: single(items) for question, items in values.items()}
                    document["responses"].append({"id": response_id, "status": status, "user_id": user_id, **answers})
            vectors = conn.execute(f"SELECT settings_id, value FROM {tables.vec} WHERE rid = ? ORDER BY rowid", (rid,))
            vectors = {settings: np.frombuffer(blob, dtype=np.float32).tolist() for settings, blob in vectors}
            if vectors:
                document["vectors"] = vectors
            return document

        return await self.store.read(read)

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        tables = DatasetTables(metadata_property.dataset_id)
        name = metadata_property.name
        kind = metadata_property.type

        def read(conn: sqlite3.Connection) -> MetadataMetrics:
            indexed = self._catalog(conn, tables) is not None
            if kind == MetadataPropertyType.terms:
                if not indexed:
                    return TermsMetrics(total=0)
                total = conn.execute(f"SELECT COUNT(*) FROM {tables.meta} WHERE name = ?", (name,)).fetchone()[0]
                buckets = conn.execute(
                    f"SELECT value, COUNT(DISTINCT rid) AS n FROM {tables.meta} WHERE name = ? "
                    "GROUP BY value ORDER BY n DESC, value ASC LIMIT ?",
                    (name, min(total, _MAX_TERMS)),
                ).fetchall()
                values = [TermsMetrics.TermCount(term=str(term), count=count) for term, count in buckets]
                return TermsMetrics(total=total, values=values)

            metrics_class = IntegerMetadataMetrics if kind == MetadataPropertyType.integer else FloatMetadataMetrics
            if not indexed:
                return metrics_class()
            low, high = conn.execute(
                f"SELECT MIN(value), MAX(value) FROM {tables.meta} WHERE name = ?", (name,)
            ).fetchone()
            return metrics_class(min=low, max=high)

        return await self.store.read(read)

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: Optional[List[float]] = None,
        record: Optional[Record] = None,
        query: Optional[Union[TextQuery, str]] = None,
        filter: Optional[Filter] = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: Optional[float] = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        vector_value = value
        excluded_id = None
        if not vector_value:
            excluded_id = record.id
            vector_value = record.vector_value_by_vector_settings(vector_settings)
        if not vector_value:
            raise ValueError("Cannot find a vector value to apply with provided info")

        target = np.asarray(vector_value, dtype=np.float32)
        norm = float(np.linalg.norm(target))
        if norm == 0:
            raise ValueError("Cannot compute cosine similarity for a zero vector")
        target = target / norm
        if order == SimilarityOrder.least_similar:
            target = -target
        tables = DatasetTables(dataset.id)
        settings_id = str(vector_settings.id)

        def read(conn: sqlite3.Connection) -> SearchResponses:
            catalog = self._catalog(conn, tables)
            if catalog is None:
                return SearchResponses(items=[], total=0)
            key = (str(self.path), tables.dataset, settings_id)
            rids, ids, matrix = _VECTORS.get(conn, key, tables, catalog.vec_version)
            if len(rids) == 0 or matrix.shape[1] != target.shape[0]:
                return SearchResponses(items=[], total=0)

            mask = np.ones(len(rids), dtype=bool)
            if query is not None or filter is not None:
                matching = self._matching_sql(tables, catalog, dataset, query, filter)
                if matching is None:
                    return SearchResponses(items=[], total=0)
                body, params, _ = matching
                allowed = np.fromiter((row[0] for row in conn.execute(f"SELECT r.rid {body}", params)), np.int64)
                mask &= np.isin(rids, allowed)
            if excluded_id is not None:
                excluded = conn.execute(f"SELECT rid FROM {tables.rec} WHERE id = ?", (_key(excluded_id),)).fetchone()
                if excluded is not None:
                    mask &= rids != excluded[0]

            candidates = np.flatnonzero(mask)
            k = min(max_results, len(candidates))
            if k == 0:
                return SearchResponses(items=[], total=0)
            # Elasticsearch's cosine score: (1 + cos) / 2, highest first.
            scores = (1.0 + matrix[candidates] @ target) / 2.0
            top = np.argpartition(-scores, k - 1)[:k] if k < len(candidates) else np.arange(len(candidates))
            top = top[np.lexsort((candidates[top], -scores[top]))]
            items = [
                SearchResponseItem(record_id=ids[candidates[i]], score=float(scores[i]))
                for i in top
                if threshold is None or scores[i] >= threshold
            ]
            return SearchResponses(items=items, total=k)

        return await self._search_read(read)
