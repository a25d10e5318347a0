"""What the report reads from Argilla: the dataset's questions and, for every record, its
metadata, the AI's suggestions and each annotator's answer with its timestamps.

Everything goes through the boundary package `curation.argilla`. `scan_dataset` streams the records
past a visitor (the report's tallies), keeping none of them. A dataset with an overlap
sibling (`curate push --overlap-policy adaptive`) is read with it: the records of both parts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from curation import contract as c
from curation.argilla.datasets import require_dataset
from curation.argilla.errors import argilla_errors
from curation.argilla.records import iter_records
from curation.argilla.responses import Reviewed, reviewed
from curation.argilla.usernames import Usernames

DONE = ("submitted", "discarded")  # a draft is work in progress, not a review


@dataclass(frozen=True)
class Answer:
    """One annotator's response to one record."""

    user: str  # the username (the user id when the key may not list users)
    status: str  # submitted | discarded | draft
    values: dict[str, Any]  # question name -> value (a ranking keeps its ranks)
    inserted_at: dt.datetime  # UTC
    updated_at: dt.datetime  # UTC: when it was last saved, i.e. submitted or discarded


@dataclass(frozen=True)
class RecordView:
    """A record as the report sees it."""

    id: str
    metadata: dict[str, Any]
    suggestions: dict[str, Any]  # question name -> the AI's value
    answers: tuple[Answer, ...]

    @property
    def submitted(self) -> list[Answer]:
        return [a for a in self.answers if a.status == "submitted"]


@dataclass(frozen=True)
class DatasetView:
    name: str
    workspace: str
    kind: str | None  # sft | preference | None for a dataset that push did not make
    questions: dict[str, Any]  # name -> the SDK's question settings (type, values)
    records: list[RecordView]
    parts: tuple[str, ...] = ()  # the datasets read: this one, and its overlap part when it has one


Visit = Callable[[RecordView, Reviewed, Any], None]


def scan_dataset(name: str, workspace: str | None, client, visitor: Callable[[DatasetView, list], Visit]
                 ) -> DatasetView:
    """Dataset `name` (records left out) after one streamed pass over it and its overlap part.

    `visitor(view, parts)` is called once, before the first record, with the dataset's view and the SDK
    datasets read (it and its overlap part); the function it returns is called for each record as
    `visit(record, reviewed, part)`: the report's view of the record, the boundary's `Reviewed` (fields
    and answers, as export reads them) and the SDK dataset it came from. A record an offset page
    repeats is visited once."""
    if client is None:
        from curation.argilla.client import connect

        client = connect()
    from curation.review.siblings import parts

    dataset = require_dataset(client, name, workspace)
    with argilla_errors(f"reading the settings of dataset {name!r}"):
        questions = {q.name: q for q in dataset.settings.questions}
        fields = {f.name for f in dataset.settings.fields}
        workspace_name = dataset.workspace.name
    usernames = Usernames(client)
    read, seen = parts(client, dataset), set()  # the one thing kept per record: its id
    view = DatasetView(name=dataset.name, workspace=workspace_name, kind=kind_of(fields, questions),
                       questions=questions, records=[], parts=tuple(part.name for part in read))
    visit = visitor(view, read)
    for part in read:
        question_names = {str(q.id): q.name for q in part.settings.questions}  # ids are each dataset's own
        for item in iter_records(client, part.id, include=("responses", "suggestions")):
            record = reviewed(item)
            if record.id in seen:
                continue
            seen.add(record.id)
            visit(_record(item, record, question_names, usernames), record, part)
    return view


def kind_of(fields, questions) -> str | None:
    """sft or preference, by the contract's names; None for any other dataset."""
    if c.GENERATED_RESPONSE in fields and c.RESPONSE in questions:
        return "sft"
    if c.RANKING in questions:
        return "preference"
    return None


def _record(item: dict, record: Reviewed, question_names: dict[str, str], usernames: Usernames) -> RecordView:
    # `record`: the boundary's reading of `item`'s values; timestamps come from the same list.
    answers = tuple(
        Answer(user=usernames(review.user_id), status=review.status, values=review.values,
               inserted_at=parse_time(raw["inserted_at"]), updated_at=parse_time(raw["updated_at"]))
        for review, raw in zip(record.reviews, item.get("responses") or [])
    )
    suggestions = {
        question_names[s["question_id"]]: s.get("value")
        for s in item.get("suggestions") or []
        if s.get("question_id") in question_names
    }
    return RecordView(id=record.id, metadata=record.metadata, suggestions=suggestions, answers=answers)


def parse_time(text: str) -> dt.datetime:
    """argilla-server's timestamps (ISO 8601, naive means UTC) as aware UTC datetimes."""
    value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
