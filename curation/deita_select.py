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

It scales because only the kept rows (at most K) are ever compared with: each candidate costs one
product with the kept set, taken a block of candidates at a time as one float32 matrix product, and
the vectors are read only for the rows the walk reaches. Memory beyond the input is the order (8
bytes a row), the kept rows in float32 and one block's products (about 120 MB for K=10,000 of 576
dimensions, whatever N). The float32 products decide every pair farther from the threshold than
their rounding error can reach; the few within it are decided by the float64 rule, so the result is
the brute-force rule's, not an approximation. An ANN index cannot prove that no kept row is near (a
kept candidate still needs the exact product) and, measured here against 10,000 kept rows of 576
dimensions (bench/deita_select.py), faiss-cpu's HNSW search (M=16, efSearch=32) took 220 µs a
candidate at 94% top-1 recall where the exact float32 product took 156 µs: it does not pay.
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
BLOCK = 1024  # candidates compared with the kept rows in one matrix product (a block's sims: BLOCK × K float32)
_SIMS = 1 << 24  # at most this many similarities a block (64 MB): a larger kept set takes smaller blocks


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def deita_score(row: dict) -> float:
    """complexity × quality; one of them when the other is missing; 0 without either."""
    complexity, quality = _number(row.get(COL_COMPLEXITY_SCORE)), _number(row.get(COL_QUALITY_SCORE))
    if complexity and quality:
        return complexity * quality
    return complexity or quality or 0.0


def _check(k: int, threshold: float) -> None:
    if k < 1:
        raise BadInput(f"-k must be at least 1, got {k}")
    if not 0 <= threshold <= 2:
        raise BadInput(f"--threshold is a cosine distance between 0 and 2, got {threshold}")


def _unit64(raw) -> np.ndarray:
    """Rows scaled to length 1 in float64, exactly as the rule has always computed them (a zero row stays 0,
    so it is at distance 1 from every row)."""
    vectors = np.asarray(raw, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def _close(candidate, others, threshold: float) -> bool:
    """The rule's own float64 test, for the few pairs the float32 screen cannot call: is `candidate` within
    `threshold` (cosine distance) of any of `others`?"""
    return not float(np.min(1 - _unit64(others) @ _unit64(candidate[None])[0])) > threshold


def _walk(order: np.ndarray, gather, k: int, threshold: float, block: int = BLOCK) -> list[int]:
    """Deita's walk over `order` (row indexes, best first), `gather(indexes)` giving those rows' vectors.

    Only the kept rows (at most k) are ever compared with, so each candidate costs one product with the
    kept set; a block of candidates takes it as one float32 matrix product, then the block's own order is
    resolved (a candidate may be blocked by an earlier one of the same block that was kept). float32 is
    exact enough to call every pair whose similarity lies farther than `margin` from the cut (the dot
    product of two rounded unit vectors of d dimensions is off by at most about d·2⁻²⁴); the pairs within
    the margin are decided by the float64 rule itself, so the selection is the brute-force rule's.
    """
    cut = 1.0 - threshold  # blocked by a kept row when their cosine similarity >= cut (distance <= threshold)
    kept: list[int] = []
    kept_vectors = np.empty((0, 0), dtype=np.float32)
    margin = 0.0
    start = 0
    while start < len(order) and len(kept) < k:
        ids = order[start:start + min(block, max(16, _SIMS // max(1, len(kept))))]
        start += len(ids)
        raw = gather(ids)
        if kept and np.shape(raw)[1] != kept_vectors.shape[1]:
            raise BadInput(f"the embeddings have different lengths [{kept_vectors.shape[1]}, {np.shape(raw)[1]}]")
        unit64 = _unit64(raw)
        if not np.isfinite(unit64).all():
            bad = int(ids[int(np.flatnonzero(~np.isfinite(unit64).all(axis=1))[0])])
            raise BadInput(f"row {bad}'s embedding is not finite (NaN or infinity)")
        unit = unit64.astype(np.float32)
        if not kept:
            dim = unit.shape[1]
            margin = (dim + 2) * 2.0 ** -23  # twice the float32 error bound of a d-dimensional dot product
            kept_vectors = np.empty((min(k, len(order), 4 * block), dim), dtype=np.float32)
        blocked = np.zeros(len(ids), dtype=bool)
        if kept:
            kept_ids = np.asarray(kept)
            sims = unit @ kept_vectors[:len(kept)].T
            top = sims.max(axis=1)
            blocked = top > cut + margin
            for i in np.flatnonzero(~blocked & (top >= cut - margin)):
                near = kept_ids[sims[i] >= cut - margin]
                blocked[i] = _close(raw[i], gather(near), threshold)
        free = np.flatnonzero(~blocked)
        sims = unit[free] @ unit[free].T
        sure, unsure = sims > cut + margin, sims >= cut - margin
        taken = np.zeros(len(free), dtype=bool)
        room = k - len(kept)
        check = np.tril(unsure, -1).any(axis=1)  # candidates with an earlier one of the block nearby
        for p in range(len(free)):
            if room == 0:
                break
            if check[p]:
                earlier = np.flatnonzero(taken[:p] & unsure[p, :p])
                if earlier.size and (sure[p, earlier].any() or _close(raw[free[p]], raw[free[earlier]], threshold)):
                    continue
            taken[p] = True
            room -= 1
        new = free[taken]
        if len(kept) + len(new) > len(kept_vectors):
            grown = np.empty((min(k, len(order), 2 * (len(kept) + len(new))), unit.shape[1]), dtype=np.float32)
            grown[:len(kept)] = kept_vectors[:len(kept)]
            kept_vectors = grown
        kept_vectors[len(kept):len(kept) + len(new)] = unit[new]
        kept.extend(int(i) for i in ids[new])
    return kept


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
    """Deita's rule over `rows` (each with scores and an embedding in `column`): `select_indexes` without
    building the N × d matrix; only the rows the walk reaches are turned into vectors, a block at a time."""
    _check(k, threshold)
    missing = [i for i, r in enumerate(rows) if r.get(column) is None]
    if missing:
        raise BadInput(f"{len(missing)} row(s) have no {column} (first: row {missing[0]})",
                       hint="embed the batch first: `curate embed BATCH`")
    scores = np.fromiter((deita_score(r) for r in rows), dtype=np.float64, count=len(rows))

    def gather(ids) -> np.ndarray:
        vectors = [rows[i][column] for i in ids]
        lengths = {len(v) for v in vectors}
        if len(lengths) > 1:
            raise BadInput(f"the rows' {column} vectors have different lengths {sorted(lengths)}")
        return np.asarray(vectors, dtype=np.float64)

    kept = _walk(np.argsort(-scores, kind="stable"), gather, k, threshold)  # stable: ties keep row order
    return Selection(kept, len(rows), k, threshold, column)


def select_indexes(scores, embeddings, k: int, threshold: float = DEFAULT_THRESHOLD, *,
                   block: int = BLOCK) -> list[int]:
    """Deita's rule on arrays: the indexes kept, in selection order (best score first; ties keep row order).

    `scores`: N numbers; `embeddings`: N × d, any float dtype (float16 and `np.memmap` work: only the
    rows the walk reaches are read, a block at a time, and never all of them copied). Memory beyond the
    input: the order (8 bytes a row), the kept rows in float32 (k × d × 4) and one block's products."""
    _check(k, threshold)
    scores = np.asarray(scores, dtype=np.float64)
    if not hasattr(embeddings, "shape"):
        embeddings = np.asarray(embeddings)
    if scores.ndim != 1 or len(embeddings.shape) != 2 or len(scores) != embeddings.shape[0]:
        raise BadInput(f"Deita selection wants N scores and N × d embeddings, got {scores.shape} and "
                       f"{tuple(embeddings.shape)}")
    if np.isnan(scores).any():
        raise BadInput(f"score of row {int(np.flatnonzero(np.isnan(scores))[0])} is NaN")
    order = np.argsort(-scores, kind="stable")  # ties keep row order
    return _walk(order, lambda ids: embeddings[ids], k, threshold, block)


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
