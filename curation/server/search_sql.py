"""Translate argilla search filters and sort orders into SQL over a dataset's index tables.

Semantics follow `argilla_server.search_engine.commons` (the Elasticsearch engine): a terms
filter matches when any stored value equals any given value, a range filter is inclusive, the
response-status filter treats `pending` as "no response (by this user)", and sorting on a
multi-valued property uses its minimum ascending / maximum descending (responses: average)
with missing values last.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple
from uuid import UUID

import numpy as np

from curation.server.search_query import SearchRejected
from curation.server.search_store import DatasetTables
from curation.upstream.argilla_server import (
    AndFilter,
    Filter,
    FilterScope,
    MetadataFilterScope,
    MetadataPropertyType,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    ResponseStatusFilter,
    SortOrder,
    SuggestionFilterScope,
    TermsFilter,
)

__all__ = ["INT64_MAX", "PRIORITY_BANDS", "filter_to_sql", "fits_int64", "from_micros", "number_or_none", "order_to_sql",
           "priority_band", "to_micros"]

Sql = Tuple[str, List[Any]]

# SQLite's INTEGER range: sqlite3 cannot bind a Python int outside it (OverflowError).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_RECORD_COLUMNS = {"id", "external_id", "status", "inserted_at", "updated_at"}
_TIMESTAMP_COLUMNS = {"inserted_at", "updated_at"}


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch; naive datetimes are UTC, as argilla stores them."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The naive UTC datetime for microseconds since the epoch."""
    return datetime(1970, 1, 1) + timedelta(microseconds=value)


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def number_or_none(value: Any) -> Optional[float]:
    """The value as int/float when it reads as a finite number, else None.

    Integers beyond SQLite's 64 bits come back as floats, which SQLite binds and compares by value.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if fits_int64(value) else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and fits_int64(int(number)) else number


def _float32(value: float) -> float:
    return float(np.float32(value))


def _terms_values(values: List[Any]) -> List[Any]:
    """Each value as text plus, when numeric, as a number: stored values keep their JSON type."""
    params: List[Any] = []
    for value in values:
        text = value.value if hasattr(value, "value") else str(value)
        params.append(text)
        number = number_or_none(text)
        if number is not None:
            params.append(number)
    return params


def _in(column: str, values: List[Any]) -> Sql:
    if not values:
        return "0", []
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def _range_condition(column: str, ge: Any, le: Any, as_float32: bool = False) -> Sql:
    """Inclusive range; numeric bounds only match numbers, text bounds compare as text."""
    conditions, params = [], []
    numeric = True
    for operator, bound in ((">=", ge), ("<=", le)):
        if bound is None:
            continue
        number = number_or_none(bound)
        if number is None:
            numeric = False
            params.append(str(bound))
        else:
            # Elasticsearch parses bounds of a float field as float32, like the stored values.
            params.append(_float32(number) if as_float32 else number)
        conditions.append(f"{column} {operator} ?")
    if numeric:
        conditions.append(f"typeof({column}) IN ('integer', 'real')")
    return " AND ".join(conditions) or "1", params


# Python's datetimes, hence every stored timestamp, lie in years 1 to 9999.
_MICROS_RANGE = (to_micros(datetime.min), to_micros(datetime.max))


def _timestamp_bound(column: str, bound: Any) -> Optional[int]:
    """Elasticsearch date bounds: ISO strings or epoch milliseconds, as microseconds."""
    if bound is None:
        return None
    number = number_or_none(bound)
    if number is not None:
        micros = int(number * 1000)
    else:
        try:
            micros = to_micros(datetime.fromisoformat(str(bound).replace("Z", "+00:00")))
        except ValueError:
            raise SearchRejected(f"The {column} bound {bound!r} is neither an ISO date nor epoch milliseconds.") from None
    if not _MICROS_RANGE[0] <= micros <= _MICROS_RANGE[1]:
        raise SearchRejected(f"The {column} bound {bound!r} lies outside years 1 to 9999, the dates records have.")
    return micros


def _record_ids(values: List[Any]) -> List[bytes]:
    """Record ids as stored (16 bytes); a value that is not a UUID matches no record."""
    keys = []
    for value in values:
        try:
            keys.append(UUID(str(getattr(value, "value", value))).bytes)
        except ValueError:
            continue
    return keys


def _record_filter(filter: Filter, scope: RecordFilterScope) -> Sql:
    column = str(scope.property)
    if column not in _RECORD_COLUMNS:
        raise ValueError(f"Cannot process request for search scope {scope}")
    if isinstance(filter, TermsFilter):
        if column == "id":
            return _in("r.id", _record_ids(filter.values))
        return _in(f"r.{column}", [str(getattr(v, "value", v)) for v in filter.values])
    if column in _TIMESTAMP_COLUMNS:
        conditions, params = [], []
        for operator, bound in ((">=", filter.ge), ("<=", filter.le)):
            micros = _timestamp_bound(column, bound)
            if micros is not None:
                conditions.append(f"r.{column} {operator} ?")
                params.append(micros)
        return " AND ".join(conditions) or "1", params
    return _range_condition(f"r.{column}", filter.ge, filter.le)


def _value_condition(filter: Filter, column: str, as_float32: bool = False) -> Sql:
    if isinstance(filter, TermsFilter):
        return _in(column, _terms_values(filter.values))
    if isinstance(filter, RangeFilter):
        return _range_condition(column, filter.ge, filter.le, as_float32=as_float32)
    raise ValueError(f"Cannot process request for filter {filter}")


def _metadata_filter(filter: Filter, scope: MetadataFilterScope, tables: DatasetTables, types: Dict[str, str]) -> Sql:
    is_float = types.get(scope.metadata_property) == MetadataPropertyType.float.value
    condition, params = _value_condition(filter, "value", as_float32=is_float)
    sql = f"r.rid IN (SELECT rid FROM {tables.meta} WHERE name = ? AND {condition})"
    return sql, [scope.metadata_property, *params]


def _suggestion_filter(filter: Filter, scope: SuggestionFilterScope, tables: DatasetTables) -> Sql:
    condition, params = _value_condition(filter, "value")
    sql = f"r.rid IN (SELECT rid FROM {tables.sugg} WHERE question = ? AND prop = ? AND {condition})"
    return sql, [scope.question, str(scope.property), *params]


def _response_status_filter(filter: TermsFilter, scope: ResponseFilterScope, tables: DatasetTables) -> Sql:
    statuses = [str(getattr(v, "value", v)) for v in filter.values]
    user_id = str(scope.user.id) if scope.user else None
    others = [status for status in statuses if status != ResponseStatusFilter.pending.value]

    parts: List[Sql] = []
    if len(others) < len(statuses):
        # pending: the user (or, without a user, anybody) has not responded yet.
        if user_id:
            parts.append((f"r.rid NOT IN (SELECT rid FROM {tables.resp} WHERE user_id = ?)", [user_id]))
        else:
            parts.append((f"r.rid NOT IN (SELECT rid FROM {tables.resp})", []))
        if not others:
            return parts[0]

    conditions, params = [], []
    if others:
        condition, values = _in("status", others)
        conditions.append(condition)
        params.extend(values)
    if user_id:
        conditions.append("user_id = ?")
        params.append(user_id)
    if not conditions:
        return "1", []
    parts.append((f"r.rid IN (SELECT rid FROM {tables.resp} WHERE {' AND '.join(conditions)})", params))

    if len(parts) == 1:
        return parts[0]
    return "(" + " OR ".join(sql for sql, _ in parts) + ")", [p for _, values in parts for p in values]


def _response_filter(filter: Filter, scope: ResponseFilterScope, tables: DatasetTables) -> Sql:
    if scope.question:
        condition, params = _value_condition(filter, "value")
        sql = f"SELECT rid FROM {tables.rval} WHERE question = ? AND {condition}"
        params = [scope.question, *params]
        if scope.user:
            sql += " AND user_id = ?"
            params.append(str(scope.user.id))
        return f"r.rid IN ({sql})", params
    if scope.property == "status" and isinstance(filter, TermsFilter):
        return _response_status_filter(filter, scope, tables)
    # Elasticsearch's engine raises a bare Exception here too (a 500): these are the caller's to fix.
    if scope.property == "status":
        statuses = ", ".join(status.value for status in ResponseStatusFilter)
        raise SearchRejected(f"A range filter on response status is not supported: statuses are names, "
                             f"filter them with a terms filter ({statuses}).")
    raise SearchRejected('A filter on responses needs a question (to filter its answers) or the property "status".')


def filter_to_sql(filter: Filter, tables: DatasetTables, metadata_types: Dict[str, str]) -> Sql:
    """A WHERE condition on records aliased `r`, with its parameters."""
    if isinstance(filter, AndFilter):
        parts = [filter_to_sql(f, tables, metadata_types) for f in filter.filters]
        if not parts:
            return "1", []
        return "(" + " AND ".join(sql for sql, _ in parts) + ")", [p for _, params in parts for p in params]

    scope: FilterScope = filter.scope
    if isinstance(scope, ResponseFilterScope):
        return _response_filter(filter, scope, tables)
    if isinstance(scope, MetadataFilterScope):
        return _metadata_filter(filter, scope, tables, metadata_types)
    if isinstance(scope, SuggestionFilterScope):
        return _suggestion_filter(filter, scope, tables)
    if isinstance(scope, RecordFilterScope):
        return _record_filter(filter, scope)
    raise ValueError(f"Cannot process request for search scope {scope}")


def _by_record(table: str) -> str:
    """The table read through its (rid, ...) index, for a subquery correlated on one record.

    Left to itself SQLite picks the (name|question, value, rid) covering index instead, scanning
    every record's rows once per record: a sort over 20,000 records took 38 s instead of 0.1 s.
    """
    return f"{table} INDEXED BY {table}_rid"


def _order_expression(order: Order, tables: DatasetTables) -> Sql:
    scope = order.scope
    aggregate = "MAX" if order.order == SortOrder.desc else "MIN"
    if isinstance(scope, RecordFilterScope):
        column = str(scope.property)
        if column not in _RECORD_COLUMNS:
            raise ValueError(f"Cannot process request for search scope {scope}")
        return f"r.{column}", []
    if isinstance(scope, MetadataFilterScope):
        sql = f"(SELECT {aggregate}(value) FROM {_by_record(tables.meta)} WHERE rid = r.rid AND name = ?)"
        return sql, [scope.metadata_property]
    if isinstance(scope, SuggestionFilterScope):
        sql = f"(SELECT {aggregate}(value) FROM {_by_record(tables.sugg)} WHERE rid = r.rid AND question = ? AND prop = ?)"
        return sql, [scope.question, str(scope.property)]
    if isinstance(scope, ResponseFilterScope):
        # Elasticsearch sorts on nested responses with mode "avg" (optionally only this user's).
        if scope.question:
            sql = f"SELECT AVG(value) FROM {_by_record(tables.rval)} WHERE rid = r.rid AND question = ?"
            params: List[Any] = [scope.question]
        else:
            sql = f"SELECT {aggregate}(status) FROM {_by_record(tables.resp)} WHERE rid = r.rid"
            params = []
        if scope.user:
            sql += " AND user_id = ?"
            params.append(str(scope.user.id))
        return f"({sql})", params
    raise ValueError(f"Cannot process request for search scope {scope}")


def order_to_sql(orders: List[Order], tables: DatasetTables, tie_break: str = "r.rid") -> Sql:
    """ORDER BY terms (without the keyword): missing values last, then `tie_break` (SQL ending in r.rid)."""
    terms, params = [], []
    for order in orders:
        expression, values = _order_expression(order, tables)
        direction = "DESC" if order.order == SortOrder.desc else "ASC"
        terms.append(f"({expression}) IS NULL, {expression} {direction}")
        # The expression appears twice in the ORDER BY, so its parameters are bound twice.
        params.extend(values + values)
    terms.append(tie_break)
    return ", ".join(terms), params


# Review priority bands (metadata `review_priority`, 0-1): fixed cut points at 0.25, 0.5 and 0.75, so
# band 3 is [0.75, 1], band 0 [0, 0.25); a record without a priority is band -1 (served last).
PRIORITY_BANDS = 4


def priority_band(tables: DatasetTables, name: str) -> Sql:
    """SQL for a record's priority band (see PRIORITY_BANDS) from its float metadata `name`."""
    top = 1 - 1e-9  # a priority of exactly 1 belongs to the top band, not a band of its own
    value = f"MIN(MAX(MAX(value), 0.0), {top!r})"
    sql = (f"COALESCE((SELECT CAST({value} * {PRIORITY_BANDS} AS INTEGER) FROM {_by_record(tables.meta)} "
           f"WHERE rid = r.rid AND name = ?), -1)")
    return sql, [name]
