"""In-memory argilla_server ORM objects (and an async test runner) for search engine tests.

Mirrors the defaults of argilla-server's tests/factories.py (factory_boy, Apache-2.0,
Copyright 2021-present the Recognai S.L. team) but builds transient objects with explicit ids
and timestamps instead of writing them to a database: the search engine only reads them.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional
from uuid import uuid4

from argilla_server.enums import (
    DatasetDistributionStrategy,
    DatasetStatus,
    FieldType,
    MetadataPropertyType,
    QuestionType,
    RecordStatus,
    ResponseStatus,
    UserRole,
)
from argilla_server.models import (
    Dataset,
    Field,
    MetadataProperty,
    Question,
    Record,
    Response,
    Suggestion,
    User,
    Vector,
    VectorSettings,
)

_sequence = itertools.count()


def asynctest(fn):
    """Run an async test function in a fresh event loop (the project does not use pytest-asyncio)."""
    assert inspect.iscoroutinefunction(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


_epoch = datetime(2024, 1, 1, 12, 0, 0)


def _stamp() -> Dict[str, datetime]:
    # Distinct, increasing timestamps, as rows inserted one after another get.
    moment = _epoch + timedelta(milliseconds=next(_sequence), microseconds=123)
    return {"inserted_at": moment, "updated_at": moment}


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_sequence)}"


def _field(settings: dict, name: Optional[str], required: bool) -> Field:
    name = name or _name("field")
    return Field(id=uuid4(), name=name, title="Field Title", required=required, settings=settings, **_stamp())


def text_field(name: Optional[str] = None, required: bool = True) -> Field:
    return _field({"type": FieldType.text, "use_markdown": False}, name, required)


def image_field(name: Optional[str] = None, required: bool = True) -> Field:
    return _field({"type": FieldType.image}, name, required)


def chat_field(name: Optional[str] = None, required: bool = True) -> Field:
    return _field({"type": FieldType.chat, "use_markdown": True}, name, required)


def custom_field(name: Optional[str] = None, required: bool = True) -> Field:
    settings = {"type": FieldType.custom, "template": "<div>{{ value }}</div>", "advanced_mode": False}
    return _field(settings, name, required)


def _metadata_property(kind: MetadataPropertyType, name: Optional[str], dataset: Optional[Dataset]) -> MetadataProperty:
    prop = MetadataProperty(
        id=uuid4(),
        name=name or _name("metadata-property"),
        title="Metadata property title",
        settings={"type": kind},
        allowed_roles=[UserRole.admin, UserRole.annotator],
        **_stamp(),
    )
    if dataset is not None:
        prop.dataset = dataset
        prop.dataset_id = dataset.id
    return prop


def terms_property(name: Optional[str] = None, dataset: Optional[Dataset] = None) -> MetadataProperty:
    return _metadata_property(MetadataPropertyType.terms, name, dataset)


def integer_property(name: Optional[str] = None, dataset: Optional[Dataset] = None) -> MetadataProperty:
    return _metadata_property(MetadataPropertyType.integer, name, dataset)


def float_property(name: Optional[str] = None, dataset: Optional[Dataset] = None) -> MetadataProperty:
    return _metadata_property(MetadataPropertyType.float, name, dataset)


def question(settings: dict, name: Optional[str] = None) -> Question:
    name = name or _name("question")
    return Question(id=uuid4(), name=name, title="Question Title", required=False, settings=settings, **_stamp())


def text_question(name: Optional[str] = None) -> Question:
    return question({"type": QuestionType.text.value, "use_markdown": False}, name)


def rating_question(name: Optional[str] = None) -> Question:
    return question({"type": QuestionType.rating.value, "options": [{"value": v} for v in range(11)]}, name)


def label_question(name: Optional[str] = None, options=("option1", "option2", "option3")) -> Question:
    settings = {"type": QuestionType.label_selection.value, "options": [{"value": v, "text": v} for v in options]}
    return question(settings, name)


def dataset(
    fields: Optional[List[Field]] = None,
    questions: Optional[List[Question]] = None,
    metadata_properties: Optional[List[MetadataProperty]] = None,
    status: DatasetStatus = DatasetStatus.draft,
) -> Dataset:
    ds = Dataset(
        id=uuid4(),
        name=_name("dataset"),
        status=status,
        distribution={"strategy": DatasetDistributionStrategy.overlap, "min_submitted": 1},
        fields=list(fields or []),
        questions=list(questions or []),
        metadata_properties=list(metadata_properties or []),
        vectors_settings=[],
        records=[],
        **_stamp(),
    )
    for child in [*ds.fields, *ds.questions, *ds.metadata_properties]:
        child.dataset_id = ds.id
    return ds


def record(
    ds: Dataset,
    fields: Optional[Dict[str, Any]] = None,
    metadata: Optional[Dict[str, Any]] = None,
    status: RecordStatus = RecordStatus.pending,
) -> Record:
    rec = Record(
        id=uuid4(),
        fields=dict(fields if fields is not None else {"text": "This is a text", "sentiment": "neutral"}),
        metadata_=metadata,
        status=status,
        external_id=_name("external-id"),
        dataset_id=ds.id,
        responses=[],
        suggestions=[],
        vectors=[],
        **_stamp(),
    )
    rec.dataset = ds
    return rec


def records(ds: Dataset, size: int, **kwargs) -> List[Record]:
    return [record(ds, **kwargs) for _ in range(size)]


def user() -> User:
    return User(id=uuid4(), first_name="Test", username=_name("user"), role=UserRole.annotator, api_key=_name("key"))


def response(
    rec: Record,
    values: Optional[dict],
    who: Optional[User] = None,
    status: ResponseStatus = ResponseStatus.submitted,
) -> Response:
    who = who or user()
    resp = Response(id=uuid4(), values=values, status=status, record_id=rec.id, user_id=who.id, **_stamp())
    resp.user = who
    resp.record = rec  # also appends it to rec.responses
    return resp


def suggestion(rec: Record, q: Question, value: Any, type=None, agent=None, score=None) -> Suggestion:
    sug = Suggestion(
        id=uuid4(), value=value, type=type, agent=agent, score=score, record_id=rec.id, question_id=q.id, **_stamp()
    )
    sug.question = q
    sug.record = rec  # also appends it to rec.suggestions
    return sug


def vector_settings(ds: Dataset, dimensions: int) -> VectorSettings:
    settings = VectorSettings(id=uuid4(), name=_name("vector"), title="Vector Title", dimensions=dimensions, **_stamp())
    settings.dataset = ds
    settings.dataset_id = ds.id
    return settings


def vector(rec: Record, settings: VectorSettings, value: List[float]) -> Vector:
    vec = Vector(id=uuid4(), value=value, record_id=rec.id, vector_settings_id=settings.id, **_stamp())
    vec.vector_settings = settings
    vec.record = rec  # also appends it to rec.vectors
    return vec
