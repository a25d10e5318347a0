"""Deita selection: keep the best-scored rows that are not too close to one already kept.

Deita's representation filter (Liu et al. 2024, arXiv 2312.15685, Algorithm 1): sort the rows
by score = complexity × quality (the two Deita scorers), best first; walk down the list and
keep a row when the cosine distance between its embedding and that of *every row already
kept* is greater than the threshold; stop at K rows.

This is implemented here, not with distilabel's `DeitaFiltering`: distilabel 1.5.3's step
compares each row with its nearest neighbour among *all* rows, computed once before the walk,
so both rows of a close pair are dropped where Deita keeps the better one. The score follows
`DeitaFiltering`'s rule (the product; one score alone when the other is missing; else 0).
Ties keep the batch's row order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from curation.batch import Batch, load_batch, write_child_batch
from curation.contract import COL_COMPLEXITY_SCORE, COL_QUALITY_SCORE
from curation.embeddings import INSTRUCTION_EMBEDDING, EmbedderSpec, embed_rows
from curation.errors import BadInput

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_THRESHOLD = 0.1  # cosine distance; Deita's paper keeps rows below 0.9 cosine similarity
SCORE = "deita_score"


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def deita_score(row: dict) -> float:
    """complexity × quality; one of them when the other is missing; 0 without either."""
    complexity, quality = _number(row.get(COL_COMPLEXITY_SCORE)), _number(row.get(COL_QUALITY_SCORE))
    if complexity and quality:
        return complexity * quality
    return complexity or quality or 0.0


@dataclass(frozen=True)
class Selection:
    """Which rows were kept (indexes into the input, in selection order) and the figures behind it."""

    kept: list[int]
    of: int
    k: int
    threshold: float
    column: str

    def manifest(self) -> dict:
        """The manifest's `selection` entry."""
        return {"kept": len(self.kept), "of": self.of, "k": self.k, "threshold": self.threshold,
                "embedding": self.column, "score": "complexity_score × quality_score",
                "rule": "Deita repr filter: best score first, cosine distance > threshold to every kept row"}


def select(rows: list[dict], k: int, threshold: float = DEFAULT_THRESHOLD,
           column: str = INSTRUCTION_EMBEDDING) -> Selection:
    """Deita's rule over `rows` (each with scores and an embedding in `column`)."""
    if k < 1:
        raise BadInput(f"-k must be at least 1, got {k}")
    if not 0 <= threshold <= 2:
        raise BadInput(f"--threshold is a cosine distance between 0 and 2, got {threshold}")
    missing = [i for i, r in enumerate(rows) if r.get(column) is None]
    if missing:
        raise BadInput(f"{len(missing)} row(s) have no {column} (first: row {missing[0]})",
                       hint="embed the batch first: `curate embed BATCH`")
    order = sorted(range(len(rows)), key=lambda i: -deita_score(rows[i]))  # stable: ties keep row order
    vectors = np.asarray([rows[i][column] for i in range(len(rows))], dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    kept: list[int] = []
    for i in order:
        if len(kept) >= k:
            break
        if not kept or float(np.min(1 - unit[kept] @ unit[i])) > threshold:
            kept.append(i)
    return Selection(kept, len(rows), k, threshold, column)


def _require_scores(rows: list[dict], where: str) -> None:
    if not any(_number(r.get(COL_COMPLEXITY_SCORE)) or _number(r.get(COL_QUALITY_SCORE)) for r in rows):
        raise BadInput(f"{where} has no Deita scores (complexity_score, quality_score)",
                       hint="generate it with `--deita` (sft recipes)")


def select_rows(rows: list[dict], k: int, threshold: float = DEFAULT_THRESHOLD,
                embedder: EmbedderSpec | None = None, where: str = "the batch") -> tuple[list[dict], dict, dict | None]:
    """(kept rows with `deita_score`, the manifest's `selection`, the `embed` details if rows were embedded here)."""
    _require_scores(rows, where)
    embedded = None
    if any(r.get(INSTRUCTION_EMBEDDING) is None for r in rows):
        rows, embedded = embed_rows(rows, embedder)
    selection = select(rows, k, threshold)
    kept = [{**rows[i], SCORE: deita_score(rows[i])} for i in selection.kept]
    details = selection.manifest()
    if embedded:
        details["embedder"] = embedded["model"]
    return kept, details, embedded


def select_batch(batch: Batch | str, k: int, threshold: float = DEFAULT_THRESHOLD, *,
                 embedder: EmbedderSpec | None = None, out: "Path | None" = None) -> Batch:
    """A child batch of `batch` with the rows Deita selection keeps (best first); manifest `selection`."""
    batch = batch if isinstance(batch, Batch) else load_batch(batch)
    if batch.kind != "sft":
        raise BadInput(f"Deita selection scores instruction/response pairs; batch {batch.id} is {batch.kind!r}")
    kept, details, _ = select_rows(batch.rows(), k, threshold, embedder, where=f"batch {batch.id}")
    return write_child_batch(batch, kept, derived_by="selection", details=details, out=out)


def after_generation(rows: list[dict], options) -> tuple[list[dict], dict]:
    """`curate generate --embed / --deita-select K`: (the rows to write, the manifest's `embed` and
    `selection` entries). Runs after the pipeline, on its cleaned rows."""
    if not (options.embed or options.deita_select):
        return rows, {}
    from curation.embeddings import parse_embedder

    spec = parse_embedder(options.embedder, base_url=options.base_url, api_key=options.api_key)
    rows, embedded = embed_rows(rows, spec)
    entries = {"embed": embedded}
    if options.deita_select:
        selection = select(rows, options.deita_select, options.deita_threshold)
        rows = [{**rows[i], SCORE: deita_score(rows[i])} for i in selection.kept]
        entries["selection"] = selection.manifest()
    return rows, entries


def card_lines(batch_ids) -> list[str]:
    """The export card's "Deita selection" section: "kept K of N" and the threshold of every
    selection behind the exported batches (from the manifests on this machine); [] if none."""
    from curation.batch import find_batch, lineage

    lines = []
    for batch_id in sorted(b for b in batch_ids if b):
        batch = find_batch(batch_id)
        for step in lineage(batch) if batch is not None else []:
            found = find_batch(str(step["batch_id"]), hint_path=step["path"]) if step["found"] else None
            s = found.manifest.get("selection") if found is not None else None
            if isinstance(s, dict):
                lines.append(f"| {batch_id} | {step['batch_id']} | kept {s.get('kept')} of {s.get('of')} "
                             f"| {s.get('threshold')} |")
    if not lines:
        return []
    return ["## Deita selection", "",
            "Rows kept best complexity × quality first, each farther (cosine distance of the instruction "
            "embeddings) than the threshold from every row kept before it (Deita's repr filter).", "",
            "| exported batch | selected in | rows | threshold |", "|---|---|---|---|", *lines, ""]
