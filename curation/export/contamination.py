"""`curate export --decontaminate`: the last gate before training, on the exported rows themselves.

The rule is `curate decontaminate`'s (curation/decontaminate.py: a row goes when its instruction or
one of its responses shares a run of N words with a benchmark text), applied to the rows an export
writes: the user turn is the instruction; the assistant turn (sft) or the chosen and rejected
responses (dpo), with the humans' corrections applied, are the responses. So what reviewers
wrote is checked too, not only what the model generated. Rows are checked a chunk at a time as
the export streams them; each dropped row is counted for the one benchmark its first shared
n-gram names, and listed on the card with the words it shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from curation import contract as c

CHUNK = 1024  # export rows checked at once
LISTED = 100  # dropped rows named on the card; the rest are counted


def _contents(turns, role: str) -> list[str]:
    return [str(t.get("content") or "") for t in turns or [] if t.get("role") == role]


def row_texts(row: dict) -> dict:
    """An export row (TRL messages) as the batch columns the rule reads."""
    if "messages" in row:
        return {c.COL_INSTRUCTION: " ".join(_contents(row["messages"], "user")),
                c.COL_RESPONSE: " ".join(_contents(row["messages"], "assistant"))}
    return {c.COL_INSTRUCTION: " ".join(_contents(row["prompt"], "user")),
            c.COL_GENERATIONS: [" ".join(_contents(row["chosen"], "assistant")),
                                " ".join(_contents(row["rejected"], "assistant"))]}


@dataclass
class ContaminationGate:
    """Drops exported rows that share an n-gram with a benchmark; keeps the figures for the card."""

    benchmarks: list
    n: int
    checked: int = 0
    dropped: list[int] = field(default_factory=list)  # per benchmark
    found: list[dict] = field(default_factory=list)  # the first LISTED dropped rows: what they share

    def __post_init__(self):
        from curation.decontaminate import BenchmarkIndex

        self.index = BenchmarkIndex(self.benchmarks, self.n)
        self.dropped = [0] * len(self.benchmarks)

    @property
    def removed(self) -> int:
        return sum(self.dropped)

    def filter(self, rows: Iterable[dict], on_drop) -> Iterator[dict]:
        """The rows that share no n-gram with a benchmark, in order; `on_drop()` for each one that does."""
        chunk: list[dict] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                yield from self._check(chunk, on_drop)
                chunk = []
        if chunk:
            yield from self._check(chunk, on_drop)

    def _check(self, rows: list[dict], on_drop) -> Iterator[dict]:
        from curation.decontaminate import find_contamination

        kind = "sft" if "messages" in rows[0] else "preference"
        hits = {hit.row: hit for hit in find_contamination(self.index, pa.RecordBatch.from_pylist(
            [row_texts(row) for row in rows]), kind)}
        self.checked += len(rows)
        for i, row in enumerate(rows):
            hit = hits.get(i)
            if hit is None:
                yield row
                continue
            on_drop()
            self.dropped[hit.benchmark] += 1
            if len(self.found) < LISTED:
                self.found.append({"record": row[c.EXPORT_RECORD_ID], "benchmark": self.benchmarks[hit.benchmark].name,
                                   "benchmark_row": hit.benchmark_row, "matched_in": _turn(kind, hit.matched_in),
                                   "ngram": hit.ngram})

    def card_lines(self) -> list[str]:
        """The card's section: each benchmark checked (source, version, rows dropped) and the rows named."""
        from curation.export.card import md_code, md_text

        lines = ["## Benchmark contamination checked at export", "",
                 f"Every exported row's instruction and responses (corrections applied) were checked against these "
                 f"benchmarks: a row sharing a run of {self.n} words (lowercased, punctuation stripped) with a "
                 "benchmark text was left out (`curate export --decontaminate`).", "",
                 "| benchmark | source | version | rows checked | rows dropped |", "|---|---|---|---|---|"]
        for benchmark, dropped in zip(self.benchmarks, self.dropped):
            lines.append(f"| {md_text(benchmark.name)} | {md_code(benchmark.source, in_table=True)} "
                         f"| {md_code(_version(benchmark), in_table=True)} | {self.checked} | {dropped} |")
        if self.found:
            lines += ["", "| record | benchmark | benchmark row | in | shared words |", "|---|---|---|---|---|"]
            lines += [f"| {md_code(f['record'], in_table=True)} | {md_text(f['benchmark'])} | {f['benchmark_row']} "
                      f"| {f['matched_in']} | {md_text(f['ngram'])} |" for f in self.found]
            if self.removed > len(self.found):
                lines.append(f"\n…and {self.removed - len(self.found)} more.")
        return lines + [""]


def _turn(kind: str, matched_in: str) -> str:
    """Where the shared words were, in the export's own terms."""
    if matched_in == c.COL_INSTRUCTION:
        return "prompt"
    if kind == "sft":
        return c.COL_RESPONSE
    return "chosen" if matched_in.endswith("[0]") else "rejected"


def _version(benchmark) -> str:
    """A file's sha256, or a `datasets` dataset's fingerprint per split (`Benchmark.fingerprint`)."""
    if "sha256" in benchmark.fingerprint:
        return f"sha256 {benchmark.fingerprint['sha256']}"
    per_split = benchmark.fingerprint.get("fingerprint") or {}
    return "fingerprint " + ", ".join(f"{split} {value}" for split, value in per_split.items())
