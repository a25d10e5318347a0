"""argilla-server 2.8.0 tests/unit/search_engine/test_commons.py, ported to the SQLite engine.

Every case of `TestBaseElasticAndOpenSearchEngine` is ported with the same inputs and the
same expected answers; records are built in memory (tests/search_engine/builders.py) instead
of by factory_boy in a database. Adaptations, all where upstream inspects Elasticsearch itself:

* index-mapping cases (test_create_index_*, test_create_metadata_property,
  test_configure_metadata_property, the mapping half of test_update_record_response and of
  test_annotators_limits/test_annotator_limits_increasing_default_fields_limit) check this
  engine's equivalent: its catalog (searchable field columns, metadata types) and that the
  indexed values are searchable. There is no field-count limit to raise, so the two
  annotator-limit cases check that 20..4000 annotators' responses are indexed and filterable;
* documents are read back with `get_document` rather than from the ES `_source`: fields come
  back as the indexed text (chat: message contents, custom: str(value)), as that is what the
  index stores;
* `dataset_for_pagination` wrote raw ES documents for a dataset without fields; here the
  dataset has a `text` field holding the same sentence.

Not ported: none.
"""

import json
import random
import sqlite3
from typing import Any, List, Optional, Union

import pytest
from argilla_server.enums import (
    DatasetStatus,
    MetadataPropertyType,
    RecordStatus,
    ResponseStatus,
    ResponseStatusFilter,
    SimilarityOrder,
    SortOrder,
)
from argilla_server.models import Dataset, Record, User, VectorSettings
from argilla_server.search_engine import (
    AndFilter,
    Filter,
    MetadataFilterScope,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SuggestionFilterScope,
    TermsFilter,
    TextQuery,
)

from curation.server.search_engine import SQLiteSearchEngine
from curation.server.search_store import DatasetTables
from tests.search_engine import builders as b
from tests.search_engine.builders import asynctest

BANKING = [
    ("00000", "My card payment had the wrong exchange rate", "negative", None, 0.13),
    ("00001", "I believe that a card payment I made was cancelled.", "neutral", "neutral", 0.343),
    ("00002", "I tried to make a payment with my card and it was declined.", "negative", "negative", 1.123),
    ("00003", "My credit card was declined when I tried to make a payment.", "negative", "negative", 12.13),
    ("00004", "I made a successful payment towards my mortgage loan earlier today.", "positive", "positive", -120.13),
    (
        "00005",
        "Please confirm the receipt of my payment for the credit card bill due on the 15th.",
        "neutral",
        "neutral",
        -149.13,
    ),
    ("00006", "Why was I charged for getting cash?", "neutral", "neutral", 200.13),
    ("00007", "Why was I charged for getting cash?", "neutral", "neutral", 20020.13),
    (
        "00008",
        "I deposited cash into my account a week ago and it is still not available,"
        " please tell me why? I need the cash back now.",
        "negative",
        "negative",
        120020.13,
    ),
]

# The response-status combinations both upstream status-filter cases are parametrized over.
STATUS_COMBINATIONS = [
    [],
    [ResponseStatusFilter.pending],
    [ResponseStatusFilter.draft],
    [ResponseStatusFilter.submitted],
    [ResponseStatusFilter.discarded],
    [ResponseStatusFilter.pending, ResponseStatusFilter.draft],
    [ResponseStatusFilter.submitted, ResponseStatusFilter.discarded],
    [ResponseStatusFilter.pending, ResponseStatusFilter.draft, ResponseStatusFilter.discarded],
]


def banking_dataset_non_indexed() -> Dataset:
    dataset = b.dataset(
        fields=[b.text_field("textId"), b.text_field("text"), b.text_field("label")],
        metadata_properties=[b.terms_property("label"), b.integer_property("textId"), b.float_property("seq_float")],
        questions=[b.text_question("text"), b.rating_question("rating")],
        status=DatasetStatus.ready,
    )
    for text_id, text, label, metadata_label, seq_float in BANKING:
        b.record(
            dataset,
            fields={"textId": text_id, "text": text, "label": label},
            metadata={"label": metadata_label, "textId": text_id, "seq_float": seq_float},
        )
    return dataset


async def banking_dataset(engine: SQLiteSearchEngine) -> Dataset:
    dataset = banking_dataset_non_indexed()
    await engine.create_index(dataset)
    await engine.index_records(dataset, dataset.records)
    return dataset


async def banking_dataset_with_vectors(engine: SQLiteSearchEngine) -> Dataset:
    dataset = await banking_dataset(engine)
    rng = random.Random(2024)
    for _ in range(5):
        settings = b.vector_settings(dataset, dimensions=rng.randrange(16, 1024))
        await engine.configure_index_vectors(settings)
        for record in dataset.records:
            b.vector(record, settings, [rng.uniform(-10, 10) for _ in range(settings.dimensions)])
    await engine.index_records(dataset, dataset.records)
    return dataset


async def update_records_responses(
    engine: SQLiteSearchEngine,
    records: List[Record],
    status: ResponseStatusFilter,
    user: Optional[User] = None,
    rating_value: Optional[int] = None,
):
    another_user = b.user()
    for record in records:
        responses = [b.response(record, {"rating": {"value": -1}}, another_user, ResponseStatus(status.value))]
        if user:
            value = {"rating": {"value": rating_value or -1}}
            responses.append(b.response(record, value, user, ResponseStatus(status.value)))
        for response in responses:
            await engine.update_record_response(response)


async def configure_record_responses(
    engine: SQLiteSearchEngine,
    dataset: Dataset,
    response_status: List[ResponseStatusFilter],
    number_of_answered_records: int,
    user: Optional[User] = None,
    rating_value: Optional[int] = None,
):
    all_statuses = [
        ResponseStatusFilter.draft,
        ResponseStatusFilter.pending,
        ResponseStatusFilter.discarded,
        ResponseStatusFilter.submitted,
    ]
    selected_records = dataset.records[:number_of_answered_records]
    rest_of_the_records = dataset.records[number_of_answered_records:]

    for status in response_status:
        if status != ResponseStatusFilter.pending:
            await update_records_responses(engine, selected_records, status, user, rating_value)

    for status in all_statuses:
        if status not in response_status and status != ResponseStatusFilter.pending:
            await update_records_responses(engine, rest_of_the_records, status, user)


def catalog(engine: SQLiteSearchEngine, dataset: Dataset) -> dict:
    """The engine's catalog entry for a dataset, read straight from the index file."""
    with sqlite3.connect(engine.path) as conn:
        row = conn.execute("SELECT fields FROM idx_datasets WHERE id = ?", (str(dataset.id),)).fetchone()
        types = dict(conn.execute("SELECT name, type FROM idx_metadata WHERE dataset = ?", (str(dataset.id),)))
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"fields": None if row is None else json.loads(row[0]), "metadata": types, "tables": tables}


def expected_document(record: Record, **extra: Any) -> dict:
    return {
        "id": str(record.id),
        "external_id": record.external_id,
        "status": RecordStatus.pending,
        "inserted_at": record.inserted_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        **extra,
    }


async def index_and_read_back(engine: SQLiteSearchEngine, dataset: Dataset, records: List[Record]) -> List[dict]:
    """Create the dataset's index, index the records and return their documents as stored."""
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)
    return [await engine.get_document(dataset, record.id) for record in records]


# --------------------------------------------------------------------------- index creation


@asynctest
async def test_create_index_for_dataset(engine):
    dataset = b.dataset()

    await engine.create_index(dataset)

    info = catalog(engine, dataset)
    tables = DatasetTables(dataset.id)
    assert info["fields"] == []
    assert info["metadata"] == {}
    assert {tables.rec, tables.fts, tables.meta, tables.sugg, tables.resp, tables.rval, tables.vec} <= info["tables"]


@asynctest
async def test_create_index_for_dataset_with_fields(engine):
    text_fields = [b.text_field(), b.text_field()]
    image_fields = [b.image_field(), b.image_field()]
    dataset = b.dataset(fields=text_fields + image_fields)

    await engine.create_index(dataset)

    info = catalog(engine, dataset)
    assert info["fields"] == [{"name": f.name, "type": f.settings["type"]} for f in text_fields + image_fields]
    with sqlite3.connect(engine.path) as conn:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({DatasetTables(dataset.id).fts})")]
    # Text fields get a full-text column each; image fields are not indexed (ES: `enabled: false`).
    assert columns == ["c0", "c1"]


@asynctest
async def test_create_metadata_property(engine):
    terms_property = b.terms_property("terms")
    integer_property = b.integer_property("integer")
    float_property = b.float_property("float")
    dataset = b.dataset(fields=[b.text_field("field")], metadata_properties=[terms_property, integer_property])

    await engine.create_index(dataset)
    await engine.configure_metadata_property(dataset, float_property)

    assert catalog(engine, dataset)["metadata"]["float"] == MetadataPropertyType.float.value


@asynctest
async def test_create_index_for_dataset_with_metadata_properties(engine):
    terms_property = b.terms_property("terms")
    integer_property = b.integer_property("integer")
    float_property = b.float_property("float")
    dataset = b.dataset(
        fields=[b.text_field("field")], metadata_properties=[terms_property, integer_property, float_property]
    )

    await engine.create_index(dataset)

    info = catalog(engine, dataset)
    assert info["fields"] == [{"name": "field", "type": "text"}]
    assert info["metadata"] == {"terms": "terms", "integer": "integer", "float": "float"}


@pytest.mark.parametrize(
    argnames=("text_ann_size", "rating_ann_size"),
    argvalues=[(random.randint(1, 9), random.randint(1, 9)) for _ in range(1, 5)],
)
@asynctest
async def test_create_index_for_dataset_with_questions(engine, text_ann_size: int, rating_ann_size: int):
    text_questions = [b.text_question() for _ in range(text_ann_size)]
    rating_questions = [b.rating_question() for _ in range(rating_ann_size)]
    label_questions = [b.label_question() for _ in range(text_ann_size)]
    multilabel_questions = [
        b.question({"type": "multi_label_selection", "options": [{"value": "option1"}, {"value": "option2"}]})
        for _ in range(rating_ann_size)
    ]
    all_questions = text_questions + rating_questions + label_questions + multilabel_questions
    dataset = b.dataset(fields=[b.text_field("text")], questions=all_questions)
    record = b.record(dataset, fields={"text": "a record"})
    values = {q.name: {"value": "free text"} for q in text_questions}
    values.update({q.name: {"value": 7} for q in rating_questions})
    values.update({q.name: {"value": "option2"} for q in label_questions})
    values.update({q.name: {"value": ["option1", "option2"]} for q in multilabel_questions})
    b.response(record, values)

    await engine.create_index(dataset)
    await engine.index_records(dataset, [record])

    # Each rating / (multi-)label question's answers are filterable (ES maps them integer / keyword).
    expected_values = [(q, "7") for q in rating_questions]
    expected_values += [(q, "option2") for q in label_questions + multilabel_questions]
    for q, value in expected_values:
        result = await engine.search(dataset, filter=TermsFilter(ResponseFilterScope(question=q.name), values=[value]))
        assert [item.record_id for item in result.items] == [record.id]


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("query", "expected_items"),
    [
        ("card", 5),
        ("account", 1),
        ("payment", 6),
        ("cash", 3),
        ("negative", 4),
        ("00000", 1),
        ("card payment", 5),
        ("nothing", 0),
        ("cash | negative", 6),  # OR
        ("cash + negative", 1),  # AN
        ("-(cash | negative)", 3),  # NOT
        (TextQuery(q="card"), 5),
        (TextQuery(q="account"), 1),
        (TextQuery(q="payment"), 6),
        (TextQuery(q="cash"), 3),
        (TextQuery(q="card payment"), 5),
        (TextQuery(q="nothing"), 0),
        (TextQuery(q="rate negative"), 1),  # Terms are found in two different fields
        (TextQuery(q="negative", field="label"), 4),
        (TextQuery(q="00000", field="textId"), 1),
        (TextQuery(q="card payment", field="text"), 5),
        (TextQuery(q="cash | negative", field="text"), 3),
        (TextQuery(q="cash + negative", field="text"), 0),
        (TextQuery(q="-(cash | negative)", field="text"), 6),
    ],
)
@asynctest
async def test_search_with_query_string(engine, query: Union[str, TextQuery], expected_items: int):
    dataset = await banking_dataset(engine)

    result = await engine.search(dataset, query=query)

    assert len(result.items) == expected_items
    assert result.total == expected_items
    scores = [item.score for item in result.items]
    assert all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)


@asynctest
async def test_search_for_chat_field(engine):
    chat_field = b.chat_field("field")
    dataset = b.dataset(fields=[chat_field])
    chat = [{"role": "user", "content": "Hello world"}, {"role": "bot", "content": "Hi"}]
    records = b.records(dataset, 2, fields={chat_field.name: chat})
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)

    result = await engine.search(dataset, query=TextQuery(q="world", field=chat_field.name))

    assert len(result.items) == 2
    assert result.total == 2


@asynctest
async def test_search_for_custom_field(engine):
    custom_field = b.custom_field("field")
    dataset = b.dataset(fields=[custom_field])
    records = b.records(dataset, 2, fields={custom_field.name: {"a": "This is a value", "b": 100}})
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)

    for query in ["value", 100]:
        result = await engine.search(dataset, query=TextQuery(q=query, field=custom_field.name))

        assert len(result.items) == 2
        assert result.total == 2


@pytest.mark.parametrize("statuses, expected_items", list(zip(STATUS_COMBINATIONS, [6, 6, 2, 2, 2, 6, 4, 6])))
@asynctest
async def test_search_with_response_status_filter(engine, statuses: List[ResponseStatusFilter], expected_items: int):
    dataset = await banking_dataset(engine)
    user = b.user()
    await configure_record_responses(engine, dataset, statuses, expected_items, user)

    result = await engine.search(
        dataset,
        query=TextQuery(q="payment"),
        filter=TermsFilter(scope=ResponseFilterScope(property="status"), values=statuses),
    )

    assert len(result.items) == expected_items
    assert result.total == expected_items


@asynctest
async def test_search_with_response_value_without_user(engine):
    dataset = await banking_dataset(engine)
    user = b.user()
    await configure_record_responses(
        engine, dataset, [ResponseStatusFilter.draft], number_of_answered_records=2, user=user, rating_value=2
    )
    another_user = b.user()
    await configure_record_responses(
        engine, dataset, [ResponseStatusFilter.draft], number_of_answered_records=3, user=another_user, rating_value=4
    )

    results_for_user = await engine.search(
        dataset, filter=TermsFilter(ResponseFilterScope(question="rating", user=None), values=["2"])
    )
    assert results_for_user.total == 2

    results_for_another_user = await engine.search(
        dataset, filter=TermsFilter(ResponseFilterScope(question="rating", user=None), values=["4"])
    )
    assert results_for_another_user.total == 3

    combined_results = await engine.search(
        dataset, filter=TermsFilter(ResponseFilterScope(question="rating", user=None), values=["2", "4"])
    )
    assert combined_results.total == 3


@pytest.mark.parametrize("statuses, expected_items", list(zip(STATUS_COMBINATIONS, [9, 3, 5, 3, 2, 5, 3, 4])))
@asynctest
async def test_search_with_response_status_filter_with_no_user(
    engine, statuses: List[ResponseStatusFilter], expected_items: int
):
    dataset = await banking_dataset(engine)
    await configure_record_responses(engine, dataset, statuses, expected_items)

    result = await engine.search(dataset, filter=TermsFilter(ResponseFilterScope(property="status"), values=statuses))

    assert len(result.items) == expected_items
    assert result.total == expected_items


@pytest.mark.parametrize(
    ("filter", "expected_items"),
    [
        (TermsFilter(scope=MetadataFilterScope(metadata_property="label"), values=["neutral"]), 4),
        (TermsFilter(scope=MetadataFilterScope(metadata_property="label"), values=["positive"]), 1),
        (TermsFilter(scope=MetadataFilterScope(metadata_property="label"), values=["neutral", "positive"]), 5),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="textId"), ge=3, le=4), 2),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="textId"), ge=3, le=3), 1),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="textId"), ge=3), 6),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="textId"), le=4), 5),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="seq_float"), ge=0, le=12.03), 3),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="seq_float"), ge=0.13, le=0.13), 1),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="seq_float"), ge=0.0), 7),
        (RangeFilter(scope=MetadataFilterScope(metadata_property="seq_float"), le=12.03), 5),
        (
            AndFilter(
                filters=[
                    TermsFilter(scope=MetadataFilterScope(metadata_property="label"), values=["negative"]),
                    RangeFilter(scope=MetadataFilterScope(metadata_property="textId"), ge=3, le=4),
                ]
            ),
            1,
        ),
    ],
)
@asynctest
async def test_search_with_metadata_filter(engine, filter: Filter, expected_items: int):
    dataset = await banking_dataset(engine)

    result = await engine.search(dataset, filter=filter)

    assert len(result.items) == expected_items
    assert result.total == expected_items


@asynctest
async def test_search_with_no_query(engine):
    dataset = await banking_dataset(engine)

    result = await engine.search(dataset)

    assert len(result.items) == len(dataset.records)
    assert result.total == len(dataset.records)
    assert {item.score for item in result.items} == {1.0}


@asynctest
async def test_search_with_response_status_filter_does_not_affect_the_result_scores(engine):
    dataset = await banking_dataset(engine)
    user = b.user()
    all_statuses = [ResponseStatusFilter.pending, ResponseStatusFilter.draft, ResponseStatusFilter.discarded]
    await configure_record_responses(engine, dataset, all_statuses, len(dataset.records), user)

    no_filter_results = await engine.search(dataset, query=TextQuery(q="payment"))
    results = await engine.search(
        dataset,
        query=TextQuery(q="payment"),
        filter=TermsFilter(scope=ResponseFilterScope(property="status", user=user), values=all_statuses),
    )

    assert len(no_filter_results.items) == len(results.items)
    assert no_filter_results.total == results.total
    assert [item.score for item in no_filter_results.items] == [item.score for item in results.items]


@pytest.mark.parametrize(
    "property, filter_match_value, filter_unmatch_value",
    [("value", "A", "C"), ("score", "0.5", "0"), ("agent", "peter", "john"), ("type", "human", "model")],
)
@asynctest
async def test_search_with_suggestion_filter(engine, property: str, filter_match_value: str, filter_unmatch_value: str):
    text_field = b.text_field()
    label_question = b.label_question(options=("A", "B"))
    dataset = b.dataset(fields=[text_field], questions=[label_question])
    records = b.records(dataset, 2, fields={text_field.name: f"This is the value for {text_field.name}"})
    b.suggestion(records[0], label_question, "A", type="human", agent="peter", score=0.5)
    b.suggestion(records[1], label_question, "B")
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)
    scope = SuggestionFilterScope(question=label_question.name, property=property)

    matched = await engine.search(dataset, filter=TermsFilter(scope=scope, values=[filter_match_value]))
    assert len(matched.items) == 1
    assert matched.total == 1

    unmatched = await engine.search(dataset, filter=TermsFilter(scope=scope, values=[filter_unmatch_value]))
    assert len(unmatched.items) == 0
    assert unmatched.total == 0


@pytest.mark.parametrize(("offset", "limit"), [(0, 50), (10, 5), (0, 0), (90, 100)])
@asynctest
async def test_search_with_pagination(engine, offset: int, limit: int):
    dataset = b.dataset(fields=[b.text_field("text")])
    records = b.records(dataset, 100, fields={"text": "The same text for all documents"})
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)

    all_results = await engine.search(dataset, query="documents", offset=0, limit=100)
    results = await engine.search(dataset, query="documents", offset=offset, limit=limit)

    assert len(results.items) == min(len(records) - offset, limit)
    assert results.total == 100
    assert all_results.items[offset : offset + limit] == results.items


@pytest.mark.parametrize(
    "sort_order",
    [
        Order(scope=RecordFilterScope(property="inserted_at"), order=SortOrder.asc),
        Order(scope=RecordFilterScope(property="updated_at"), order=SortOrder.asc),
        Order(scope=RecordFilterScope(property="inserted_at"), order=SortOrder.desc),
        Order(scope=RecordFilterScope(property="updated_at"), order=SortOrder.desc),
    ],
)
@asynctest
async def test_search_with_sort_by(engine, sort_order: Order):
    dataset = await banking_dataset(engine)

    results = await engine.search(dataset, sort=[sort_order])

    expected = sorted(
        dataset.records, key=lambda r: getattr(r, sort_order.scope.property), reverse=sort_order.order == "desc"
    )
    assert [item.record_id for item in results.items] == [record.id for record in expected]


# --------------------------------------------------------------------------- indexing


@asynctest
async def test_index_records(engine):
    text_fields = [b.text_field() for _ in range(5)]
    image_fields = [b.image_field() for _ in range(5)]
    dataset = b.dataset(fields=text_fields + image_fields)
    record_text_fields = {field.name: f"This is the value for {field.name}" for field in text_fields}
    record_image_fields = {field.name: f"https://random.url/{field.name}" for field in image_fields}
    records = b.records(dataset, 10, fields={**record_text_fields, **record_image_fields})

    documents = await index_and_read_back(engine, dataset, records)

    assert documents == [expected_document(record, fields=record_text_fields) for record in records]


@asynctest
async def test_index_records_with_none_field_values(engine):
    text_field = b.text_field("text", required=False)
    image_field = b.image_field("image", required=False)
    chat_field = b.chat_field("chat", required=False)
    custom_field = b.custom_field("custom", required=False)
    dataset = b.dataset(fields=[text_field, image_field, chat_field, custom_field])
    record = b.record(dataset, fields={"text": None, "image": None, "chat": None, "custom": None})
    other_record = b.record(
        dataset,
        fields={
            "text": "This is the value for text",
            "image": "https://random.url/image",
            "chat": [{"role": "user", "content": "Hello world"}, {"role": "bot", "content": "Hi"}],
            "custom": {"a": "This is a value", "b": 100},
        },
    )

    documents = await index_and_read_back(engine, dataset, [record, other_record])

    assert documents[0] == expected_document(
        record, fields={"text": None, "chat": None, "custom": None}  # image fields are not indexed
    )
    assert documents[1] == expected_document(
        other_record,
        fields={
            "text": "This is the value for text",
            "chat": "Hello world\nHi",
            "custom": str({"a": "This is a value", "b": 100}),
        },
    )


@asynctest
async def test_configure_metadata_property(engine):
    dataset = b.dataset()
    await engine.create_index(dataset)

    terms_property = b.terms_property("terms")
    await engine.configure_metadata_property(dataset, terms_property)

    assert catalog(engine, dataset)["metadata"] == {"terms": "terms"}


@asynctest
async def test_index_records_with_suggestions(engine):
    text_field = b.text_field()
    label_question = b.label_question(options=("A", "B"))
    dataset = b.dataset(fields=[text_field], questions=[label_question])
    records = b.records(dataset, 2, fields={text_field.name: f"This is the value for {text_field.name}"})
    b.suggestion(records[0], label_question, "A")
    b.suggestion(records[1], label_question, "B")

    documents = await index_and_read_back(engine, dataset, records)

    assert documents == [
        expected_document(
            record,
            fields=record.fields,
            suggestions={label_question.name: {"agent": None, "score": None, "type": None, "value": value}},
        )
        for record, value in zip(records, ["A", "B"])
    ]


@asynctest
async def test_index_records_with_metadata(engine):
    text_fields = [b.text_field() for _ in range(5)]
    metadata_properties = [b.terms_property() for _ in range(3)]
    dataset = b.dataset(fields=text_fields, metadata_properties=metadata_properties)
    records = b.records(
        dataset,
        10,
        fields={field.name: f"This is the value for {field.name}" for field in text_fields},
        metadata={prop.name: "Value for Metadata Property" for prop in metadata_properties},
    )

    documents = await index_and_read_back(engine, dataset, records)

    assert documents == [
        expected_document(
            record,
            fields=record.fields,
            metadata={str(prop.name): record.metadata_[prop.name] for prop in metadata_properties},
        )
        for record in records
    ]


@asynctest
async def test_index_records_with_vectors(engine):
    text_fields = [b.text_field() for _ in range(5)]
    dataset = b.dataset(fields=text_fields)
    vectors_settings = [b.vector_settings(dataset, dimensions=5) for _ in range(5)]
    records = b.records(dataset, 5, fields={field.name: f"This is the value for {field.name}" for field in text_fields})
    for record in records:
        for settings in vectors_settings:
            b.vector(record, settings, [1.0, 2.0, 3.0, 4.0, 5.0])

    documents = await index_and_read_back(engine, dataset, records)

    assert documents == [
        expected_document(
            record,
            fields=record.fields,
            vectors={str(settings.id): [1.0, 2.0, 3.0, 4.0, 5.0] for settings in vectors_settings},
        )
        for record in records
    ]


@asynctest
async def test_delete_records(engine):
    text_fields = [b.text_field() for _ in range(5)]
    dataset = b.dataset(fields=text_fields)
    fields = {field.name: f"This is the value for {field.name}" for field in text_fields}
    records = b.records(dataset, 10, fields=fields)
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)

    records_to_delete, records_to_keep = records[:5], records[5:]
    await engine.delete_records(dataset, records_to_delete)

    assert [await engine.get_document(dataset, record.id) for record in records_to_delete] == [None] * 5
    kept = [await engine.get_document(dataset, record.id) for record in records_to_keep]
    assert [document["id"] for document in kept] == [str(record.id) for record in records_to_keep]
    assert (await engine.search(dataset)).total == 5


async def respond_and_check_document(engine: SQLiteSearchEngine):
    """Index a response to the banking dataset's first record; check the record's document holds it."""
    dataset = await banking_dataset(engine)
    record = dataset.records[0]
    question = dataset.questions[0]
    response = b.response(record, {question.name: {"value": "test"}})

    await engine.update_record_response(response)

    document = await engine.get_document(dataset, record.id)
    assert document["responses"] == [
        {"id": str(response.id), "status": "submitted", "text": "test", "user_id": str(response.user_id)},
    ]
    return dataset, record, response


@asynctest
async def test_update_record_response(engine):
    await respond_and_check_document(engine)


@pytest.mark.parametrize("annotators_size", [20, 200, 400, 1000, 2000, 4000])
@asynctest
async def test_annotators_limits(engine, annotators_size: int):
    # Upstream test_annotators_limits and test_annotator_limits_increasing_default_fields_limit.
    dataset = banking_dataset_non_indexed()
    records = dataset.records
    annotators = [b.user() for _ in range(annotators_size)]
    await engine.create_index(dataset)
    await engine.index_records(dataset, records)

    record = records[0]
    question = dataset.questions[0]
    for user in annotators:
        b.response(record, {question.name: {"value": "test"}}, user)
    await engine.index_records(dataset, [record])

    document = await engine.get_document(dataset, record.id)
    assert len(document["responses"]) == annotators_size
    assert {response["user_id"] for response in document["responses"]} == {str(user.id) for user in annotators}
    submitted = await engine.search(
        dataset,
        filter=TermsFilter(ResponseFilterScope(property="status", user=annotators[-1]), values=["submitted"]),
    )
    assert [item.record_id for item in submitted.items] == [record.id]


@asynctest
async def test_delete_record_response(engine):
    dataset, record, response = await respond_and_check_document(engine)

    await engine.delete_record_response(response)

    # ES keeps an empty `responses` list; this index then simply holds no response rows.
    assert "responses" not in await engine.get_document(dataset, record.id)


# --------------------------------------------------------------------------- progress and metrics


@asynctest
async def test_get_dataset_user_progress_without_responses(engine):
    dataset = await banking_dataset(engine)

    progress = await engine.get_dataset_user_progress(dataset, user=b.user())

    assert progress == {"total": 0}


@asynctest
async def test_get_dataset_user_progress_with_response(engine):
    dataset = await banking_dataset(engine)
    record = dataset.records[0]
    question = dataset.questions[0]
    response = b.response(record, {question.name: {"value": "test"}})
    await engine.update_record_response(response)

    progress = await engine.get_dataset_user_progress(dataset, user=response.user)

    assert progress == {"total": 1, "submitted": 1}


@asynctest
async def test_get_dataset_user_progress_for_draft_dataset(engine):
    dataset = b.dataset(status=DatasetStatus.draft)

    assert await engine.get_dataset_user_progress(dataset, user=b.user()) == {}


@pytest.mark.parametrize("status", [RecordStatus.pending, RecordStatus.completed])
@asynctest
async def test_get_dataset_progress_with_pending_or_completed_records(engine, status: RecordStatus):
    # Upstream test_get_dataset_progress_with_pending_records and ..._with_completed_records.
    dataset = await banking_dataset(engine)
    for record in dataset.records:
        record.status = status
    await engine.index_records(dataset, dataset.records)

    progress = await engine.get_dataset_progress(dataset)

    assert progress == {"total": len(dataset.records), status.value: len(dataset.records)}


@asynctest
async def test_get_dataset_progress_for_draft_dataset(engine):
    assert await engine.get_dataset_progress(b.dataset(status=DatasetStatus.draft)) == {}


@pytest.mark.parametrize(
    ("property_name", "expected_metrics"),
    [
        (
            "label",
            {
                "total": 8,
                "type": MetadataPropertyType.terms,
                "values": [
                    {"count": 4, "term": "neutral"},
                    {"count": 3, "term": "negative"},
                    {"count": 1, "term": "positive"},
                ],
            },
        ),
        ("textId", {"max": 8, "min": 0, "type": MetadataPropertyType.integer}),
        ("seq_float", {"max": 120020.1328125, "min": -149.1300048828125, "type": MetadataPropertyType.float}),
    ],
)
@asynctest
async def test_compute_metrics_for(engine, property_name: str, expected_metrics: dict):
    dataset = await banking_dataset(engine)
    prop = next(p for p in dataset.metadata_properties if p.name == property_name)

    metrics = await engine.compute_metrics_for(prop)

    assert metrics.type == prop.type
    assert metrics.model_dump() == expected_metrics


@pytest.mark.parametrize(
    ("property_type", "expected_metrics"),
    [
        (MetadataPropertyType.terms, {"total": 0, "values": []}),
        (MetadataPropertyType.integer, {"min": None, "max": None}),
        (MetadataPropertyType.float, {"min": None, "max": None}),
    ],
)
@asynctest
async def test_compute_metrics_for_missing_property(
    engine, property_type: MetadataPropertyType, expected_metrics: dict
):
    dataset = b.dataset()
    await engine.create_index(dataset)
    make = {
        MetadataPropertyType.terms: b.terms_property,
        MetadataPropertyType.integer: b.integer_property,
        MetadataPropertyType.float: b.float_property,
    }[property_type]
    prop = make(dataset=dataset)

    metrics = await engine.compute_metrics_for(prop)

    assert metrics.model_dump() == {"type": property_type, **expected_metrics}


# --------------------------------------------------------------------------- similarity search


@asynctest
async def test_similarity_search_with_incomplete_inputs(engine):
    dataset = await banking_dataset_with_vectors(engine)
    settings: VectorSettings = dataset.vectors_settings[0]

    with pytest.raises(ValueError, match="Must provide either vector value or record to compute the similarity search"):
        await engine.similarity_search(dataset=dataset, vector_settings=settings)


@asynctest
async def test_similarity_search_with_too_much_inputs(engine):
    dataset = await banking_dataset_with_vectors(engine)
    settings: VectorSettings = dataset.vectors_settings[0]

    with pytest.raises(ValueError, match="Must provide either vector value or record to compute the similarity search"):
        await engine.similarity_search(
            dataset=dataset, vector_settings=settings, value=[1, 2, 3], record=dataset.records[0]
        )


@pytest.mark.parametrize(
    ("order", "finds_itself"), [(SimilarityOrder.most_similar, True), (SimilarityOrder.least_similar, False)]
)
@asynctest
async def test_similarity_search_by_vector_value(engine, order: SimilarityOrder, finds_itself: bool):
    # Upstream test_similarity_search_by_vector_value and ..._by_vector_value_with_order.
    dataset = await banking_dataset_with_vectors(engine)
    selected_record = dataset.records[0]
    selected_vector = selected_record.vectors[0]

    responses = await engine.similarity_search(
        dataset=dataset,
        vector_settings=selected_vector.vector_settings,
        value=selected_vector.value,
        order=order,
        max_results=1,
    )

    assert responses.total == 1
    assert (responses.items[0].record_id == selected_record.id) is finds_itself


@pytest.mark.parametrize("statuses", [[], [ResponseStatusFilter.pending, ResponseStatusFilter.draft]])
@asynctest
async def test_similarity_search_by_record_and_response_status_filter(engine, statuses: List[ResponseStatusFilter]):
    dataset = await banking_dataset_with_vectors(engine)
    selected_record = dataset.records[0]
    vector_settings = dataset.vectors_settings[0]
    scope = ResponseFilterScope(property="status")
    if statuses:
        scope.user = b.user()

    responses = await engine.similarity_search(
        dataset=dataset,
        vector_settings=vector_settings,
        record=selected_record,
        max_results=1,
        filter=TermsFilter(scope=scope, values=statuses),
    )

    assert responses.total == 1
    assert responses.items[0].record_id != selected_record.id


@asynctest
async def test_similarity_search_by_record(engine):
    dataset = await banking_dataset_with_vectors(engine)
    selected_record = dataset.records[0]

    responses = await engine.similarity_search(
        dataset=dataset, vector_settings=dataset.vectors_settings[0], record=selected_record, max_results=1
    )

    assert responses.total == 1
    assert responses.items[0].record_id != selected_record.id


@pytest.mark.parametrize(("with_responses", "expected_total"), [(True, 1), (False, 0)])
@asynctest
async def test_similarity_search_by_record_and_response_value_filter(engine, with_responses: bool, expected_total: int):
    # Upstream test_similarity_search_by_record_and_response_value_filter (and ..._without_responses).
    dataset = await banking_dataset_with_vectors(engine)
    if with_responses:
        await configure_record_responses(
            engine,
            dataset,
            [ResponseStatusFilter.draft],
            number_of_answered_records=len(dataset.records),
            user=b.user(),
            rating_value=2,
        )

    responses = await engine.similarity_search(
        dataset=dataset,
        vector_settings=dataset.vectors_settings[0],
        record=dataset.records[0],
        max_results=1,
        filter=TermsFilter(ResponseFilterScope(question="rating", user=None), values=["2"]),
    )

    assert responses.total == expected_total


@pytest.mark.parametrize("query, expected_results", [("payment", 5), ("nothing to find", 0)])
@asynctest
async def test_similarity_search_with_text_search(engine, query: str, expected_results: int):
    dataset = await banking_dataset_with_vectors(engine)
    records = dataset.records

    responses = await engine.similarity_search(
        dataset=dataset, vector_settings=dataset.vectors_settings[0], record=records[0], query=TextQuery(q=query)
    )

    assert responses.total == expected_results
    by_id = {record.id: record for record in records}
    for response in responses.items:
        assert query in "\n".join(by_id[response.record_id].fields.values())
