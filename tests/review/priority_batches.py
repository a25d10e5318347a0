"""Preference batches with known judge ratings, and the review priority each row must get.

The priorities are worked out by hand from curation/review/priority.py's documented formula and
the shipped weights (closeness 0.5, tie 0.2, unparsed 0.2, contradiction 0.1; ratings 1-5), never
by calling it: e.g. ratings [3, missing] give closeness 1 (one rating parsed), tie 1, unparsed 1/2,
so (0.5 + 0.2 + 0.2 * 0.5) / 1.0 = 0.8.
"""

from __future__ import annotations

from pathlib import Path

from curation.batch import Batch, new_batch_id, package_versions, write_batch
from tests.review.sample_batches import JUDGE

# (ratings, rationale of the first candidate, priority by hand, band: floor(priority * 4))
KNOWN = {
    "unparsed": ([3, None], "", 0.8, 3),          # (0.5*1 + 0.2*1 + 0.2*0.5) / 1
    "tie": ([4, 4], "", 0.7, 2),                  # (0.5*1 + 0.2*1) / 1
    "gap-2": ([4, 2], "", 0.25, 1),               # 0.5 * (1 - 2/4)
    "clear": ([5, 1], "", 0.0, 0),                # 0.5 * (1 - 4/4)
    "contradicts": ([5, 2], "Honestly 3/5 at best.", 0.225, 0),  # 0.5 * (1 - 3/4) + 0.1 * 1
}


def preference_row(i: int, ratings: list, first_rationale: str = "") -> dict:
    topic = f"topic number {i}"
    return {
        "instruction": f"Explain {topic} in two sentences (row {i}).",
        "generations": [f"A first answer about {topic}.", f"A second answer about {topic}."],
        "generation_models": ["model-a", "model-b"],
        "ratings": ratings,
        "rationales": [first_rationale, "Fine."],
        "judge_model": JUDGE,
        "chosen_index": None,
    }


def write_preference_batch(root: Path, rows: list[dict]) -> Batch:
    batch_id = new_batch_id("ultrafeedback")
    manifest = {
        "batch_id": batch_id, "kind": "preference", "recipe": "ultrafeedback", "num_rows": len(rows),
        "rows": {"kept": len(rows), "dropped": 0}, "backend": "llamacpp", "model": "m",
        "started_at": "2025-01-01T00:00:00+00:00", "versions": package_versions(),
    }
    return write_batch(root / batch_id, rows, manifest)


def banded_batch(root: Path, top: int = 8) -> tuple[Batch, dict[int, float]]:
    """`top` rows in the top band (0.8), then 4 each at 0.7, 0.25 and 0.0; returns (batch, row -> priority)."""
    plan = ["unparsed"] * top + ["tie"] * 4 + ["gap-2"] * 4 + ["clear"] * 4
    rows, expected = [], {}
    for i, case in enumerate(plan):
        ratings, rationale, priority, _ = KNOWN[case]
        rows.append(preference_row(i, list(ratings), rationale))
        expected[i] = priority
    return write_preference_batch(root, rows), expected
