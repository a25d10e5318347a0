"""Accepted examples steer generation (`--examples argilla:DATASET[:K]`).

K records of a reviewed Argilla dataset that the export policy admits (export's own selection,
corrections applied: `curation.export.run.admitted_records`) become worked examples in the
generating prompts (see `pipelines.examples`). They are chosen for diversity, farthest-first:
over the records' Argilla vectors when every admitted record has one, else over MinHash
signatures of their instructions (`curation.dedup`, Jaccard distance). The start is fixed
(the first record by id) and ties go to the lower id, so the same dataset gives the same examples.

Examples only shape the prompts: they never become rows of the batch. The manifest's
`examples` entry names the dataset and the chosen record ids (see `Admitted.entry`).

`read_admitted` and `Admitted.pick` also serve the judge's examples (`curation.judge_examples`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from curation import contract as c
from curation.errors import BadInput
from curation.reviewed_seeds import PREFIX

DEFAULT_K = 4


@dataclass(frozen=True)
class Examples:
    """The chosen examples (seed-row shaped: instruction + response or generations, source_record_id)
    and the manifest's `examples` entry."""

    rows: list[dict]
    entry: dict

    def pairs(self) -> list[tuple[str, str]]:
        """(instruction, accepted answer) of each example: an sft record's corrected response, a
        preference record's chosen response."""
        out = []
        for row in self.rows:
            answer = row.get(c.COL_RESPONSE)
            if answer is None:
                answer = (row.get(c.COL_GENERATIONS) or [""])[0]
            out.append((row[c.COL_INSTRUCTION], answer))
        return out


def parse_examples(value: str, option: str = "--examples") -> tuple[str, int]:
    """(dataset name, K) of `argilla:DATASET[:K]`; a one-line BadInput naming `option` otherwise."""
    hint = f"{option} argilla:DATASET[:K], K a whole number of at least 1 (default {DEFAULT_K})"
    text = str(value)
    if not text.startswith(PREFIX):
        raise BadInput(f"{option} takes a reviewed Argilla dataset, got {text!r}", hint=hint)
    name, sep, count = text[len(PREFIX):].partition(":")
    if not name.strip():
        raise BadInput(f"{option} argilla: needs a dataset name", hint=hint)
    if not sep:
        return name, DEFAULT_K
    try:
        k = int(count)
    except ValueError:
        raise BadInput(f"{option}: K must be a whole number, got {count!r}", hint=hint) from None
    if k <= 0:
        raise BadInput(f"{option}: K must be at least 1, got {k}", hint=hint)
    return name, k


def farthest_first(count: int, k: int, distance: Callable[[int, int], float]) -> list[int]:
    """Indexes of `k` of `count` points, each the farthest (largest distance to its nearest chosen one)
    from those chosen before it; starts at 0, ties go to the lower index."""
    if count == 0 or k <= 0:
        return []
    chosen = [0]
    nearest = [distance(0, i) for i in range(count)]
    while len(chosen) < min(k, count):
        best = max((i for i in range(count) if i not in chosen), key=lambda i: (nearest[i], -i))
        chosen.append(best)
        nearest = [min(nearest[i], distance(best, i)) for i in range(count)]
    return chosen


def cosine_distance(vectors: Sequence[Sequence[float]]) -> Callable[[int, int], float]:
    """1 - cosine similarity between vectors i and j."""
    m = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(m, axis=1)
    norms[norms == 0] = 1.0
    unit = m / norms[:, None]
    return lambda i, j: float(1.0 - unit[i] @ unit[j])


def minhash_distance(texts: Sequence[str]) -> Callable[[int, int], float]:
    """1 - the MinHash estimate of the Jaccard similarity of texts i and j (curation.dedup's signatures)."""
    from curation.dedup import signatures

    sigs = signatures(texts)
    return lambda i, j: float(1.0 - np.mean(sigs[i] == sigs[j]))


@dataclass
class Admitted:
    """The records of a reviewed dataset that the export policy admits, and where they come from."""

    name: str
    k: int
    client: object
    dataset: object
    kind: str  # the batch kind its records give: sft | preference
    agreement: str
    min_submitted: int
    counts: object  # curation.export.select.Counts
    records: list[tuple[str, object, dict]]  # (record id, the Reviewed record, its export row), by record id

    def pick(self, k: int, indexes: Sequence[int] | None = None) -> tuple[list[int], str]:
        """Up to `k` diverse records among `indexes` (default: all), farthest-first; with the measure used."""
        indexes = list(range(len(self.records))) if indexes is None else list(indexes)
        keys = [str(self.records[i][1].id) for i in indexes]  # as the listing names them (`Reviewed.id`)
        vectors = _vectors(self.client, self.dataset, keys)
        if vectors is not None:
            measure, distance = "vectors", cosine_distance(vectors)
        else:
            texts = [seed_instruction(self.records[i][2]) for i in indexes]
            measure, distance = "minhash", minhash_distance(texts)
        return [indexes[i] for i in farthest_first(len(indexes), k, distance)], measure

    def entry(self, picked: Sequence[int], measure: str, **counts) -> dict:
        """A manifest entry naming the dataset, the policy and the picked records (`examples`, `judge_examples`)."""
        from curation.argilla.errors import argilla_errors
        from curation.reviewed_seeds import public_url

        with argilla_errors("reading the dataset's workspace"):
            workspace_name = self.dataset.workspace.name
        return {
            "dataset": self.name,
            "workspace": workspace_name,
            "server": public_url(self.client.api_url),
            "kind": self.kind,
            "k": self.k,
            "admitted": len(self.records),
            **counts,
            "diversity": measure,
            "policy": {"agreement": self.agreement, "min_submitted": self.min_submitted},
            "record_ids": [self.records[i][0] for i in picked],
        }


def seed_instruction(row: dict) -> str:
    """The instruction of an export row (sft `messages` or dpo `prompt`)."""
    return (row.get("messages") or row.get("prompt"))[0]["content"]


def read_admitted(value, *, option: str = "--examples", use: str = "take examples from", kind: str | None = None,
                  workspace: str | None = None, agreement: str = "majority", min_submitted: int | None = None,
                  client=None) -> Admitted:
    """The admitted records of `argilla:DATASET[:K]` (export's own selection, adjudications first), by id.

    Unknown dataset or workspace, K not a whole number >= 1, a dataset not made by `curate push` (or
    not of `kind`), or no admitted record: a one-line BadInput naming `option` (exit 2).
    """
    from curation.reviewed_seeds import read_reviewed

    name, k = parse_examples(value, option)

    def check(found_kind: str) -> None:
        if kind is not None and found_kind != kind:
            raise BadInput(f"dataset {name!r} holds {found_kind} records; {option} needs a {kind} dataset",
                           hint=f"{use} a {kind} dataset `curate push` made")

    reviewed = read_reviewed(name, workspace=workspace, agreement=agreement, min_submitted=min_submitted,
                             client=client, use=use, check=check)
    found = [(str(row[c.EXPORT_RECORD_ID]), record, row) for record, row in reviewed.admitted]
    if not found:
        raise BadInput(f"no record of {name!r} passes the policy ({reviewed.counts.seen} seen); no example to show",
                       hint="review more records in Argilla, or relax --agreement / --min-submitted")
    found.sort(key=lambda item: item[0])  # the fixed start: the first record by id
    return Admitted(name, k, reviewed.client, reviewed.dataset, reviewed.kind, agreement, reviewed.min_submitted,
                    reviewed.counts, found)


def load_examples(value, *, workspace: str | None = None, agreement: str = "majority",
                  min_submitted: int | None = None, client=None) -> Examples:
    """K diverse admitted records of `argilla:DATASET[:K]` as worked examples.

    Unknown dataset or workspace, K not a whole number >= 1, a dataset not made by `curate push`, or
    no admitted record: a one-line BadInput (exit 2), before any model loads.
    """
    from curation.reviewed_seeds import seed_row

    admitted = read_admitted(value, workspace=workspace, agreement=agreement, min_submitted=min_submitted,
                             client=client)
    picked, measure = admitted.pick(admitted.k)
    rows = [seed_row(admitted.kind, admitted.records[i][2]) for i in picked]
    return Examples(rows, admitted.entry(picked, measure))


def _vectors(client, dataset, argilla_ids: list[str]) -> list[list[float]] | None:
    """The admitted records' vectors of the dataset's first vector field (the instruction's when it
    has one), in `argilla_ids` order; None when the dataset has no vector field or a record lacks one."""
    names = [v.name for v in dataset.settings.vectors]
    if not names:
        return None
    name = c.COL_INSTRUCTION_EMBEDDING if c.COL_INSTRUCTION_EMBEDDING in names else names[0]
    from curation.argilla.records import iter_records

    wanted, found = set(argilla_ids), {}
    for item in iter_records(client, dataset.id, include=("vectors",)):
        key = str(item.get("external_id") or item["id"])  # as `Reviewed.id` names a record
        if key in wanted and (item.get("vectors") or {}).get(name):
            found[key] = item["vectors"][name]
    if len(found) < len(wanted):
        return None
    return [found[i] for i in argilla_ids]
