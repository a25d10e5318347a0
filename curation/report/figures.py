"""The report's numbers: review progress, annotators, agreement and rating distributions.

Each section is a tally fed one record at a time (`add`) and read once (`result`), so the report
streams a dataset instead of holding it; `FigureTally` feeds every section (the AI feedback comes
from `feedback`, the batches from `batches`) and assembles them into JSON-ready values, and
`compute_figures` does the same over a `DatasetView`'s records.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from curation.argilla.responses import top_choice
from curation.report.batches import BatchCounts
from curation.report.feedback import feedback_tally, share
from curation.report.read import DONE, DatasetView, RecordView
# `curate status` computes agreement; the report must show the very same alpha.
from curation.review.status import LEVELS, AgreementTally, question_domain

CURVE_POINTS = 200  # the progress curve keeps at most this many points
MIN_SPAN = dt.timedelta(minutes=1)  # shorter activity gives no meaningful hourly rate
BREAK = dt.timedelta(minutes=10)  # a longer gap between one annotator's reviews is a pause, not review time


def compute_figures(view: DatasetView, now: dt.datetime | None = None) -> dict:
    """Every figure of the report over `view`'s records (`FigureTally` fed each of them)."""
    tally = FigureTally(view.questions, view.kind)
    for record in view.records:
        tally.add(record)
    return tally.figures(view, now)


class FigureTally:
    """Every figure of the report gathered record by record, so that the report reads a dataset in
    one streamed pass: each section keeps counters, or a few bytes per review (the progress curve,
    agreement), never the records."""

    def __init__(self, questions: dict[str, Any], kind: str | None):
        self.counts = RecordCounts()
        self.progress = Progress()
        self.annotators = Annotators()
        self.agreement = Agreement(questions)
        self.ratings = Ratings(questions)
        self.feedback = feedback_tally(kind, questions)
        self.batches = BatchCounts()
        self._sections = [s for s in (self.counts, self.progress, self.annotators, self.agreement, self.ratings,
                                      self.feedback, self.batches) if s is not None]

    def add(self, record: RecordView) -> None:
        for section in self._sections:
            section.add(record)

    def figures(self, view: DatasetView, now: dt.datetime | None = None) -> dict:
        """The report's figures; `view` names the dataset (its records need not be there)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        return {
            "dataset": view.name,
            "workspace": view.workspace,
            "kind": view.kind,
            "generated_at": _iso(now),
            "records": self.counts.result(),
            "progress": self.progress.result(),
            "annotators": self.annotators.result(),
            "agreement": self.agreement.result(),
            "ratings": self.ratings.result(),
            "ai_feedback": self.feedback.result() if self.feedback is not None else None,
            "batches": self.batches.result(),
        }


class RecordCounts:
    def __init__(self):
        self.total = self.submitted = self.discarded_only = 0

    def add(self, record: RecordView) -> None:
        self.total += 1
        if record.submitted:
            self.submitted += 1
        elif any(a.status == "discarded" for a in record.answers):
            self.discarded_only += 1

    def result(self) -> dict[str, int]:
        return {"total": self.total, "submitted": self.submitted, "discarded_only": self.discarded_only,
                "not_reviewed": self.total - self.submitted - self.discarded_only}


class Progress:
    """Reviews (submitted or discarded responses) over time: per UTC day, and a cumulative curve.

    Each review is kept as 9 bytes (its time as a POSIX float, submitted or not) until the end."""

    def __init__(self):
        self._times, self._submitted = array("d"), bytearray()

    def add(self, record: RecordView) -> None:
        for answer in record.answers:
            if answer.status in DONE:
                self._times.append(answer.updated_at.timestamp())
                self._submitted.append(answer.status == "submitted")

    def result(self) -> dict:
        times = np.frombuffer(self._times, dtype=np.float64)
        order = np.argsort(times, kind="stable")
        times, submitted = times[order], np.frombuffer(bytes(self._submitted), dtype=np.uint8)[order].astype(bool)
        n = len(times)
        days = (times // 86400).astype(np.int64)
        by_day = []
        for day in np.unique(days):
            mask = days == day
            yes = int(submitted[mask].sum())
            by_day.append({"day": _day(int(day)), "submitted": yes, "discarded": int(mask.sum()) - yes})
        if n <= CURVE_POINTS:
            picks = range(n)
        else:  # evenly spaced by count, always ending on the last review
            picks = sorted({round(i * (n - 1) / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)})
        return {
            "reviews": n,
            "first": _iso(_when(times[0])) if n else None,
            "last": _iso(_when(times[-1])) if n else None,
            "by_day": by_day,
            "curve": [[_iso(_when(times[i])), i + 1] for i in picks],
        }


class Annotators:
    """Per annotator: submitted, discarded, draft; share of discards; reviews per active hour; and the
    time spent reviewing (`active_seconds`), from the times their reviews were finished."""

    def __init__(self):
        self._counts: dict[str, Counter] = defaultdict(Counter)
        self._first: dict[str, dt.datetime] = {}
        self._done: dict[str, array] = defaultdict(lambda: array("d"))  # 8 bytes a review

    def add(self, record: RecordView) -> None:
        for a in record.answers:
            self._counts[a.user][a.status] += 1
            if a.user not in self._first or a.inserted_at < self._first[a.user]:
                self._first[a.user] = a.inserted_at
            if a.status in DONE:
                self._done[a.user].append(a.updated_at.timestamp())

    def result(self) -> dict[str, dict]:
        result = {}
        for user in sorted(self._counts):
            counts = self._counts[user]
            done = counts["submitted"] + counts["discarded"]
            times = np.sort(np.frombuffer(self._done[user], dtype=np.float64)) if done else None
            first, last = self._first[user], _when(times[-1]) if done else None
            span = (last - first) if last else None
            result[user] = {
                "submitted": counts["submitted"],
                "discarded": counts["discarded"],
                "draft": counts["draft"],
                "discard_share": share(counts["discarded"], done),
                "first": _iso(first),
                "last": _iso(last) if last else None,
                # From the first response opened to the last one finished; None when that is too short to say.
                "per_hour": round(done / (span.total_seconds() / 3600), 2) if span and span >= MIN_SPAN else None,
                "active_seconds": active_seconds(times) if done else None,
            }
        return result


def active_seconds(times: np.ndarray) -> float | None:
    """Time spent reviewing, from the sorted times one annotator finished reviews: each gap between two
    reviews up to BREAK counts whole, a longer one is a break (not counted), and each session's first
    review counts as the median counted gap. None when no two reviews are within BREAK of each other."""
    gaps = np.diff(times)
    working = gaps[gaps <= BREAK.total_seconds()]
    if not len(working):
        return None
    sessions = 1 + int((gaps > BREAK.total_seconds()).sum())
    return round(float(working.sum() + sessions * np.median(working)), 1)


class Agreement:
    """Krippendorff's alpha per rating, label and ranking question, exactly as `curate status` gives it
    (the same `AgreementTally`); a record is one unit."""

    def __init__(self, questions: dict[str, Any]):
        self._questions = {name: q for name, q in questions.items() if q.type in LEVELS}
        self._tallies = {name: AgreementTally(LEVELS[q.type], question_domain(q)) for name, q in self._questions.items()}
        self._units = 0

    def add(self, record: RecordView) -> None:
        unit, self._units = self._units, self._units + 1
        for name, question in self._questions.items():
            for answer in record.submitted:
                value = answer.values.get(name)
                if value is not None:
                    self._tallies[name].add(unit, answer.user, top_choice(value) if question.type == "ranking" else value)

    def result(self) -> dict[str, dict]:
        return {name: {**tally.result(), "of": "top choice" if self._questions[name].type == "ranking" else "value"}
                for name, tally in self._tallies.items()}


class Ratings:
    """Per rating question: how often each value was submitted, and suggested by the AI (None: never)."""

    def __init__(self, questions: dict[str, Any]):
        self._scales = {name: sorted(q.values) for name, q in questions.items() if q.type == "rating"}
        self._human = {name: Counter() for name in self._scales}
        self._judge = {name: Counter() for name in self._scales}

    def add(self, record: RecordView) -> None:
        for name in self._scales:
            for answer in record.submitted:
                self._human[name][answer.values.get(name)] += 1
            if record.suggestions.get(name) is not None:
                self._judge[name][record.suggestions[name]] += 1

    def result(self) -> dict[str, dict]:
        return {name: {"scale": scale, "human": [self._human[name][v] for v in scale],
                       "judge": [self._judge[name][v] for v in scale] if self._judge[name] else None}
                for name, scale in self._scales.items()}


def _when(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(timestamp), dt.timezone.utc)


def _day(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
