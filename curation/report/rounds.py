"""The rounds view of `curate report`: did closing the loop make review cheaper, round after round?

A round is one reviewed dataset. The round before it is the dataset a batch behind its records was
seeded from (`--seeds argilla:DATASET`: the manifest's `parent.dataset`), found through the
records' `batch_id` metadata and those batches' lineage (`curation.batch.lineage`); the walk
repeats from there until a dataset has no such parent, or that parent is gone (a note says so).

Per round:
- `reviewed`: records with at least one submitted or discarded response;
- `admitted`: records the export policy admits (export's own `admitted_records`, its defaults:
  majority agreement, each record's own dataset's min_submitted (a dataset pushed with
  --overlap-policy adaptive counts its overlap part too), adjudications first); `acceptance` = admitted / reviewed;
- sft: `edited_share`, the share of admitted rows whose response the annotators changed (export's
  `edited` column), and `mean_edit_distance` over those rows: the normalized edit distance
  between the proposal and the final text, as the report's AI feedback section measures it
  (0 unchanged, 1 nothing in common), not a count of characters;
- preference: `judge_agreement_chosen`, the share of records where the judge's first place is the
  humans' majority first place, and `judge_agreement_ratings`, the share of (rating question,
  submitted answer) pairs where the human's rating equals the judge's: the AI feedback section's
  `chosen.share` and `ratings.share_exact`, computed on the records that are not examples.

Records a manifest names as examples (`judge_examples` or `examples`: record ids, as a list or
under `record_ids`) were shown to the judge or the model; they are held out of the agreement figures.
"""

from __future__ import annotations

import dataclasses

from curation import contract as c
from curation.batch import Batch, find_batch, lineage
from curation.errors import BadInput, BatchNotFound
from curation.report.batches import BatchFinder
from curation.report.feedback import JudgeTally, edit_distance, judge_delta, judge_ratings, share
from curation.report.read import DONE, DatasetView, RecordView, scan_dataset

EXAMPLE_KEYS = ("judge_examples", "examples")
_FORMAT_OF_KIND = {"sft": "sft", "preference": "dpo"}  # the export format that admits a kind's records


@dataclasses.dataclass
class _Links:
    """What the batches behind one dataset say: the datasets they were seeded from, the example
    record ids their manifests name, and the batch ids not on this machine."""

    parents: list[dict] = dataclasses.field(default_factory=list)  # {"dataset", "workspace"} of each, once
    examples: set[str] = dataclasses.field(default_factory=set)
    missing: list[str] = dataclasses.field(default_factory=list)


class RoundTally:
    """One round's figures gathered record by record, in the same pass as the report's (a visitor of
    `scan_dataset`): records reviewed, the export policy's admitted records and their edits, the judge
    against humans, and the batch ids behind the records.

    For preference datasets each record's judge tally is kept (a few ints) until the examples to hold
    out are known: they are named by the batches behind this round and later ones."""

    def __init__(self, client, view: DatasetView):
        from curation.export.formats import FORMATS
        from curation.export.select import Counts

        self.client, self.view = client, view
        self.fmt = FORMATS[_FORMAT_OF_KIND[view.kind]] if view.kind in _FORMAT_OF_KIND else None
        self.ratings = judge_ratings(view.questions)
        self.reviewed = self.admitted = self.edited = 0
        self.distance = 0.0
        self.judge = JudgeTally()
        self.judged: dict[str, JudgeTally] = {}  # record id -> its judge tally (preference)
        self.batch_ids: set[str] = set()
        self.ids: set[str] = set()  # to count the examples held out
        self.counts = Counts()
        self._parts: dict[str, object] = {}  # part id -> export's Part (min_submitted, adjudications)

    def add(self, record: RecordView, reviewed, part) -> None:
        from curation.export.run import admitted_row

        self.reviewed += any(a.status in DONE for a in record.answers)
        self.ids.add(record.id)
        if record.metadata.get(c.META_BATCH_ID):
            self.batch_ids.add(str(record.metadata[c.META_BATCH_ID]))
        if self.fmt is not None:
            info = self._part(part)
            row = admitted_row(reviewed, self.fmt, "majority", info.min_submitted, self.counts, info.settled,
                               usernames=str)
            if row is not None:
                self.admitted += 1
                if self.view.kind == "sft":
                    self.edited += bool(row["edited"])
                    self.distance += edit_distance(str(reviewed.fields.get(c.GENERATED_RESPONSE) or ""),
                                                   row["messages"][-1]["content"])
        if self.view.kind == "preference":
            delta, _ = judge_delta(record, self.ratings)
            self.judge += delta
            if delta != JudgeTally():
                self.judged[record.id] = delta

    def _part(self, part):
        """The export's view of `part` (each part counts against its own min_submitted and adjudications)."""
        key = str(part.id)
        if key not in self._parts:
            from curation.export.run import Part, adjudications
            from curation.export.select import default_min_submitted

            self._parts[key] = Part(part.name, part.id, default_min_submitted(part.settings),
                                    adjudications(self.client, part))
        return self._parts[key]

    def figures(self, examples: set[str]) -> dict:
        """The round's figures, the records in `examples` held out of the judge's; figures that do not apply
        to its kind are None."""
        view, admitted = self.view, self.admitted if self.fmt is not None else None
        chosen = ratings = None
        if view.kind == "preference":
            judge = dataclasses.replace(self.judge)
            for record_id in examples:
                if record_id in self.judged:
                    judge -= self.judged[record_id]
            chosen, ratings = share(judge.agreed, judge.records), share(judge.exact, judge.pairs)
        sft = view.kind == "sft"
        return {
            "dataset": view.name,
            "workspace": view.workspace,
            "kind": view.kind,
            "reviewed": self.reviewed,
            "admitted": admitted,
            "acceptance": share(admitted, self.reviewed) if admitted is not None else None,
            "edited_share": share(self.edited, admitted) if sft else None,
            "mean_edit_distance": share(self.distance, admitted) if sft else None,
            "judge_agreement_chosen": chosen,
            "judge_agreement_ratings": ratings,
            "examples_held_out": len(examples & self.ids),
        }


def scan_round(client, name: str, workspace: str | None, also=None) -> RoundTally:
    """One pass over dataset `name` into a `RoundTally`; `also(view, parts)` returns more visitors' calls for
    the same records (the report's own tallies), or nothing."""
    tallies: list[RoundTally] = []

    def visitor(view: DatasetView, parts: list):
        tally = RoundTally(client, view)
        tallies.append(tally)
        more = also(view, parts) if also is not None else None
        if more is None:
            return tally.add

        def both(record, reviewed, part):
            tally.add(record, reviewed, part)
            more(record, reviewed, part)
        return both

    scan_dataset(name, workspace, client, visitor)
    return tallies[0]


def rounds_of(client, last: RoundTally) -> list[dict]:
    """The rounds that end with `last`'s dataset, oldest first (see the module's docstring)."""
    chain: list[tuple[RoundTally, str | None]] = []
    examples: set[str] = set()
    seen: set[tuple[str, str]] = set()
    current: RoundTally | None = last
    while current is not None:
        seen.add((current.view.workspace, current.view.name))
        links = links_behind(current.batch_ids)
        examples |= links.examples
        notes = [f"batch(es) {', '.join(links.missing)} behind it not on this machine: an earlier round "
                 "behind them is not shown"] if links.missing else []
        previous = None
        if links.parents:
            parent, *others = links.parents
            if others:
                notes.append("also seeded from " + ", ".join(_where(p) for p in others) + " (not followed)")
            if (parent.get("workspace"), parent["dataset"]) in seen:
                notes.append(f"seeded from {_where(parent)} again: a cycle, the walk stops here")
            else:
                try:
                    previous = scan_round(client, parent["dataset"], parent.get("workspace"))
                except BadInput:  # deleted, renamed, or its workspace is gone: the walk ends here
                    notes.append(f"seeded from {_where(parent)}, which is no longer on the server: "
                                 "earlier rounds are not shown")
        chain.append((current, "; ".join(notes) or None))
        current = previous
    chain.reverse()
    return [{"round": number, **tally.figures(examples), "note": note}
            for number, (tally, note) in enumerate(chain, start=1)]


def _where(parent: dict) -> str:
    workspace = parent.get("workspace")
    return f"dataset {parent['dataset']!r}" + (f" (workspace {workspace!r})" if workspace else "")


def links_behind(batch_ids: set[str]) -> _Links:
    """The parents and examples recorded by the batches `batch_ids` (a dataset's records' `batch_id`)."""
    links, finder = _Links(), BatchFinder()
    for batch_id in sorted(batch_ids):
        try:
            batch = finder.find(batch_id)  # as the report's batches section finds it, --out folders too
        except BatchNotFound:  # a folder of that name that is not a readable batch
            batch = None
        if batch is None:
            links.missing.append(batch_id)
            continue
        steps = lineage(batch)
        datasets = [n for n, step in enumerate(steps) if step.get("dataset") is not None]
        since = datasets[-1] + 1 if datasets else 0  # the batches made since the nearest dataset
        if datasets:
            parent = steps[datasets[-1]]
            if not any((p["dataset"], p.get("workspace")) == (parent["dataset"], parent.get("workspace"))
                       for p in links.parents):
                links.parents.append({"dataset": parent["dataset"], "workspace": parent.get("workspace")})
        for step in steps[since:]:  # examples may be named by the generating batch, not only its dedup child
            if not step["found"]:
                continue
            found = batch if step["batch_id"] == batch.id else find_batch(str(step["batch_id"]), hint_path=step["path"])
            if found is not None:
                links.examples |= example_ids(found)
    return links


def example_ids(batch: Batch) -> set[str]:
    """The record ids a batch's manifest names as examples (`judge_examples`, `examples`): a list of
    ids, a list of {"record_id"|"id": ...}, or {"record_ids": [...]}; none when it names none."""
    ids: set[str] = set()
    for key in EXAMPLE_KEYS:
        value = batch.manifest.get(key)
        if isinstance(value, dict):
            value = value.get("record_ids") or value.get("ids") or []
        for item in value if isinstance(value, list) else []:
            if isinstance(item, dict):
                item = item.get("record_id") or item.get("id")
            if item:
                ids.add(str(item))
    return ids


def round_line(entry: dict) -> str:
    """One round as one line of terminal output."""
    from curation.report.html import dec, pct

    text = (f"Round {entry['round']}: {entry['dataset']} ({entry['workspace']}): acceptance "
            f"{pct(entry['acceptance'])} ({entry['admitted'] if entry['admitted'] is not None else 'n/a'} admitted "
            f"of {entry['reviewed']} reviewed)")
    if entry["kind"] == "sft":
        text += f"; edited {pct(entry['edited_share'])}, mean edit distance {dec(entry['mean_edit_distance'])}"
    elif entry["kind"] == "preference":
        text += (f"; judge chose as humans {pct(entry['judge_agreement_chosen'])}, ratings equal "
                 f"{pct(entry['judge_agreement_ratings'])}")
    return text + (f" [{entry['note']}]" if entry["note"] else "")
