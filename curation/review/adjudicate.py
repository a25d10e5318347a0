"""Adjudication: records whose annotators disagree go to reviewers, whose answer becomes the gold one.

A conflict is what export would drop as a `disagreement` (`decide` over the export format's votes,
under the same agreement rule), a rating question whose submitted values spread by RATING_SPREAD
or more, or a label question `decide` finds split. `adjudicate` copies each conflicting record
into a sibling dataset (`<name>-adjudication` unless named) with one more field showing every
annotator's answer, and the source's questions for the reviewer's final answer. The sibling lives
in a workspace of its own, `<workspace>-adjudication`, whose members are the reviewers: the source's
annotators do not see it (owners and admins see every workspace anyway).

The two datasets are linked both ways through dataset metadata (argilla-server keeps a free JSON
object per dataset): export and status find the sibling from the source, and check that it points
back. Records keep the source record's id, so a re-run adds only conflicts not already there.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation import contract as c
from curation.argilla import records as argilla_records
from curation.argilla.datasets import create_dataset, find_dataset, require_dataset, settle_draft
from curation.argilla.errors import argilla_errors
from curation.argilla.records import iter_reviewed
from curation.argilla.responses import Review, Reviewed
from curation.argilla.usernames import Usernames
from curation.errors import BadInput
from curation.export.formats import FORMATS, Format
from curation.export.select import AGREEMENTS, admit, decide, default_min_submitted

SUFFIX = "-adjudication"  # of the sibling dataset's default name and of its workspace's name
ADJUDICATES = "curation_adjudicates"  # the sibling's dataset metadata: the source dataset's id
ADJUDICATED_BY = "curation_adjudication"  # the source's dataset metadata: the sibling's id
RATING_SPREAD = 2  # ratings this far apart are a conflict even when the rankings agree
_QUESTION_TYPES = ("rating", "label_selection")  # besides the format's own vote
# Keys of a serialized setting that belong to the dataset it was read from, not to a copy.
_OWN_KEYS = ("id", "dataset_id", "inserted_at", "updated_at")


class NoConflicts(BadInput):
    """The dataset has no record whose annotators disagree: nothing to adjudicate."""


@dataclass(frozen=True)
class Conflict:
    """A record whose submitted answers disagree, and the questions they disagree on."""

    record: Reviewed
    questions: tuple[str, ...]


@dataclass(frozen=True)
class AdjudicationReport:
    """What `adjudicate` found and sent."""

    source: str
    dataset: str
    workspace: str
    conflicts: int  # records of the source in conflict now
    added: int  # of those, sent by this run (the rest were there already)
    reviewers: tuple[str, ...]
    created_dataset: bool
    url: str | None = None


def format_of(dataset) -> Format | None:
    """The export format whose votes decide this dataset's records (None: not a dataset push made)."""
    from curation.report.read import kind_of

    kind = kind_of({f.name for f in dataset.settings.fields}, {q.name for q in dataset.settings.questions})
    return {"sft": FORMATS["sft"], "preference": FORMATS["dpo"]}.get(kind)


def conflict_questions(record: Reviewed, fmt: Format, questions: dict[str, str], agreement: str,
                       min_submitted: int = 2) -> tuple[str, ...]:
    """The questions the record's submitted answers disagree on; () when it is no conflict.

    `questions`: name -> type of the dataset's questions. A record export would drop before reading
    its answers (discarded, too few submissions) is no conflict: there is nothing to settle yet."""
    if admit(record, agreement=agreement, min_submitted=max(2, min_submitted)) is not None:
        return ()
    submitted = record.submitted
    differ = []
    if decide([fmt.vote(review, record) for review in submitted], agreement) == "disagreement":
        differ.append(fmt.needs_questions[0])
    for name, kind in questions.items():
        values = [r.values[name] for r in submitted if r.values.get(name) is not None]
        if len(values) < 2 or kind not in _QUESTION_TYPES:
            continue
        if kind == "rating" and max(values) - min(values) >= RATING_SPREAD:
            differ.append(name)
        elif kind == "label_selection" and decide(values, agreement) == "disagreement":
            differ.append(name)
    return tuple(differ)


def find_conflicts(client, dataset, agreement: str = "majority") -> Iterator[Conflict]:
    """Every record of `dataset` in conflict, in listing order."""
    fmt = format_of(dataset)
    if fmt is None:
        raise BadInput(f"dataset {dataset.name!r} was not made by `curate push`: it has neither the sft "
                       "nor the preference questions, so its answers cannot be compared")
    questions = {q.name: q.type for q in dataset.settings.questions}
    min_submitted = default_min_submitted(dataset.settings)
    seen: set[str] = set()  # offset pages over a changing dataset can repeat a record
    for record in iter_reviewed(client, dataset.id):
        if record.id in seen:
            continue
        seen.add(record.id)
        differ = conflict_questions(record, fmt, questions, agreement, min_submitted)
        if differ:
            yield Conflict(record, differ)


def adjudicate(
    name: str,
    *,
    workspace: str | None = None,
    reviewers: list[str] = (),
    into: str | None = None,
    agreement: str = "majority",
    client=None,
) -> AdjudicationReport:
    """Send the records of dataset `name` whose annotators disagree to its adjudication dataset."""
    if agreement not in AGREEMENTS:
        raise BadInput(f"unknown agreement {agreement!r}; choose one of {', '.join(AGREEMENTS)}")
    into = into if into is not None else f"{name}{SUFFIX}"
    if not into.strip():
        raise BadInput("the adjudication dataset's name is empty", hint="leave out --into or name one")
    if client is None:
        from curation.argilla.client import connect

        client = connect()
    source = require_dataset(client, name, workspace)
    # Everything is checked before anything is created: a wrong name leaves no workspace behind.
    users = [_find_reviewer(client, reviewer) for reviewer in dict.fromkeys(reviewers)]
    conflicts = list(find_conflicts(client, source, agreement))
    if not conflicts:
        raise NoConflicts(f"dataset {name!r} has no record whose annotators disagree; nothing was created",
                          hint="adjudicate once two or more annotators have submitted the same records")
    workspace_name = f"{source.workspace.name}{SUFFIX}"
    with argilla_errors("listing the workspaces"):
        workspace_exists = workspace_name in {w.name for w in client.api.workspaces.list()}
    existing = find_dataset(client, into, workspace_name) if workspace_exists else None
    if existing is not None:
        _check_link(client, existing, source)
    usernames = Usernames(client)
    with argilla_errors(f"creating the adjudication of {name!r}"):
        ws = _workspace(client, workspace_name)
        for user in users:
            if user.username not in {member.username for member in ws.users}:
                user.add_to_workspace(ws)
        created = False
        dataset = existing or settle_draft(client, into, workspace_name)
        if dataset is None:
            dataset, created = create_dataset(client, into, ws, adjudication_settings(source))
        _link(client, source, dataset)
        present = argilla_records.external_ids(client, dataset.id)
        todo = [conflict for conflict in conflicts if conflict.record.id not in present]
        added = 0
        for start in range(0, len(todo), argilla_records.CHUNK):
            models = [_record_model(dataset, conflict, usernames, list(source.settings.questions))
                      for conflict in todo[start : start + argilla_records.CHUNK]]
            added += argilla_records.add_missing(client, dataset.id, models)
    from curation.argilla.client import review_url

    return AdjudicationReport(
        source=name, dataset=into, workspace=workspace_name, conflicts=len(conflicts), added=added,
        reviewers=tuple(u.username for u in users), created_dataset=created,
        url=f"{review_url(client)}/dataset/{dataset.id}/annotation-mode",
    )


def _find_reviewer(client, username: str):
    from curation.argilla.users import find_user

    if not username.strip():
        raise BadInput("a reviewer's name is empty", hint="pass --reviewers as a comma-separated list of usernames")
    return find_user(client, username)


def _workspace(client, name: str):
    """Workspace `name`, created if the server has none by that name."""
    import argilla as rg

    from curation.argilla.users import check_workspace_name

    check_workspace_name(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns when a lookup finds nothing
        found = client.workspaces(name=name)
    return found if found is not None else rg.Workspace(name=name, client=client).create()


def adjudication_settings(source):
    """The source's fields, questions and metadata, one field more for the annotators' answers, one
    metadata property more for the questions in conflict; one reviewer's answer completes a record."""
    import argilla as rg

    settings = source.settings.serialize()
    for section in ("fields", "questions", "metadata"):
        settings[section] = [{k: v for k, v in item.items() if k not in _OWN_KEYS} for item in settings[section]]
    settings["fields"].append({
        "name": c.ANNOTATOR_ANSWERS, "title": "Annotators' answers", "required": True,
        "settings": {"type": "text", "use_markdown": False},
    })
    settings["metadata"].append({"name": c.META_CONFLICT, "title": "In conflict", "visible_for_annotators": True,
                                 "settings": {"type": "terms", "values": None}})
    settings["vectors"] = []  # the copies carry no vectors
    settings["distribution"] = {"strategy": "overlap", "min_submitted": 1}
    settings["guidelines"] = (
        "Annotators disagreed on these records (see the field 'Annotators' answers' and the metadata "
        "'In conflict'). Give the final answer: it is exported in place of theirs.\n\n"
        + (settings.get("guidelines") or "")
    )
    # The SDK reads a serialized settings object back only from a file (`Settings.from_json`).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        path.write_text(json.dumps(settings))
        return rg.Settings.from_json(path)


def _record_model(dataset, conflict: Conflict, usernames: Callable[[str], str], questions: list):
    import argilla as rg

    record = conflict.record
    declared = {m.name for m in dataset.settings.metadata}
    metadata = {k: v for k, v in record.metadata.items() if k in declared and v is not None}
    metadata[c.META_CONFLICT] = list(conflict.questions)
    fields = {name: value for name, value in record.fields.items() if value is not None}
    # The questions in conflict first: what the reviewer has to settle is what they read first.
    order = list(conflict.questions) + [q.name for q in questions if q.name not in conflict.questions]
    fields[c.ANNOTATOR_ANSWERS] = answers_text(record, usernames, order)
    copy = rg.Record(id=record.id, fields=fields, metadata=metadata)
    copy.dataset = dataset
    return copy.api_model()


def answers_text(record: Reviewed, usernames: Callable[[str], str], question_order: list[str]) -> str:
    """Each annotator's answer (username, never the id), one block per annotator: drafts left out."""
    blocks = []
    done = [r for r in record.reviews if r.status in ("submitted", "discarded")]
    for review in sorted(done, key=lambda r: usernames(r.user_id)):
        head = f"{usernames(review.user_id)}" + (" (discarded)" if review.status == "discarded" else ":")
        lines = [head] + [f"  {q}: {_shown(review.values[q])}" for q in question_order
                          if review.values.get(q) is not None and review.status == "submitted"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _shown(value: Any) -> str:
    """A ranking as `response_2 > response_1 = response_3` (1 = best); text with its lines indented."""
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        ranks = sorted({i.get("rank") for i in value if i.get("rank") is not None})
        return " > ".join(" = ".join(sorted(str(i["value"]) for i in value if i.get("rank") == r)) for r in ranks)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value).strip().replace("\n", "\n    ")


def _metadata_of(client, dataset_id) -> dict:
    response = client.api.http_client.get(f"/api/v1/datasets/{dataset_id}")
    response.raise_for_status()
    return dict(response.json().get("metadata") or {})


def _set_metadata(client, dataset_id, key: str, value: str) -> None:
    """Add one key to the dataset's metadata (the server replaces the object: keep the others)."""
    metadata = _metadata_of(client, dataset_id)
    if metadata.get(key) != value:
        reply = client.api.http_client.patch(f"/api/v1/datasets/{dataset_id}", json={"metadata": {**metadata, key: value}})
        reply.raise_for_status()


def _check_link(client, dataset, source) -> None:
    """An existing dataset may receive the source's conflicts only if it adjudicates that source."""
    with argilla_errors(f"reading dataset {dataset.name!r}"):
        link = _metadata_of(client, dataset.id).get(ADJUDICATES)
    has_answers = c.ANNOTATOR_ANSWERS in {f.name for f in dataset.settings.fields}
    # No link but our field: made by an adjudicate stopped before it linked the two.
    if link != str(source.id) and not (link is None and has_answers):
        raise BadInput(f"dataset {dataset.name!r} in workspace {dataset.workspace.name!r} exists and is not "
                       f"the adjudication of {source.name!r}", hint="pass another --into NAME")


def _link(client, source, dataset) -> None:
    _set_metadata(client, dataset.id, ADJUDICATES, str(source.id))
    _set_metadata(client, source.id, ADJUDICATED_BY, str(dataset.id))


def find_adjudication(client, source):
    """The adjudication dataset of `source` (an `rg.Dataset`), or None: the one the source's metadata
    names, else `<name>-adjudication` in `<workspace>-adjudication`; either must point back."""
    with argilla_errors(f"looking up the adjudication of {source.name!r}"):
        linked = _metadata_of(client, source.id).get(ADJUDICATED_BY)
        candidate = None
        if linked:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the SDK warns when the id is gone
                candidate = client.datasets(id=linked)
            candidate = candidate.get() if candidate is not None else None  # get() loads the settings
        if candidate is None:
            try:
                candidate = find_dataset(client, f"{source.name}{SUFFIX}")
            except BadInput:  # one in several workspaces: none is the linked one, or the link would name it
                return None
        if candidate is None or _metadata_of(client, candidate.id).get(ADJUDICATES) != str(source.id):
            return None
        return candidate


def adjudicated_answers(client, adjudication) -> dict[str, Reviewed]:
    """Source record id -> the adjudication record with the reviewers' responses (answered ones only)."""
    return {r.id: r for r in iter_reviewed(client, adjudication.id) if any(_done(x) for x in r.reviews)}


def _done(review: Review) -> bool:
    return review.status in ("submitted", "discarded")


class ConflictTally:
    """Conflicts over a dataset's `parts` (siblings.parts), gathered record by record: open (not yet
    answered by a reviewer, whether sent to adjudication or not), resolved (a reviewer submitted or
    discarded) and the main part's adjudication dataset. `curate status` feeds it every record
    (`count_conflicts`); the report feeds it in its own single pass. Each part's format, questions,
    min_submitted and adjudication are looked up once."""

    def __init__(self, client, parts: list, agreement: str = "majority"):
        self._client, self._all, self._agreement = client, parts, agreement
        self._parts: dict[str, dict | None] = {}

    def _part(self, part) -> dict | None:
        key = str(part.id)
        if key not in self._parts:
            fmt = format_of(part)
            adjudication = find_adjudication(self._client, part) if fmt is not None else None
            self._parts[key] = None if fmt is None else {
                "fmt": fmt, "questions": {q.name: q.type for q in part.settings.questions},
                "min_submitted": default_min_submitted(part.settings), "ids": set(),
                "answered": set(adjudicated_answers(self._client, adjudication)) if adjudication is not None else set(),
                "dataset": adjudication.name if adjudication is not None else None}
        return self._parts[key]

    def add(self, record: Reviewed, part) -> None:
        info = self._part(part)
        if info is not None and conflict_questions(record, info["fmt"], info["questions"], self._agreement,
                                                   info["min_submitted"]):
            info["ids"].add(record.id)

    def result(self) -> dict | None:
        """{"open", "resolved", "dataset"}; None for a dataset push did not make."""
        main, *others = [self._part(part) for part in self._all]
        if main is None:
            return None
        known = [info for info in (main, *others) if info is not None]
        # A settled record may no longer look like a conflict (an annotator changed their answer): it
        # still counts as resolved, since export takes the reviewer's answer for it.
        return {"open": sum(len(i["ids"] - i["answered"]) for i in known),
                "resolved": sum(len(i["answered"]) for i in known), "dataset": main["dataset"]}


def count_conflicts(client, parts: list, agreement: str = "majority") -> dict | None:
    """`ConflictTally` over every record of `parts` (a part push did not make is not read)."""
    if format_of(parts[0]) is None:
        return None
    tally = ConflictTally(client, parts, agreement)
    for part in parts:
        if format_of(part) is not None:
            for record in iter_reviewed(client, part.id):
                tally.add(record, part)
    return tally.result()
