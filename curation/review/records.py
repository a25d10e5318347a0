"""Batch rows -> Argilla records: fields, AI feedback as suggestions, metadata for filters.

Each record's id is `record_id(batch id, row index)`, so the same row always maps to the
same record and a re-push can tell what is already on the server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import argilla as rg

from curation import contract as c
from curation.batch import Batch
from curation.review.config import ReviewConfig

# Deita scorers rate on a 1-6 scale; suggestion scores must lie in [0, 1].
DEITA_MIN, DEITA_MAX = 1.0, 6.0


_METADATA_TYPES = {"TermsMetadataProperty": "terms", "IntegerMetadataProperty": "integer", "FloatMetadataProperty": "float"}


class InvalidRow(ValueError):
    """A row that cannot become a record (e.g. a required field is missing)."""


def record_id(batch_id: str, index: int) -> str:
    """The record id of row `index` of batch `batch_id`: stable across pushes."""
    return f"{batch_id}:{index}"


def id_prefix(batch_id: str) -> str:
    return f"{batch_id}:"


def derived_id(recipe: str, source_id: str) -> str:
    """The record id of what `recipe` made from source record `source_id` (`curate watch`): one
    record per source and recipe, whichever batch it was generated in and however often."""
    return f"{derived_prefix(recipe)}{source_id}"


def derived_prefix(recipe: str) -> str:
    return f"watch:{recipe}:"


@dataclass
class MappedRecord:
    """A record to send; `ranks` holds the ranking suggestion's ranks (ties allowed)."""

    record: rg.Record
    ranks: dict[str, int] | None = None

    def api_model(self):
        """The API payload; ranks are set here because SDK suggestions carry only an order."""
        model = self.record.api_model()
        if self.ranks:
            for suggestion in model.suggestions:
                if suggestion.question_name == c.RANKING:
                    suggestion.value = [{"value": v, "rank": self.ranks[v]} for v in self.ranks]
        return model


def row_fields(kind: str, row: dict, num_responses: int | None, field_names) -> dict[str, Any]:
    """The record fields a row fills (before dropping missing values)."""
    if kind == "sft":
        fields = {c.INSTRUCTION: row.get(c.COL_INSTRUCTION), c.GENERATED_RESPONSE: row.get(c.COL_RESPONSE)}
    else:
        generations = list(row.get(c.COL_GENERATIONS) or [])[:num_responses]
        fields = {c.INSTRUCTION: row.get(c.COL_INSTRUCTION)}
        fields.update({c.response_field(i + 1): g for i, g in enumerate(generations)})
    for name in field_names:
        if name not in fields and row.get(name) is not None:
            fields[name] = row[name]  # extra fields a config adds are filled from same-named columns
    return fields


def unreviewable(kind: str, config: ReviewConfig, index: int, row: dict) -> str | None:
    """Why row `index` cannot become a record of a dataset made from `config`, or None."""
    names = [f["name"] for f in config.fields]
    fields = row_fields(kind, row, config.num_responses, names)
    missing = [f["name"] for f in config.fields if f.get("required", True) and _empty(fields.get(f["name"]))]
    return f"row {index}: no value for required field(s) {', '.join(missing)}" if missing else None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class RecordMapper:
    """Maps rows of one batch to records of one dataset."""

    def __init__(self, batch: Batch, config: ReviewConfig, dataset: rg.Dataset,
                 priorities: list[float | None] | None = None, ids: list[str] | None = None):
        self.batch = batch
        self.ids = ids  # row index -> record id (default: `record_id(batch id, index)`)
        self.priorities = priorities or []  # row index -> review priority (curation/review/priority.py)
        self.config = config
        self.dataset = dataset
        # Only what the dataset declares can be sent (it refuses extra metadata).
        self.metadata_types = {m.name: _METADATA_TYPES[type(m).__name__] for m in dataset.settings.metadata}
        self.questions = {q.name: q for q in dataset.settings.questions}
        self.required_fields = [f.name for f in dataset.settings.fields if f.required]

    def map(self, index: int, row: dict) -> MappedRecord:
        """The record for row `index`; raises InvalidRow if it cannot be reviewed."""
        if self.batch.kind == "sft":
            suggestions, metadata, ranks = self._sft(row)
        else:
            suggestions, metadata, ranks = self._preference(row)
        names = [f.name for f in self.dataset.settings.fields]
        fields = row_fields(self.batch.kind, row, self.config.num_responses, names)
        missing = [name for name in self.required_fields if _empty(fields.get(name))]
        if missing:
            raise InvalidRow(f"row {index}: no value for required field(s) {', '.join(missing)}")
        metadata = {c.META_BATCH_ID: self.batch.id, c.META_ROW_INDEX: index, c.META_RECIPE: self.batch.recipe,
                    **metadata}
        if index < len(self.priorities):
            metadata[c.META_REVIEW_PRIORITY] = self.priorities[index]
        record = rg.Record(
            id=self.ids[index] if self.ids is not None else record_id(self.batch.id, index),
            fields={k: v for k, v in fields.items() if v is not None},
            metadata=self._metadata(metadata),
            suggestions=[s for s in suggestions if s.question_name in self.questions],
        )
        record.dataset = self.dataset
        return MappedRecord(record, ranks if c.RANKING in self.questions else None)

    def _sft(self, row: dict):
        response = row.get(c.COL_RESPONSE)
        suggestions = []
        if isinstance(response, str) and response.strip():
            # The annotator edits the AI's proposal in place: the text question starts from it.
            score = _deita(row.get(c.COL_QUALITY_SCORE))
            suggestions.append(rg.Suggestion(c.RESPONSE, response, agent=row.get(c.COL_MODEL_NAME), score=score))
        metadata = {
            c.META_MODEL: row.get(c.COL_MODEL_NAME),
            c.META_INSTRUCTION_LENGTH: _length(row.get(c.COL_INSTRUCTION)),
            c.META_RESPONSE_LENGTH: _length(response),
            c.META_QUALITY_SCORE: row.get(c.COL_QUALITY_SCORE),
            c.META_COMPLEXITY_SCORE: row.get(c.COL_COMPLEXITY_SCORE),
        }
        return suggestions, metadata, None

    def _preference(self, row: dict):
        n = self.config.num_responses
        generations = list(row.get(c.COL_GENERATIONS) or [])
        judge = row.get(c.COL_JUDGE_MODEL)
        ratings = list(row.get(c.COL_RATINGS) or [])[:n]
        suggestions, scale = [], None
        for i, rating in enumerate(ratings):
            question = self.questions.get(c.rating_question(i + 1))
            if question is None or rating is None or int(rating) not in question.values:
                continue
            scale = (min(question.values), max(question.values))
            suggestions.append(
                rg.Suggestion(c.rating_question(i + 1), int(rating), agent=judge, score=_scaled(rating, *scale))
            )
        complete = len(ratings) == n and all(r is not None for r in ratings) and len(generations) >= n
        ranks = _dense_ranks(ratings, row.get(c.COL_CHOSEN_INDEX)) if complete else None
        if ranks and scale:
            order = sorted(ranks, key=ranks.get)
            scores = [_scaled(ratings[c.candidate_number(name) - 1], *scale) for name in order]
            suggestions.append(rg.Suggestion(c.RANKING, order, agent=judge, score=scores))
        best = _best(row, ratings)
        rationales = list(row.get(c.COL_RATIONALES) or [])
        if best is not None and best < len(rationales) and (rationales[best] or "").strip():
            suggestions.append(rg.Suggestion(c.CRITIQUE, rationales[best], agent=judge))
        present = [r for r in ratings if r is not None]
        metadata = {
            c.META_MODEL: sorted({m for m in row.get(c.COL_GENERATION_MODELS) or [] if m}) or None,
            c.META_JUDGE_MODEL: judge,
            c.META_INSTRUCTION_LENGTH: _length(row.get(c.COL_INSTRUCTION)),
            c.META_RATING_MARGIN: float(max(present) - min(present)) if len(present) >= 2 else None,
            c.META_CANDIDATE_ORIGIN: [f"{c.response_field(i + 1)}: {origin}"
                                      for i, origin in enumerate((row.get(c.COL_CANDIDATE_ORIGIN) or [])[:n])] or None,
        }
        return suggestions, metadata, ranks

    def _metadata(self, values: dict[str, Any]) -> dict[str, Any]:
        """Keep what the dataset declares, typed as it declares it; drop missing values."""
        kept = {}
        for name, value in values.items():
            kind = self.metadata_types.get(name)
            if kind is None or value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if kind == "integer":
                value = int(value)
            elif kind == "float":
                value = float(value)
            elif isinstance(value, list):
                value = [str(v) for v in value]
            else:
                value = str(value)
            kept[name] = value
        return kept


def _length(text: Any) -> int | None:
    return len(text) if isinstance(text, str) else None


def _deita(score: Any) -> float | None:
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return None
    return min(1.0, max(0.0, (float(score) - DEITA_MIN) / (DEITA_MAX - DEITA_MIN)))


def _scaled(rating: Any, low: int, high: int) -> float:
    """A judge's rating as a suggestion score in [0, 1] (the scale's low end is 0)."""
    return (float(rating) - low) / (high - low)


def _dense_ranks(ratings: list, chosen: int | None) -> dict[str, int]:
    """response_i -> rank, best first: the judge's chosen one, then by rating; ties share a rank."""
    keys = [(0 if i == chosen else 1, -int(r)) for i, r in enumerate(ratings)]
    distinct = sorted(set(keys))
    ranks = {c.response_field(i + 1): distinct.index(key) + 1 for i, key in enumerate(keys)}
    return dict(sorted(ranks.items(), key=lambda item: item[1]))


def _best(row: dict, ratings: list) -> int | None:
    """The judge's chosen response: `chosen_index`, else the single top-rated one."""
    chosen = row.get(c.COL_CHOSEN_INDEX)
    if chosen is not None:
        return int(chosen)
    present = [(r, i) for i, r in enumerate(ratings) if r is not None]
    if not present:
        return None
    top = max(r for r, _ in present)
    winners = [i for r, i in present if r == top]
    return winners[0] if len(winners) == 1 else None
