"""Behaviour of the SQLite search engine beyond the upstream cases: query syntax, upserts,
per-user ordering, sorting, suggestion/record filters, storage location and two processes
writing one index file at once."""

import multiprocessing
import sqlite3
import uuid
import zlib
from pathlib import Path

import pytest
from argilla_server.enums import DatasetStatus, RecordStatus, SortOrder
from argilla_server.search_engine import (
    MetadataFilterScope,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchEngine,
    SuggestionFilterScope,
    TermsFilter,
    TextQuery,
)

from curation.server.search_engine import ENGINE_NAME, SQLiteSearchEngine, user_order_key
from curation.server.search_query import FtsQuery, to_fts_query
from curation.server.search_store import default_search_db_path
from tests.search_engine import builders as b
from tests.search_engine.builders import asynctest

TEXTS = [
    "the card payment was declined",
    "payment of the card fee",
    "a declined transfer",
    "paying by card",
    "e-mail support answered",
]


async def small_dataset(engine: SQLiteSearchEngine):
    dataset = b.dataset(
        fields=[b.text_field("text"), b.image_field("image")],
        metadata_properties=[b.terms_property("tags"), b.integer_property("n")],
        status=DatasetStatus.ready,
    )
    for i, text in enumerate(TEXTS):
        metadata = {"tags": ["x", f"t{i}"], "n": i, "unconfigured": "ignored"}
        if i == 4:
            metadata.pop("n")
        b.record(dataset, fields={"text": text, "image": "https://example.org/x.png"}, metadata=metadata)
    await engine.create_index(dataset)
    await engine.index_records(dataset, dataset.records)
    return dataset


async def texts_for(engine, dataset, **kwargs):
    by_id = {record.id: record.fields["text"] for record in dataset.records}
    result = await engine.search(dataset, **kwargs)
    return [by_id[item.record_id] for item in result.items]


# --------------------------------------------------------------------------- query translation


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("card", FtsQuery('("card")')),
        ("card payment", FtsQuery('(("card") AND ("payment"))')),
        ("card | payment", FtsQuery('(("card") OR ("payment"))')),
        ("card -payment", FtsQuery('((("card")) NOT (("payment")))')),
        ("-(card | payment)", FtsQuery('(("card") OR ("payment"))', negated=True)),
        ("card | -payment", FtsQuery('((("payment")) NOT (("card")))', negated=True)),
        ('"card payment"', FtsQuery('("card payment")')),
        ('"card payment"~3', FtsQuery('(NEAR("card" "payment", 3))')),
        ("pay*", FtsQuery('("pay" *)')),
        ("e-mail", FtsQuery('("e" AND "mail")')),
        ("paymnt~1", FtsQuery('("paymnt")')),
        ("a | b c", FtsQuery('((("a") OR ("b")) AND ("c"))')),  # left to right, no precedence
        ('say \\"hi\\"', FtsQuery('(("say") AND ("hi"))')),
        ("", None),
        ("?!", None),
    ],
)
def test_simple_query_string_translation(query, expected):
    assert to_fts_query(query) == expected


def test_query_restricted_to_a_column():
    assert to_fts_query("card pay*", "c1") == FtsQuery('(c1 : ("card") AND c1 : ("pay" *))')


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"card payment"', ["the card payment was declined"]),
        ("pay*", ["the card payment was declined", "payment of the card fee", "paying by card"]),
        ("declined -transfer", ["the card payment was declined"]),
        ("e-mail", ["e-mail support answered"]),
        ("", []),
    ],
)
@asynctest
async def test_query_syntax_against_the_index(engine, query, expected):
    dataset = await small_dataset(engine)

    assert sorted(await texts_for(engine, dataset, query=query)) == sorted(expected)


@asynctest
async def test_query_on_unknown_or_image_field(engine):
    dataset = await small_dataset(engine)

    with pytest.raises(Exception, match="Field missing not found"):
        await engine.search(dataset, query=TextQuery(q="card", field="missing"))
    result = await engine.search(dataset, query=TextQuery(q="example", field="image"))
    assert result.total == 0 and result.items == []


# --------------------------------------------------------------------------- writes


@asynctest
async def test_reindexing_a_record_replaces_it(engine):
    dataset = await small_dataset(engine)
    record = dataset.records[0]
    record.fields = {"text": "completely new words"}
    record.metadata_ = {"tags": "y", "n": 40}

    await engine.index_records(dataset, [record])

    assert (await engine.search(dataset)).total == len(TEXTS)
    assert await texts_for(engine, dataset, query="new") == ["completely new words"]
    assert "the card payment was declined" not in await texts_for(engine, dataset, query="declined")
    found = await engine.search(dataset, filter=RangeFilter(MetadataFilterScope("n"), ge=40))
    assert [item.record_id for item in found.items] == [record.id]


@asynctest
async def test_metadata_lists_and_unconfigured_properties(engine):
    dataset = await small_dataset(engine)

    assert (await engine.search(dataset, filter=TermsFilter(MetadataFilterScope("tags"), ["x"]))).total == 5
    assert (await engine.search(dataset, filter=TermsFilter(MetadataFilterScope("tags"), ["t2"]))).total == 1
    # Like Elasticsearch (`dynamic: false`), metadata without a configured property is not indexed.
    unconfigured = TermsFilter(MetadataFilterScope("unconfigured"), ["ignored"])
    assert (await engine.search(dataset, filter=unconfigured)).total == 0
    document = await engine.get_document(dataset, dataset.records[1].id)
    assert document["metadata"] == {"tags": ["x", "t1"], "n": 1}


@asynctest
async def test_partial_record_update_and_record_filters(engine):
    dataset = await small_dataset(engine)
    completed = dataset.records[2]

    await engine.partial_record_update(completed, status=RecordStatus.completed)

    assert await engine.get_dataset_progress(dataset) == {"total": 5, "pending": 4, "completed": 1}
    found = await engine.search(dataset, filter=TermsFilter(RecordFilterScope("status"), ["completed"]))
    assert [item.record_id for item in found.items] == [completed.id]
    since = dataset.records[3].inserted_at.isoformat()
    recent = await engine.search(dataset, filter=RangeFilter(RecordFilterScope("inserted_at"), ge=since))
    assert {item.record_id for item in recent.items} == {r.id for r in dataset.records[3:]}
    with pytest.raises(ValueError, match="Cannot update"):
        await engine.partial_record_update(completed, unknown=1)


@asynctest
async def test_suggestion_updates_and_range_filter(engine):
    question = b.label_question("label", options=("A", "B"))
    dataset = b.dataset(fields=[b.text_field("text")], questions=[question])
    first, second = b.records(dataset, 2, fields={"text": "x"})
    await engine.create_index(dataset)
    await engine.index_records(dataset, [first, second])
    scope = SuggestionFilterScope(question="label", property="score")

    suggestion = b.suggestion(first, question, "A", score=0.9)
    await engine.update_record_suggestion(suggestion)
    await engine.update_record_suggestion(b.suggestion(second, question, "B", score=0.2))

    high = await engine.search(dataset, filter=RangeFilter(scope, ge=0.5))
    assert [item.record_id for item in high.items] == [first.id]
    await engine.delete_record_suggestion(suggestion)
    assert (await engine.search(dataset, filter=RangeFilter(scope, ge=0.5))).total == 0
    assert (await engine.search(dataset, filter=RangeFilter(scope, le=0.5))).total == 1


@asynctest
async def test_delete_index(engine):
    dataset = await small_dataset(engine)

    await engine.delete_index(dataset)

    assert (await engine.search(dataset)).total == 0
    assert await engine.get_document(dataset, dataset.records[0].id) is None
    await engine.create_index(dataset)
    await engine.index_records(dataset, dataset.records)
    assert (await engine.search(dataset, query="card")).total == 3


# --------------------------------------------------------------------------- ordering


async def same_text_dataset(engine: SQLiteSearchEngine, size: int):
    """`size` indexed records that all match "words" with the same score."""
    dataset = b.dataset(fields=[b.text_field("text")], status=DatasetStatus.ready)
    records = b.records(dataset, size, fields={"text": "same words"})
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)
    return dataset, records


@asynctest
async def test_user_order_is_a_stable_per_user_shuffle(engine):
    dataset, records = await same_text_dataset(engine, 40)

    async def order(user_id):
        return [item.record_id for item in (await engine.search(dataset, query="words", user_id=user_id)).items]

    alice, bob = uuid.uuid4(), uuid.uuid4()
    alice_order = await order(alice)
    assert alice_order == await order(alice)
    assert sorted(alice_order) == sorted(await order(bob))
    assert alice_order != await order(bob)
    assert alice_order != [record.id for record in records]


def test_user_order_keys_are_distinct_integers():
    # Large rnd XOR seed values once overflowed int64, turned REAL and all tied at 2^32 - 1.
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE r (rnd INTEGER)")
    rnds = {zlib.crc32(uuid.uuid4().bytes) for _ in range(2000)} | {0, 2**32 - 1}
    conn.executemany("INSERT INTO r VALUES (?)", [(rnd,) for rnd in rnds])
    for seed in (0, 1, 2**31, 2**32 - 1, zlib.crc32(str(uuid.uuid4()).encode())):
        rows = conn.execute(f"SELECT typeof(k), k FROM (SELECT {user_order_key('r.rnd', seed)} AS k FROM r)").fetchall()
        assert {kind for kind, _ in rows} == {"integer"}
        keys = [key for _, key in rows]
        assert len(set(keys)) == len(rnds)  # a bijection: no ties
        assert 0 <= min(keys) and max(keys) < 2**32
        assert max(keys) - min(keys) > 2**31  # spread over the range


@asynctest
async def test_user_order_scores_do_not_tie(engine):
    dataset, records = await same_text_dataset(engine, 200)

    for user_id in (uuid.uuid4(), uuid.uuid4()):
        items = (await engine.search(dataset, query="words", user_id=user_id, limit=200)).items
        assert len({item.score for item in items}) == len(records)


@asynctest
async def test_sort_by_metadata_with_missing_values_last(engine):
    dataset = await small_dataset(engine)
    scope = MetadataFilterScope("n")

    ascending = await texts_for(engine, dataset, sort=[Order(scope, SortOrder.asc)])
    descending = await texts_for(engine, dataset, sort=[Order(scope, SortOrder.desc)])

    assert ascending == TEXTS
    assert descending == TEXTS[3::-1] + TEXTS[4:]
    assert all(item.score is None for item in (await engine.search(dataset, sort=[Order(scope, SortOrder.asc)])).items)


@asynctest
async def test_sort_by_a_users_response_value(engine):
    dataset = await small_dataset(engine)
    annotator, other = b.user(), b.user()
    for rating, record in zip([3, 1, 2], dataset.records):
        await engine.update_record_response(b.response(record, {"rating": {"value": rating}}, annotator))
        await engine.update_record_response(b.response(record, {"rating": {"value": 10 - rating}}, other))

    scope = ResponseFilterScope(question="rating", user=annotator)
    ordered = await texts_for(engine, dataset, sort=[Order(scope, SortOrder.asc)])

    assert ordered[:3] == [TEXTS[1], TEXTS[2], TEXTS[0]]


@asynctest
async def test_similarity_threshold_filters_items_but_not_total(engine):
    dataset = b.dataset(fields=[b.text_field("text")])
    settings = b.vector_settings(dataset, dimensions=2)
    for value in ([1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]):
        b.vector(b.record(dataset, fields={"text": "v"}), settings, value)
    await engine.create_index(dataset)
    await engine.index_records(dataset, dataset.records)

    result = await engine.similarity_search(dataset, settings, value=[1.0, 0.0], max_results=4, threshold=0.9)

    assert result.total == 4
    assert [item.record_id for item in result.items] == [r.id for r in dataset.records[:2]]
    assert result.items[0].score == pytest.approx(1.0)


# --------------------------------------------------------------------------- storage


def test_default_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CURATION_SEARCH_DB", raising=False)
    monkeypatch.setenv("ARGILLA_HOME_PATH", str(tmp_path))
    assert default_search_db_path() == tmp_path / "curation-search.sqlite3"

    monkeypatch.setenv("CURATION_SEARCH_DB", str(tmp_path / "elsewhere.db"))
    assert default_search_db_path() == tmp_path / "elsewhere.db"


@asynctest
async def test_registered_engine_uses_the_configured_file(monkeypatch, tmp_path):
    monkeypatch.setenv("CURATION_SEARCH_DB", str(tmp_path / "via-env.sqlite3"))

    async with SearchEngine.get_by_name(ENGINE_NAME) as engine:
        assert await engine.ping()
        assert (await engine.info())["path"] == str(tmp_path / "via-env.sqlite3")

    with sqlite3.connect(tmp_path / "via-env.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _write_rows(path: str, dataset_id: str, start: int, count: int) -> None:
    import asyncio

    async def write():
        engine = SQLiteSearchEngine(path)
        dataset = b.dataset(fields=[b.text_field("text")])
        dataset.id = uuid.UUID(dataset_id)
        for i in range(start, start + count):
            await engine.index_records(dataset, [b.record(dataset, fields={"text": f"process row{i}"})])

    asyncio.run(write())


def test_forked_processes_write_the_same_index(tmp_path: Path):
    # The server and rq's forked work horses share the file; the store is per process (keyed by pid).
    import asyncio

    path = str(tmp_path / "shared.sqlite3")
    dataset = b.dataset(fields=[b.text_field("text")])
    engine = SQLiteSearchEngine(path)
    asyncio.run(engine.create_index(dataset))
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_write_rows, args=(path, str(dataset.id), n * 100, 40)) for n in range(1, 3)
    ]
    for worker in workers:
        worker.start()
    _write_rows(path, str(dataset.id), 0, 40)
    for worker in workers:
        worker.join(timeout=60)

    assert [worker.exitcode for worker in workers] == [0, 0]
    assert asyncio.run(engine.search(dataset, query="process")).total == 120
