"""AI feedback against what humans did, so a lead sees whether the judge or the model can be trusted.

- preference: does the judge choose the response humans choose (its ranking suggestion's first
  place against the majority of the submitted rankings' first places), and how do its ratings
  compare with the humans' (a confusion table, judge rows by human columns);
- sft: how much annotators changed the model's suggested response (share edited, and a
  normalized edit distance: 1 - difflib's similarity ratio, 0 unchanged, 1 nothing in common).

Both are broken down by recipe and by model (the judge for preference) from record metadata.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass

from curation import contract as c
from curation.argilla.responses import top_choice
from curation.report.read import DatasetView, RecordView

UNKNOWN = "(unknown)"  # a record without that metadata


def share(part: float, whole: float) -> float | None:
    """part / whole rounded to 4 places; None when there is nothing to divide."""
    return round(part / whole, 4) if whole else None


def ai_feedback(view: DatasetView) -> dict | None:
    if view.kind == "preference":
        return judge_vs_humans(view)
    if view.kind == "sft":
        return response_edits(view)
    return None


def edit_distance(suggested: str, final: str) -> float:
    """Normalized edit distance of two texts (ends' whitespace ignored): 1 - difflib's ratio."""
    a, b = suggested.strip(), final.strip()
    if a == b:
        return 0.0
    return 1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def majority(choices: list[str]) -> str | None:
    """The choice most annotators made; None when the most common ones tie."""
    ranked = Counter(choices).most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


@dataclass
class JudgeTally:
    """Tallies of the judge against humans for one group of records."""

    records: int = 0  # records with a judge's choice and a human majority
    agreed: int = 0
    humans_split: int = 0  # records whose annotators' first places tie
    pairs: int = 0  # (judge rating, submitted rating) pairs
    exact: int = 0
    difference: int = 0  # sum of human - judge
    distance: int = 0  # sum of |human - judge|

    def figures(self) -> dict:
        return {
            "records": self.records, "agreed": self.agreed, "share": share(self.agreed, self.records),
            "humans_split": self.humans_split, "rating_pairs": self.pairs,
            "rating_share_exact": share(self.exact, self.pairs),
        }


def judge_vs_humans(view: DatasetView) -> dict:
    ratings = [name for name, q in view.questions.items() if q.type == "rating" and name.startswith("rating_")]
    scale = sorted({v for name in ratings for v in view.questions[name].values})
    overall, confusion, groups = judge_tallies(view)
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
            "confusion": [[confusion[j, h] for h in scale] for j in scale],  # rows: judge, columns: human
        },
        "by": _figures_by_group(groups),
    }


def judge_tallies(view: DatasetView) -> tuple[JudgeTally, Counter, dict[str, dict[str, JudgeTally]]]:
    """The judge against humans over `view`'s records: overall, a (judge, human) rating Counter, and by group."""
    ratings = [name for name, q in view.questions.items() if q.type == "rating" and name.startswith("rating_")]
    confusion: Counter = Counter()
    overall = JudgeTally()
    groups: dict[str, dict[str, JudgeTally]] = {c.META_RECIPE: {}, c.META_JUDGE_MODEL: {}}
    for record in view.records:
        tallies = [overall, *(_group(groups, key, record, JudgeTally) for key in groups)]
        judge = record.suggestions.get(c.RANKING)
        tops = [top_choice(a.values[c.RANKING]) for a in record.submitted if a.values.get(c.RANKING)]
        if judge and tops:
            human = majority(tops)
            for tally in tallies:
                if human is None:
                    tally.humans_split += 1
                else:
                    tally.records += 1
                    tally.agreed += human == top_choice(judge)
        for name in ratings:
            suggested = record.suggestions.get(name)
            for answer in record.submitted if suggested is not None else ():
                given = answer.values.get(name)
                if given is None:
                    continue
                confusion[suggested, given] += 1
                for tally in tallies:
                    tally.pairs += 1
                    tally.exact += given == suggested
                    tally.difference += given - suggested
                    tally.distance += abs(given - suggested)
    return overall, confusion, groups


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


def response_edits(view: DatasetView) -> dict:
    overall = _Edits()
    groups: dict[str, dict[str, _Edits]] = {c.META_RECIPE: {}, c.META_MODEL: {}}
    for record in view.records:
        suggested = record.suggestions.get(c.RESPONSE)
        if not isinstance(suggested, str):
            continue
        tallies = [overall, *(_group(groups, key, record, _Edits) for key in groups)]
        for answer in record.submitted:
            final = answer.values.get(c.RESPONSE)
            if not isinstance(final, str):
                continue
            distance = edit_distance(suggested, final)
            for tally in tallies:
                tally.responses += 1
                tally.edited += distance > 0
                tally.distance += distance
    return {"kind": "sft", **overall.figures(), "by": _figures_by_group(groups)}


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
