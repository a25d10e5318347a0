"""AI feedback against what humans did, so a lead sees whether the judge or the model can be trusted.

- preference: does the judge choose the response humans choose (its ranking suggestion's first
  place against the majority of the submitted rankings' first places), and how do its ratings
  compare with the humans' (a confusion table, judge rows by human columns);
- sft: how much annotators changed the model's suggested response (share edited, and a
  normalized edit distance: the characters inserted and deleted to turn one text into the other,
  over both texts' length (rapidfuzz's Indel distance: 1 - 2·LCS/(|a|+|b|)), 0 unchanged, 1 nothing
  in common).

Both are broken down by recipe and by model (the judge for preference) from record metadata.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields

from rapidfuzz.distance import Indel

from curation import contract as c
from curation.argilla.responses import top_choice
from curation.report.read import RecordView

UNKNOWN = "(unknown)"  # a record without that metadata


def share(part: float, whole: float) -> float | None:
    """part / whole rounded to 4 places; None when there is nothing to divide."""
    return round(part / whole, 4) if whole else None


def feedback_tally(kind: str | None, questions: dict):
    """The AI-feedback section's tally for a dataset of `kind` (None: a dataset push did not make)."""
    if kind == "preference":
        return JudgeTallies(questions)
    if kind == "sft":
        return ResponseEdits()
    return None


def edit_distance(suggested: str, final: str) -> float:
    """Normalized edit distance of two texts (ends' whitespace ignored): characters inserted and
    deleted over both lengths (Indel). The exact measure difflib's ratio only approximates, and in
    C++: difflib took a minute of CPU over 10k edited responses of 120 words (issue 26)."""
    return Indel.normalized_distance(suggested.strip(), final.strip())


def majority(choices: list[str]) -> str | None:
    """The choice most annotators made; None when the most common ones tie."""
    ranked = Counter(choices).most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


@dataclass(slots=True)  # a round keeps one per preference record until its examples are known
class JudgeTally:
    """Tallies of the judge against humans for one group of records."""

    records: int = 0  # records with a judge's choice and a human majority
    agreed: int = 0
    humans_split: int = 0  # records whose annotators' first places tie
    pairs: int = 0  # (judge rating, submitted rating) pairs
    exact: int = 0
    difference: int = 0  # sum of human - judge
    distance: int = 0  # sum of |human - judge|

    def __iadd__(self, other: "JudgeTally") -> "JudgeTally":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def __isub__(self, other: "JudgeTally") -> "JudgeTally":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) - getattr(other, f.name))
        return self

    def figures(self) -> dict:
        return {
            "records": self.records, "agreed": self.agreed, "share": share(self.agreed, self.records),
            "humans_split": self.humans_split, "rating_pairs": self.pairs,
            "rating_share_exact": share(self.exact, self.pairs),
        }


def judge_ratings(questions: dict) -> list[str]:
    """The rating questions the judge's suggestions answer (rating_1, rating_2, ...)."""
    return [name for name, q in questions.items() if q.type == "rating" and name.startswith("rating_")]


def judge_delta(record: RecordView, ratings: list[str]) -> tuple[JudgeTally, list[tuple]]:
    """One record's tally of the judge against humans, and its (judge, human) rating pairs."""
    delta, pairs = JudgeTally(), []
    judge = record.suggestions.get(c.RANKING)
    tops = [top_choice(a.values[c.RANKING]) for a in record.submitted if a.values.get(c.RANKING)]
    if judge and tops:
        human = majority(tops)
        if human is None:
            delta.humans_split += 1
        else:
            delta.records += 1
            delta.agreed += human == top_choice(judge)
    for name in ratings:
        suggested = record.suggestions.get(name)
        for answer in record.submitted if suggested is not None else ():
            given = answer.values.get(name)
            if given is None:
                continue
            pairs.append((suggested, given))
            delta.pairs += 1
            delta.exact += given == suggested
            delta.difference += given - suggested
            delta.distance += abs(given - suggested)
    return delta, pairs


class JudgeTallies:
    """The judge against humans (preference datasets): overall, a (judge, human) rating Counter, and by
    recipe and judge model, gathered record by record."""

    def __init__(self, questions: dict):
        self.ratings = judge_ratings(questions)
        self.scale = sorted({v for name in self.ratings for v in questions[name].values})
        self.overall = JudgeTally()
        self.confusion: Counter = Counter()
        self.groups: dict[str, dict[str, JudgeTally]] = {c.META_RECIPE: {}, c.META_JUDGE_MODEL: {}}

    def add(self, record: RecordView) -> None:
        delta, pairs = judge_delta(record, self.ratings)
        self.confusion.update(pairs)
        for tally in (self.overall, *(_group(self.groups, key, record, JudgeTally) for key in self.groups)):
            tally += delta

    def result(self) -> dict:
        overall, scale = self.overall, self.scale
        return {
            "kind": "preference",
            "chosen": {k: overall.figures()[k] for k in ("records", "agreed", "share", "humans_split")},
            "ratings": {
                "scale": scale,
                "pairs": overall.pairs,
                "exact": overall.exact,
                "share_exact": share(overall.exact, overall.pairs),
                "mean_abs_difference": share(overall.distance, overall.pairs),
                "mean_human_minus_judge": share(overall.difference, overall.pairs),
                "confusion": [[self.confusion[j, h] for h in scale] for j in scale],  # rows: judge, columns: human
            },
            "by": _figures_by_group(self.groups),
        }


@dataclass
class _Edits:
    """Tallies of annotators' edits of suggested responses for one group of records."""

    responses: int = 0
    edited: int = 0
    distance: float = 0.0

    def figures(self) -> dict:
        return {
            "responses": self.responses, "edited": self.edited, "share_edited": share(self.edited, self.responses),
            "mean_distance": share(self.distance, self.responses),
            "mean_distance_edited": share(self.distance, self.edited),
        }


class ResponseEdits:
    """How much annotators changed the suggested responses (sft datasets), record by record."""

    def __init__(self):
        self.overall = _Edits()
        self.groups: dict[str, dict[str, _Edits]] = {c.META_RECIPE: {}, c.META_MODEL: {}}

    def add(self, record: RecordView) -> None:
        suggested = record.suggestions.get(c.RESPONSE)
        if not isinstance(suggested, str):
            return
        tallies = [self.overall, *(_group(self.groups, key, record, _Edits) for key in self.groups)]
        for answer in record.submitted:
            final = answer.values.get(c.RESPONSE)
            if not isinstance(final, str):
                continue
            distance = edit_distance(suggested, final)
            for tally in tallies:
                tally.responses += 1
                tally.edited += distance > 0
                tally.distance += distance

    def result(self) -> dict:
        return {"kind": "sft", **self.overall.figures(), "by": _figures_by_group(self.groups)}


def _group(groups: dict, key: str, record: RecordView, tally_type: type):
    """The tally of `record`'s group under metadata `key` (a list-valued key joins its values)."""
    value = record.metadata.get(key)
    if isinstance(value, list):
        label = ", ".join(map(str, value)) or UNKNOWN
    else:
        label = UNKNOWN if value in (None, "") else str(value)
    return groups[key].setdefault(label, tally_type())


def _figures_by_group(groups: dict) -> dict:
    return {key: {label: tally.figures() for label, tally in sorted(tallies.items())} for key, tallies in groups.items()}
