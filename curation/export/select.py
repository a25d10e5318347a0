"""Choose the records humans validated, streaming them from Argilla one page at a time.

Policy, per record (drafts never count):

- `discarded`: under `unanimous` any discard drops the record; under `majority` it drops when
  discards are at least as many as submissions; under `any` one submission outweighs discards.
- `too_few_submitted`: fewer than `min_submitted` annotators submitted it.
- The submitted answers are then resolved by `decide` (in `formats`, per export format).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from curation.errors import ArgillaUnavailable, BadInput, CurationError

AGREEMENTS = ("majority", "unanimous", "any")
PAGE_SIZE = 500  # records per request: bounds memory, and the server allows up to 1000


@dataclass(frozen=True)
class Review:
    """One annotator's response to a record."""

    user_id: str
    status: str  # submitted | discarded | draft
    values: dict[str, Any]  # question name -> raw value (a ranking keeps its ranks)


@dataclass(frozen=True)
class Reviewed:
    """A record as the export sees it."""

    id: str
    fields: dict[str, Any]
    metadata: dict[str, Any]
    reviews: tuple[Review, ...]

    @property
    def submitted(self) -> list[Review]:
        return [r for r in self.reviews if r.status == "submitted"]

    @property
    def discards(self) -> int:
        return sum(r.status == "discarded" for r in self.reviews)


@dataclass(frozen=True)
class Unusable:
    """An answer that cannot decide a row (tied ranking, missing answer); never guessed."""

    reason: str


@dataclass
class Counts:
    """Records seen, dropped by each rule, and exported."""

    seen: int = 0
    duplicate: int = 0
    discarded: int = 0
    too_few_submitted: int = 0
    disagreement: int = 0
    tie: int = 0
    missing_answer: int = 0
    exported: int = 0

    def drop(self, rule: str) -> None:
        setattr(self, rule, getattr(self, rule) + 1)

    def dropped(self) -> dict[str, int]:
        """Drops by rule, in the order the rules apply."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("seen", "exported")}


class NothingToExport(CurationError):
    """The policy selected no record; nothing was written or pushed."""


def check_policy(agreement: str, min_submitted: int | None) -> None:
    if agreement not in AGREEMENTS:
        raise BadInput(f"unknown agreement {agreement!r}; choose one of {', '.join(AGREEMENTS)}")
    if min_submitted is not None and min_submitted < 1:
        raise BadInput(f"min_submitted must be at least 1, got {min_submitted}")


def iter_records(client, dataset_id, page_size: int = PAGE_SIZE) -> Iterator[Reviewed]:
    """Every record of the dataset with its responses, one page in memory at a time.

    Uses the SDK's records API rather than `Dataset.records`: `Record.from_model` drops the
    ranks of ranking answers (ties would be invisible) and fails on a discard without values.
    """
    offset = 0
    while True:
        with argilla_errors("listing the records with every annotator's responses"):
            page = client.api.records.list(
                dataset_id, offset=offset, limit=page_size, with_responses=True, with_suggestions=False
            )
        for model in page:
            yield _reviewed(model)
        if len(page) < page_size:
            return
        offset += len(page)


@contextmanager
def argilla_errors(doing: str) -> Iterator[None]:
    """Argilla's refusals and failures inside the block as one-line errors (never with the key).

    401/403 -> BadInput (use another key); other HTTP errors and lost connections -> ArgillaUnavailable.
    """
    import httpx
    from argilla._exceptions import ArgillaAPIError, ArgillaError

    try:
        yield
    except (ArgillaError, httpx.HTTPError) as exc:
        status = getattr(exc, "status_code", None)
        if isinstance(exc, httpx.HTTPStatusError):
            status = exc.response.status_code
        if status == 401:
            raise BadInput(f"Argilla refused the API key (HTTP 401) while {doing}",
                           hint="check ARGILLA_API_KEY (the key itself is not shown here)") from None
        if status == 403:
            raise BadInput(f"Argilla forbids this API key's user {doing} (HTTP 403)",
                           hint="export with the owner's API key, or with that of an admin of the dataset's workspace") from None
        if isinstance(exc, (ArgillaAPIError, httpx.HTTPStatusError)):
            raise ArgillaUnavailable(f"Argilla failed {doing}: HTTP {status}") from None
        if isinstance(exc, httpx.HTTPError):
            raise ArgillaUnavailable(f"lost the connection to Argilla while {doing}: {type(exc).__name__}") from None
        raise ArgillaUnavailable(f"Argilla failed {doing}: {type(exc).__name__}") from None


def _reviewed(model) -> Reviewed:
    reviews = tuple(
        Review(
            user_id=str(r.user_id),
            status=r.status.value if hasattr(r.status, "value") else str(r.status),
            values={q: (v or {}).get("value") for q, v in (r.values or {}).items()},
        )
        for r in model.responses or []
    )
    metadata = model.metadata
    if isinstance(metadata, list):
        metadata = {m.name: m.value for m in metadata}
    record_id = model.external_id if model.external_id is not None else model.id
    return Reviewed(id=str(record_id), fields=dict(model.fields or {}), metadata=dict(metadata or {}), reviews=reviews)


def admit(record: Reviewed, *, agreement: str, min_submitted: int) -> str | None:
    """The rule that drops this record before its answers are read, or None if it passes."""
    submitted, discards = len(record.submitted), record.discards
    if discards and (
        agreement == "unanimous"
        or (agreement == "majority" and discards >= submitted)
        or (agreement == "any" and submitted == 0)
    ):
        return "discarded"
    if submitted < min_submitted:
        return "too_few_submitted"
    return None


def decide(answers: list[Hashable], agreement: str) -> tuple[Hashable, float] | str:
    """The answer the annotators agree on and its share of them, or the rule that drops it.

    `unanimous`: all answers equal. `majority`: the most common answer, unless tied.
    `any`: like majority, but unusable answers are ignored while one usable answer remains.
    """
    considered = answers
    if agreement == "any" and any(not isinstance(a, Unusable) for a in answers):
        considered = [a for a in answers if not isinstance(a, Unusable)]
    ranked = Counter(considered).most_common()
    (top, votes), rest = ranked[0], ranked[1:]
    if (agreement == "unanimous" and rest) or (rest and rest[0][1] == votes):
        return "disagreement"
    if isinstance(top, Unusable):
        return top.reason
    return top, votes / len(answers)
