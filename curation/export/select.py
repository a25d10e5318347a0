"""The export policy: which records humans validated, and which answer they agree on.

Policy, per record (drafts never count):

- `discarded`: under `unanimous` any discard drops the record; under `majority` it drops when
  discards are at least as many as submissions; under `any` one submission outweighs discards.
- `too_few_submitted`: fewer than `min_submitted` annotators submitted it.
- The submitted answers are then resolved by `decide` (in `formats`, per export format).

A record settled by adjudication (`curate adjudicate`) skips these rules: the reviewers' answer is
the gold one (`adjudicated_answer`), and a reviewer's discard drops the record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, fields

from curation.argilla.responses import Reviewed
from curation.errors import BadInput

AGREEMENTS = ("majority", "unanimous", "any")


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
    contaminated: int = 0  # `curate export --decontaminate`: shares an n-gram with a benchmark
    exported: int = 0
    adjudicated: int = 0  # of the exported, those whose answer a reviewer gave (not a drop rule)

    def drop(self, rule: str) -> None:
        setattr(self, rule, getattr(self, rule) + 1)

    def dropped(self) -> dict[str, int]:
        """Drops by rule, in the order the rules apply."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("seen", "exported", "adjudicated")}


class NothingToExport(BadInput):
    """The policy selected no record; nothing was written or pushed."""


def check_policy(agreement: str, min_submitted: int | None) -> None:
    if agreement not in AGREEMENTS:
        raise BadInput(f"unknown agreement {agreement!r}; choose one of {', '.join(AGREEMENTS)}")
    if min_submitted is not None and min_submitted < 1:
        raise BadInput(f"min_submitted must be at least 1, got {min_submitted}")


def default_min_submitted(settings) -> int:
    """Submitted reviews a record needs when --min-submitted is not given: the dataset's task
    distribution (Argilla's own completion rule), else 1."""
    return settings.distribution.min_submitted if settings.distribution else 1


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


def adjudicated_answer(adjudication: Reviewed, votes: list[Hashable], agreement: str) -> Hashable | None:
    """The answer the reviewers of an adjudication record give (`votes`, one per submitted review),
    `Unusable("discarded")` when they discarded it, or None when they have not settled it (the
    agreement rule then decides as if there were no adjudication)."""
    rule = admit(adjudication, agreement=agreement, min_submitted=1)
    if rule is not None:
        return Unusable(rule) if rule == "discarded" else None
    decision = decide(votes, agreement)
    return None if isinstance(decision, str) else decision[0]
