"""Batches with near-duplicates planted at known similarities (by construction, checked by exact Jaccard).

Every original instruction is 20 words drawn at random from a vocabulary of made-up words, so
two originals share next to no character 5-gram. The planted copies of an original:

- ``exact``: the same text;
- ``case``: upper-cased, with other punctuation and spacing (identical once normalized);
- ``extended``: one word added at the end (similarity about 0.96);
- ``near``: its last five words replaced (about 0.6: clearly below 0.8, kept);
- ``far``: its second half replaced by other words (about 0.3, kept).
"""

from __future__ import annotations

import random

from curation.batch import Batch, new_batch_id, package_versions, write_batch
from curation.dedup import shingles

THRESHOLD = 0.8
ABOVE = ("exact", "case", "extended")
BELOW = ("near", "far")


def vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return sorted({"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(n)})


def original(rng: random.Random, words: list[str], n: int = 20) -> str:
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "?"


def variant(text: str, how: str, rng: random.Random, words: list[str]) -> str:
    if how == "exact":
        return text
    if how == "case":
        return "  " + text.upper().replace(" ", " -- ", 3).rstrip("?") + "!!"
    if how == "extended":
        return text.rstrip("?") + " " + rng.choice(words) + "?"
    if how in ("near", "far"):
        keep = 15 if how == "near" else 10
        head = text.rstrip("?").split()[:keep]
        return " ".join(head + [rng.choice(words) for _ in range(20 - keep)]) + "?"
    raise ValueError(how)


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of the shingle sets: the truth the MinHash estimate is checked against."""
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def planted_instructions(originals: int = 12, seed: int = 7) -> tuple[list[str], dict[int, int], set[int]]:
    """(texts, {planted row: row it duplicates}, rows planted below the threshold).

    Originals come first; each of the first len(ABOVE)+len(BELOW) originals gets one planted
    copy of each kind, appended after them in a shuffled order.
    """
    rng = random.Random(seed)
    words = vocabulary(rng)
    texts = [original(rng, words) for _ in range(originals)]
    plants = [(i, how) for i in range(originals // 2) for how in (*ABOVE, *BELOW)]
    rng.shuffle(plants)
    expected, below = {}, set()
    for source, how in plants:
        row = len(texts)
        texts.append(variant(texts[source], how, rng, words))
        if how in ABOVE:
            expected[row] = source
        else:
            below.add(row)
    return texts, expected, below


def write_sft_batch(root, instructions: list[str], responses: list[str] | None = None, recipe: str = "prompt") -> Batch:
    """A complete sft batch folder with these instructions, in the on-disk format generate writes."""
    responses = responses or [f"Answer {i}." for i in range(len(instructions))]
    rows = [{"instruction": ins, "response": res, "model_name": "planted", "raw_output": "{}"}
            for ins, res in zip(instructions, responses)]
    batch_id = new_batch_id(recipe)
    manifest = {"batch_id": batch_id, "recipe": recipe, "kind": "sft", "model": "planted",
                "rows": {"requested": len(rows), "generated": len(rows), "kept": len(rows), "dropped": 0},
                "started_at": "2026-01-01T00:00:00+00:00", "versions": package_versions()}
    return write_batch(root / batch_id, rows, manifest)
