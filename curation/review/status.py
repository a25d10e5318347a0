"""How far review of a dataset has got: record progress, annotators, inter-annotator agreement.

A dataset with an overlap sibling (`--overlap-policy adaptive`, curation/review/siblings.py) is
read as one: records, annotators, agreement and conflicts over both parts, and each part's
progress against its own overlap under `parts`.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from typing import Any

import krippendorff
import numpy as np

from curation.argilla.client import review_url
from curation.argilla.usernames import Usernames
from curation.argilla.datasets import require_dataset
from curation.argilla.errors import argilla_errors
from curation.argilla.records import iter_reviewed
from curation.review.priority import annotation_link
from curation.argilla.responses import top_choice
from curation.review.adjudicate import count_conflicts
from curation.review.siblings import parts as dataset_parts

PROGRESS = ("total", "pending", "completed")

# Question types with a measurable agreement, and the level of measurement each takes.
LEVELS = {"rating": "ordinal", "label_selection": "nominal", "ranking": "nominal"}


def review_status(dataset_name: str, workspace: str | None = None, client=None) -> dict:
    """Records total/pending/completed, each annotator's submitted/discarded/draft, and agreement."""
    if client is None:
        from curation.argilla.client import connect

        client = connect()
    dataset = require_dataset(client, dataset_name, workspace)
    parts = dataset_parts(client, dataset)
    with argilla_errors(f"reading the status of dataset {dataset_name!r}"):
        progress = {part.name: part.progress(with_users_distribution=True) for part in parts}
    questions = {q.name: q for q in dataset.settings.questions if q.type in LEVELS}
    submitted = _submitted_values(client, parts, questions)
    usernames = Usernames(client)
    annotators: dict[str, dict[str, int]] = {}
    for counts in progress.values():
        for user, groups in counts.get("users", {}).items():
            mine = annotators.setdefault(user, dict.fromkeys(("submitted", "discarded", "draft"), 0))
            for status in mine:
                mine[status] += sum(groups[group][status] for group in ("completed", "pending"))
    agreement = {}
    for name, question in questions.items():
        by_user = {usernames(user): values for user, values in submitted[name].items()}
        agreement[name] = agreement_for(by_user, LEVELS[question.type], question_domain(question))
        agreement[name]["of"] = "top choice" if question.type == "ranking" else "value"
    base = review_url(client)
    each = [{"dataset": part.name, "min_submitted": part.settings.distribution.min_submitted,
             "records": {k: progress[part.name][k] for k in PROGRESS}, "url": annotation_link(base, part)}
            for part in parts]
    return {
        "dataset": dataset.name,
        "workspace": dataset.workspace.name,
        "min_submitted": dataset.settings.distribution.min_submitted,
        "overlap_warning": overlap_warning(dataset.settings.distribution.min_submitted, [p.name for p in parts[1:]]),
        "records": {k: sum(part["records"][k] for part in each) for k in PROGRESS},
        "parts": each,  # one entry, or the dataset and its overlap sibling
        "annotators": dict(sorted(annotators.items())),
        "conflicts": count_conflicts(client, parts),  # open/resolved (`curate adjudicate`)
        "agreement": agreement,
        "url": each[0]["url"],
    }


def overlap_warning(min_submitted: int, siblings: list[str] = ()) -> str | None:
    """Why agreement cannot be measured at this overlap, or None when it can (`siblings`: the
    overlap part's name, whose records have more annotators)."""
    if min_submitted > 1:
        return None
    if siblings:
        return (f"overlap 1: each record is complete after one annotator, so agreement is measured only on the "
                f"records of the overlap part {siblings[0]!r}")
    return ("overlap 1: each record is complete after one annotator, so agreement cannot be measured; "
            "push to a new dataset with --overlap 2 or more")


def _submitted_values(client, parts: list, questions: dict) -> dict[str, dict[str, dict[str, Any]]]:
    """question -> user id -> record id -> the value the user submitted (drafts don't count), over
    every part (a record is in one part only)."""
    values: dict[str, dict[str, dict[str, Any]]] = {name: defaultdict(dict) for name in questions}
    for record in (r for part in parts for r in iter_reviewed(client, part.id)):
        for review in record.submitted:
            for name, value in review.values.items():
                if name in questions and value is not None:
                    if questions[name].type == "ranking":
                        value = top_choice(value)
                    values[name][review.user_id][record.id] = value
    return values


def question_domain(question) -> list | None:
    """The values a rating or label question allows; None for a ranking (its top choices as seen)."""
    if question.type == "rating":
        return sorted(question.values)
    if question.type == "label_selection":
        return list(question.labels)
    return None  # ranking top choices: the categories seen


def agreement_for(by_user: dict[str, dict[str, Any]], level: str, domain: list | None = None) -> dict:
    """Krippendorff's alpha over the records two or more annotators submitted (None if undefined)."""
    tally, units = AgreementTally(level, domain), {}
    for user, values in by_user.items():
        for unit, value in values.items():
            tally.add(units.setdefault(unit, len(units)), user, value)
    return tally.result()


class AgreementTally:
    """Krippendorff's alpha gathered one value at a time: (unit number, user, value) in three flat
    arrays, so a report streaming 100k records keeps a few bytes per answer, not a dict per user."""

    def __init__(self, level: str, domain: list | None = None):
        self.level, self.domain = level, domain
        self._users: dict[str, int] = {}
        self._values: dict[Any, int] = {}  # value -> its code (first seen first)
        self._unit, self._user, self._code = array("q"), array("q"), array("q")

    def add(self, unit: int, user: str, value: Any) -> None:
        """`user`'s value for unit number `unit` (a record); one value per user and unit."""
        self._unit.append(unit)
        self._user.append(self._users.setdefault(user, len(self._users)))
        self._code.append(self._values.setdefault(value, len(self._values)))

    def result(self) -> dict:
        users = sorted(self._users)
        unit, user, code = (np.frombuffer(a, dtype=np.int64) for a in (self._unit, self._user, self._code))
        units, column, per_unit = np.unique(unit, return_inverse=True, return_counts=True)
        paired = per_unit >= 2  # units two or more users gave a value for
        result = {"level": self.level, "alpha": None, "annotators": len(users), "records": int(paired.sum())}
        keep = paired[column]
        values = list(self._values)
        seen = {values[c] for c in np.unique(code[keep])}
        if len(seen) < 2:
            return result  # nothing to compare, or everyone always gave the same value: alpha is undefined
        domain = self.domain or []
        if self.level == "nominal":
            categories = [c for c in domain if c in seen] + sorted(seen - set(domain), key=str)
            coded = {c: i for i, c in enumerate(categories)}
            domain_codes = list(range(len(categories)))
        else:
            coded = {v: v for v in seen}
            domain_codes = sorted(set(domain) | seen)
        as_number = np.array([coded.get(v, np.nan) for v in values], dtype=float)
        matrix = np.full((len(self._users), len(units)), np.nan)
        matrix[user[keep], column[keep]] = as_number[code[keep]]
        matrix = matrix[:, paired][[self._users[u] for u in users]]
        alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement=self.level, value_domain=domain_codes)
        result["alpha"] = None if math.isnan(alpha) else round(float(alpha), 4)
        return result


def render_status(report: dict, console=None) -> None:
    """Print the status as rich tables."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    records = report["records"]
    done = records["completed"] / records["total"] if records["total"] else 0.0
    # Names come from the server (anyone who may create a dataset or user picks them): escaped,
    # so that "[/]" in one prints as itself instead of failing rich's markup parser.
    parts = report.get("parts") or []
    if len(parts) > 1:
        console.print(
            f"[bold]{escape(report['dataset'])}[/] (workspace {escape(report['workspace'])}): "
            f"{records['completed']} of {records['total']} records complete ({done:.0%}), {records['pending']} "
            f"pending, in {len(parts)} parts (adaptive overlap):"
        )
        for part in parts:
            counts = part["records"]
            share = counts["completed"] / counts["total"] if counts["total"] else 0.0
            console.print(f"  {escape(part['dataset'])}: overlap {part['min_submitted']}: {counts['completed']} of "
                          f"{counts['total']} records complete ({share:.0%}), {counts['pending']} pending")
    else:
        console.print(
            f"[bold]{escape(report['dataset'])}[/] (workspace {escape(report['workspace'])}): "
            f"overlap {report['min_submitted']}: {records['completed']} of {records['total']} records complete "
            f"({done:.0%}), {records['pending']} pending"
        )
    if report.get("overlap_warning"):
        console.print(f"[yellow]Warning: {report['overlap_warning']}[/]")
    people = Table(title="Annotators")
    for column in ("annotator", "submitted", "discarded", "draft"):
        people.add_column(column, justify="left" if column == "annotator" else "right")
    for user, counts in report["annotators"].items():
        people.add_row(escape(user), *(str(counts[k]) for k in ("submitted", "discarded", "draft")))
    if not report["annotators"]:
        people.add_row("(no responses yet)", "", "", "")
    console.print(people)
    agree = Table(title="Inter-annotator agreement (Krippendorff's alpha, submitted responses)")
    for column in ("question", "level", "alpha", "records", "annotators"):
        agree.add_column(column, justify="left" if column in ("question", "level") else "right")
    for name, a in report["agreement"].items():
        alpha = "n/a" if a["alpha"] is None else f"{a['alpha']:.3f}"
        level = a["level"] + (f" ({a['of']})" if a.get("of", "value") != "value" else "")
        agree.add_row(escape(name), escape(level), alpha, str(a["records"]), str(a["annotators"]))
    console.print(agree)
    conflicts = report.get("conflicts")
    if conflicts is not None:
        where = (f"adjudication dataset {escape(conflicts['dataset'])}" if conflicts["dataset"]
                 else "`curate adjudicate` sends them to reviewers")
        console.print(f"Conflicts between annotators: {conflicts['open']} open, {conflicts['resolved']} resolved ({where})")
    if report.get("url"):
        console.print(f"Review it at {escape(report['url'])}", soft_wrap=True)
    for part in parts[1:]:
        console.print(f"Review its overlap part at {escape(part['url'])}", soft_wrap=True)
