"""Limits that keep one search from hurting the others, and inputs that used to crash search.

Each case here failed on the engine before the limits (commit 97b55bc): a RecursionError or an
FTS5 "parser stack overflow" or an OverflowError (HTTP 500 in argilla-server), a read waiting on
another read's lock, or a record-id filter that found nothing. The same cases through the real
server's HTTP API are in tests/server/test_search_limits.py.
"""

import asyncio
import threading

import pytest
from argilla_server.enums import DatasetStatus
from argilla_server.search_engine import (
    AndFilter,
    MetadataFilterScope,
    RangeFilter,
    RecordFilterScope,
    TermsFilter,
    TextQuery,
)

from curation.server.search_engine import SQLiteSearchEngine
from curation.server.search_query import (
    MAX_QUERY_CHARS,
    MAX_QUERY_DEPTH,
    MAX_QUERY_TERMS,
    FtsQuery,
    SearchRejected,
    to_fts_query,
)
from tests.search_engine import builders as b
from tests.search_engine.builders import asynctest

# A deadlock guard only (a read blocked behind another never returns); nothing is timed.
GUARD_S = 60


async def indexed(engine: SQLiteSearchEngine, texts, metadata=None):
    dataset = b.dataset(
        fields=[b.text_field("text")],
        metadata_properties=[b.terms_property("source"), b.integer_property("n")],
        status=DatasetStatus.ready,
    )
    for i, text in enumerate(texts):
        b.record(dataset, fields={"text": text}, metadata=(metadata or {}).get(i, {}))
    await engine.create_index(dataset)
    await engine.index_records(dataset, dataset.records)
    return dataset


def alternating(depth: int, negated: bool = False) -> str:
    """`w0 | w1 + w2 | w3 ...`: applied left to right, each change of operator nests one level.

    `negated` makes every AND clause `-zN`, the widest FTS5 form (`((...) NOT (...))`). A record
    holding every `wN` and no `zN` matches either query.
    """
    clauses = []
    for i in range(1, depth + 1):
        if i % 2:
            clauses.append(f"| w{i}")
        else:
            clauses.append(f"+ -z{i}" if negated else f"+ w{i}")
    return " ".join(["w0", *clauses])


ALL_WORDS = " ".join(f"w{i}" for i in range(MAX_QUERY_DEPTH + 2))


# --------------------------------------------------------------------------- query size and shape


def test_query_longer_than_the_limit_is_rejected_with_the_limit():
    with pytest.raises(SearchRejected, match=f"{MAX_QUERY_CHARS:,}"):
        to_fts_query("hello " * 40_000)


def test_query_with_more_terms_than_the_limit_is_rejected_with_the_limit():
    query = " ".join(f"t{i}" for i in range(MAX_QUERY_TERMS + 1))
    assert len(query) < MAX_QUERY_CHARS
    with pytest.raises(SearchRejected, match=f"{MAX_QUERY_TERMS:,}"):
        to_fts_query(query)
    assert to_fts_query(" ".join(f"t{i}" for i in range(MAX_QUERY_TERMS))) is not None


@pytest.mark.parametrize(
    "query",
    ["(" * 5_000 + "card", "(" * (MAX_QUERY_DEPTH + 1) + "card", alternating(300), alternating(MAX_QUERY_DEPTH + 1)],
    ids=["5000-groups", "one-group-too-many", "300-alternations", "one-alternation-too-many"],
)
@asynctest
async def test_too_deep_queries_are_rejected(engine, query):
    dataset = await indexed(engine, ["the card payment"])
    with pytest.raises(SearchRejected, match=f"more than {MAX_QUERY_DEPTH} levels"):
        await engine.search(dataset, query=query)


@pytest.mark.parametrize("column", [None, "text"])
@pytest.mark.parametrize(
    "query",
    [
        "(" * MAX_QUERY_DEPTH + "w3" + ")" * MAX_QUERY_DEPTH,
        alternating(MAX_QUERY_DEPTH),
        alternating(MAX_QUERY_DEPTH, negated=True),
    ],
    ids=["groups", "alternations", "alternations-with-negations"],
)
@asynctest
async def test_the_deepest_allowed_queries_run_in_fts5(engine, query, column):
    # The limit must sit below FTS5's own parser stack, for the widest expression we write.
    dataset = await indexed(engine, [ALL_WORDS, "card"])

    result = await engine.search(dataset, query=TextQuery(q=query, field=column))
    assert [item.record_id for item in result.items] == [dataset.records[0].id]


def test_a_repeated_clause_is_matched_once():
    # "hello hello ..." cost FTS5 the same work once per repetition for every row.
    assert to_fts_query("card " * 1_000) == FtsQuery('(("card"))')
    assert to_fts_query("card | card | fee") == FtsQuery('(("card") OR ("fee"))')


def test_a_huge_phrase_slop_stays_a_valid_near_distance():
    # FTS5 reads the distance as a C int: 2^31 wrapped around and matched nothing.
    assert to_fts_query('"card fee"~' + "9" * 5_000) == FtsQuery('(NEAR("card" "fee", 2147483647))')


# --------------------------------------------------------------------------- work and concurrency


@asynctest
async def test_a_search_stops_at_its_cpu_budget_and_the_engine_still_serves(engine):
    dataset = await indexed(engine, [f"card number {i}" for i in range(300)])
    spent = SQLiteSearchEngine(engine.path, max_search_cpu_s=0)

    with pytest.raises(SearchRejected, match="CPU time"):
        await spent.search(dataset, query="card")
    # The interrupted read's connection went back to the pool in a usable state.
    for _ in range(3):
        assert (await engine.search(dataset, query="card", limit=1)).total == 300


@asynctest
async def test_reads_run_side_by_side(engine):
    """A read that has not finished does not hold up the next one (WAL: no lock spans a read)."""
    await indexed(engine, ["x"])
    first_reading, second_done = threading.Event(), threading.Event()

    def long_read(conn):
        conn.execute("SELECT COUNT(*) FROM idx_datasets").fetchone()
        first_reading.set()
        return second_done.wait(GUARD_S)  # False: the second read only ran after this one

    def short_read(conn):
        count = conn.execute("SELECT COUNT(*) FROM idx_datasets").fetchone()[0]
        second_done.set()
        return count

    first = asyncio.create_task(engine.store.read(long_read))
    assert await asyncio.to_thread(first_reading.wait, GUARD_S)
    assert await engine.store.read(short_read) >= 1
    assert await first is True


# --------------------------------------------------------------------------- values beyond SQLite's integers


@pytest.mark.parametrize("value", ["1e30", str(2**63), str(-(2**63) - 1)])
@asynctest
async def test_a_terms_value_beyond_64_bit_integers_matches_as_text(engine, value):
    dataset = await indexed(engine, ["a", "b"], metadata={0: {"source": value}, 1: {"source": "web"}})
    scope = MetadataFilterScope(metadata_property="source")

    result = await engine.search(dataset, filter=TermsFilter(scope=scope, values=[value]))
    assert [item.record_id for item in result.items] == [dataset.records[0].id]


@asynctest
async def test_integer_metadata_beyond_64_bits_is_not_indexed(engine):
    # Elasticsearch rejects such a value for a `long`; indexing the record must not fail.
    dataset = await indexed(engine, ["a", "b"], metadata={0: {"n": 1e30}, 1: {"n": 7}})
    scope = MetadataFilterScope(metadata_property="n")

    assert (await engine.search(dataset, filter=RangeFilter(scope=scope, ge=0))).total == 1
    assert (await engine.search(dataset, filter=RangeFilter(scope=scope, ge=1e30))).total == 0
    assert (await engine.search(dataset, filter=TermsFilter(scope=scope, values=[str(2**64)]))).total == 0


@pytest.mark.parametrize(
    ("ge", "le", "message"),
    [(1e16, None, "outside years 1 to 9999"), (None, -1e16, "outside years 1 to 9999"), ("soon", None, "neither")],
)
@asynctest
async def test_timestamp_bounds_outside_dates_are_rejected(engine, ge, le, message):
    dataset = await indexed(engine, ["a"])
    with pytest.raises(SearchRejected, match=message):
        await engine.search(dataset, filter=RangeFilter(scope=RecordFilterScope(property="inserted_at"), ge=ge, le=le))


@asynctest
async def test_an_offset_beyond_64_bits_is_rejected(engine):
    dataset = await indexed(engine, ["a"])
    with pytest.raises(SearchRejected, match="offset"):
        await engine.search(dataset, offset=2**63)
    assert (await engine.search(dataset, offset=2**63 - 1)).items == []


# --------------------------------------------------------------------------- record ids


@asynctest
async def test_filter_by_record_id(engine):
    dataset = await indexed(engine, ["a", "b", "c"])
    first, _, third = (record.id for record in dataset.records)
    scope = RecordFilterScope(property="id")

    found = await engine.search(dataset, filter=TermsFilter(scope=scope, values=[str(first), str(third)]))
    assert {item.record_id for item in found.items} == {first, third}
    both = AndFilter(filters=[TermsFilter(scope=scope, values=[str(first), "not-a-uuid"])])
    assert [item.record_id for item in (await engine.search(dataset, filter=both)).items] == [first]
    assert (await engine.search(dataset, filter=TermsFilter(scope=scope, values=["not-a-uuid"]))).total == 0
