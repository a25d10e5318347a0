"""The report's numbers: review progress, annotators, agreement and rating distributions.

Pure functions over a `DatasetView`; `compute_figures` assembles every section (the AI
feedback comes from `feedback`, the batches from `batches`) into JSON-ready values.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from curation.argilla.responses import top_choice
from curation.report.batches import batches_behind
from curation.report.feedback import ai_feedback, share
from curation.report.read import DONE, DatasetView, RecordView
# `curate status` computes agreement; the report must show the very same alpha.
from curation.review.status import LEVELS, agreement_for, question_domain

CURVE_POINTS = 200  # the progress curve keeps at most this many points
MIN_SPAN = dt.timedelta(minutes=1)  # shorter activity gives no meaningful hourly rate


def compute_figures(view: DatasetView, now: dt.datetime | None = None) -> dict:
    """Every figure of the report."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return {
        "dataset": view.name,
        "workspace": view.workspace,
        "kind": view.kind,
        "generated_at": _iso(now),
        "records": record_counts(view.records),
        "progress": progress(view.records),
        "annotators": annotators(view.records),
        "agreement": agreement(view),
        "ratings": rating_distributions(view),
        "ai_feedback": ai_feedback(view),
        "batches": batches_behind(view.records),
    }


def record_counts(records: list[RecordView]) -> dict[str, int]:
    """Records in all; with a submitted review; only discarded; not reviewed yet (drafts at most)."""
    submitted = sum(bool(r.submitted) for r in records)
    discarded_only = sum(not r.submitted and any(a.status == "discarded" for a in r.answers) for r in records)
    return {"total": len(records), "submitted": submitted, "discarded_only": discarded_only,
            "not_reviewed": len(records) - submitted - discarded_only}


def progress(records: list[RecordView]) -> dict:
    """Reviews (submitted or discarded responses) over time: per UTC day, and a cumulative curve."""
    done = sorted((a.updated_at, a.status) for r in records for a in r.answers if a.status in DONE)
    days: dict[str, Counter] = defaultdict(Counter)
    for when, status in done:
        days[when.date().isoformat()][status] += 1
    by_day = [{"day": day, "submitted": days[day]["submitted"], "discarded": days[day]["discarded"]}
              for day in sorted(days)]
    if len(done) <= CURVE_POINTS:
        picks = range(len(done))
    else:  # evenly spaced by count, always ending on the last review
        picks = sorted({round(i * (len(done) - 1) / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)})
    return {
        "reviews": len(done),
        "first": _iso(done[0][0]) if done else None,
        "last": _iso(done[-1][0]) if done else None,
        "by_day": by_day,
        "curve": [[_iso(done[i][0]), i + 1] for i in picks],
    }


def annotators(records: list[RecordView]) -> dict[str, dict]:
    """Per annotator: submitted, discarded, draft; share of discards; reviews per active hour."""
    answers: dict[str, list] = defaultdict(list)
    for record in records:
        for answer in record.answers:
            answers[answer.user].append(answer)
    result = {}
    for user in sorted(answers):
        counts = Counter(a.status for a in answers[user])
        done = [a for a in answers[user] if a.status in DONE]
        first = min(a.inserted_at for a in answers[user])
        last = max((a.updated_at for a in done), default=None)
        span = (last - first) if last else None
        result[user] = {
            "submitted": counts["submitted"],
            "discarded": counts["discarded"],
            "draft": counts["draft"],
            "discard_share": share(counts["discarded"], len(done)),
            "first": _iso(first),
            "last": _iso(last) if last else None,
            # From the first response opened to the last one finished; None when that is too short to say.
            "per_hour": round(len(done) / (span.total_seconds() / 3600), 2) if span and span >= MIN_SPAN else None,
        }
    return result


def agreement(view: DatasetView) -> dict[str, dict]:
    """Krippendorff's alpha per rating, label and ranking question, exactly as `curate status` gives it."""
    result = {}
    for name, question in view.questions.items():
        if question.type not in LEVELS:
            continue
        by_user: dict[str, dict[str, Any]] = defaultdict(dict)
        for record in view.records:
            for answer in record.submitted:
                value = answer.values.get(name)
                if value is not None:
                    by_user[answer.user][record.id] = top_choice(value) if question.type == "ranking" else value
        result[name] = agreement_for(dict(by_user), LEVELS[question.type], question_domain(question))
        result[name]["of"] = "top choice" if question.type == "ranking" else "value"
    return result


def rating_distributions(view: DatasetView) -> dict[str, dict]:
    """Per rating question: how often each value was submitted, and suggested by the AI (None: never)."""
    result = {}
    for name, question in view.questions.items():
        if question.type != "rating":
            continue
        scale = sorted(question.values)
        human = Counter(a.values.get(name) for r in view.records for a in r.submitted)
        judge = Counter(r.suggestions[name] for r in view.records if r.suggestions.get(name) is not None)
        result[name] = {
            "scale": scale,
            "human": [human[v] for v in scale],
            "judge": [judge[v] for v in scale] if judge else None,
        }
    return result


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
