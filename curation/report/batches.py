"""The batches behind a dataset's records (metadata `batch_id`), with what their manifests
on this machine say: recipe, kind, kept/dropped rows, and dedup/selection counts if recorded."""

from __future__ import annotations

from collections import Counter
from curation.contract import META_BATCH_ID, META_RECIPE
from curation.batch import BatchFinder
from curation.errors import BatchNotFound
from curation.report.read import RecordView

NOT_HERE = "not on this machine"


def batches_behind(records: list[RecordView]) -> list[dict]:
    """One entry per batch id found in the records (oldest id first), plus records without one."""
    counts = BatchCounts()
    for record in records:
        counts.add(record)
    return counts.result()


class BatchCounts:
    """Records per batch id (metadata `batch_id`), gathered record by record; `result` looks the
    batches up on this machine."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.recipes: dict[str, object] = {}
        self.records = 0

    def add(self, record: RecordView) -> None:
        self.records += 1
        if record.metadata.get(META_BATCH_ID):
            batch_id = str(record.metadata[META_BATCH_ID])
            self.counts[batch_id] += 1
            self.recipes[batch_id] = record.metadata.get(META_RECIPE)

    def result(self) -> list[dict]:
        finder = BatchFinder()
        entries = [_entry(batch_id, self.counts[batch_id], self.recipes[batch_id], finder)
                   for batch_id in sorted(self.counts)]
        orphans = self.records - sum(self.counts.values())
        if orphans:
            entries.append({**_empty(None, orphans, None), "note": "records without a batch_id"})
        return entries


def _empty(batch_id: str | None, records: int, recipe: str | None) -> dict:
    return {"batch_id": batch_id, "records": records, "recipe": recipe, "on_this_machine": False,
            "kind": None, "kept": None, "dropped": None, "dedup": None, "selection": None, "note": NOT_HERE}


def _entry(batch_id: str, records: int, recipe: str | None, finder: BatchFinder) -> dict:
    entry = _empty(batch_id, records, recipe)
    try:
        batch = finder.find(batch_id)
    except BatchNotFound as exc:  # a folder of that name that is not a readable batch
        return {**entry, "note": f"unreadable here: {exc}"}
    if batch is None:
        return entry
    rows = batch.manifest.get("rows") or {}
    return {
        **entry,
        "recipe": batch.recipe,
        "on_this_machine": True,
        "kind": batch.kind,
        "kept": rows.get("kept"),
        "dropped": rows.get("dropped"),
        "dedup": batch.manifest.get("dedup"),
        "selection": batch.manifest.get("selection"),
        "note": str(batch.path),
    }

