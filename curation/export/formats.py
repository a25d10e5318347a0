"""Turn a validated record into a TRL-ready row, applying the annotators' corrections.

- `sft`: conversational language modeling, `messages` = user instruction + assistant response,
  where the response is the annotators' corrected text (question `response`; the AI's
  proposal is the field `generated_response`).
- `dpo`: conversational preference, `prompt` / `chosen` / `rejected` message lists, where the
  best-ranked response is chosen and the worst-ranked rejected (question `ranking`).

Both carry provenance: batch_id, recipe, model, record_id, annotators, agreement.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from curation import contract as c
from curation.argilla.responses import Review, Reviewed
from curation.errors import BadInput
from curation.export.select import Unusable, decide

MISSING = Unusable("missing_answer")
TIE = Unusable("tie")

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_PROVENANCE = [
    # An export row keeps the record's metadata names for its provenance.
    (c.META_BATCH_ID, pa.string()),
    (c.META_RECIPE, pa.string()),
    (c.META_MODEL, pa.string()),
    (c.EXPORT_RECORD_ID, pa.string()),
    ("annotators", pa.list_(pa.string())),
    ("agreement", pa.float64()),
]


@dataclass(frozen=True)
class Format:
    """How one export format reads answers and builds rows."""

    name: str
    schema: pa.Schema
    task: str  # the Hub's task category, for the card
    needs_fields: tuple[str, ...]
    needs_questions: tuple[str, ...]
    vote: Callable[[Review, Reviewed], Hashable]
    row: Callable[[Reviewed, Any], dict[str, Any]]


def _message(role: str, content: str) -> list[dict[str, str]]:
    return [{"role": role, "content": content}]


def sft_vote(review: Review, record: Reviewed) -> Hashable:
    """The annotator's final response text (their edit, or the proposal kept as is)."""
    text = review.values.get(c.RESPONSE)
    if not isinstance(text, str) or not text.strip():
        return MISSING
    return text.strip()


def sft_row(record: Reviewed, text: str) -> dict[str, Any]:
    return {
        "messages": _message("user", record.fields[c.INSTRUCTION]) + _message("assistant", text),
        "edited": text != str(record.fields.get(c.GENERATED_RESPONSE) or "").strip(),
    }


def dpo_vote(review: Review, record: Reviewed) -> Hashable:
    """(chosen field, rejected field) from one ranking; ties at either end are unusable."""
    items = [i for i in review.values.get(c.RANKING) or [] if isinstance(i, dict)]
    if len(items) < 2 or any(i.get("rank") is None or i.get("value") not in record.fields for i in items):
        return MISSING
    ranks = [i["rank"] for i in items]
    best = [i["value"] for i in items if i["rank"] == min(ranks)]
    worst = [i["value"] for i in items if i["rank"] == max(ranks)]
    if len(best) > 1 or len(worst) > 1:
        return TIE
    return best[0], worst[0]


def dpo_row(record: Reviewed, pair: tuple[str, str]) -> dict[str, Any]:
    chosen, rejected = pair
    return {
        "prompt": _message("user", record.fields[c.INSTRUCTION]),
        "chosen": _message("assistant", record.fields[chosen]),
        "rejected": _message("assistant", record.fields[rejected]),
    }


FORMATS = {
    "sft": Format(
        name="sft",
        schema=pa.schema([("messages", _MESSAGES), ("edited", pa.bool_()), *_PROVENANCE]),
        task="text-generation",
        needs_fields=(c.INSTRUCTION, c.GENERATED_RESPONSE),
        needs_questions=(c.RESPONSE,),
        vote=sft_vote,
        row=sft_row,
    ),
    "dpo": Format(
        name="dpo",
        schema=pa.schema([("prompt", _MESSAGES), ("chosen", _MESSAGES), ("rejected", _MESSAGES), *_PROVENANCE]),
        task="text-generation",
        needs_fields=(c.INSTRUCTION,),
        needs_questions=(c.RANKING,),
        vote=dpo_vote,
        row=dpo_row,
    ),
}


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise BadInput(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[name]


def check_dataset(fmt: Format, dataset_name: str, field_names: set[str], question_names: set[str]) -> None:
    """Fail early when the dataset was not reviewed with this format's questions."""
    missing = [f"field {f!r}" for f in fmt.needs_fields if f not in field_names]
    missing += [f"question {q!r}" for q in fmt.needs_questions if q not in question_names]
    if missing:
        raise BadInput(
            f"dataset {dataset_name!r} cannot be exported as {fmt.name}: it lacks {' and '.join(missing)}",
            hint="sft needs the sft-review settings, dpo the preference-review settings",
        )


def build_row(
    fmt: Format, record: Reviewed, agreement: str, usernames: Callable[[str], str], settled: Hashable = None
) -> dict[str, Any] | str:
    """The row for an admitted record, or the rule that drops it. `settled`: the answer adjudication
    gave, which `agreement` then measures as the share of annotators who gave it too."""
    submitted = record.submitted
    votes = [fmt.vote(review, record) for review in submitted]
    if settled is not None:
        decision = (settled, sum(v == settled for v in votes) / len(votes) if votes else 0.0)
    else:
        decision = decide(votes, agreement)
    if isinstance(decision, str):
        return decision
    answer, share = decision
    meta = record.metadata
    return {
        **fmt.row(record, answer),
        c.META_BATCH_ID: _text(meta.get(c.META_BATCH_ID)),
        c.META_RECIPE: _text(meta.get(c.META_RECIPE)),
        c.META_MODEL: _text(meta.get(c.META_MODEL)),
        c.EXPORT_RECORD_ID: record.id,
        "annotators": sorted(usernames(r.user_id) for r in submitted),
        "agreement": round(share, 4),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
