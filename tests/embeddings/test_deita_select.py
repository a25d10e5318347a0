"""Deita selection (curation.deita_select) against an independent calculation on a fixture written here, and the
scalable walk (select_indexes) against the rule computed the brute-force way on random data with planted near-copies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main
from curation.deita_select import card_lines, deita_score, select, select_batch, select_indexes
from curation.embeddings import INSTRUCTION_EMBEDDING
from curation.errors import BadInput
from tests.embeddings.conftest import write_sft_batch

THRESHOLD = 0.1  # cosine distance: about 25.8 degrees between two unit vectors in a plane

# name: (angle of the instruction embedding in degrees, complexity_score, quality_score)
FIXTURE = {
    "a": (0, 5, 6),      # 30, but 10 degrees from b
    "b": (10, 6, 6),     # 36, the best
    "c": (40, 4, 5),     # 20, 5 degrees from d
    "d": (45, 5, 5),     # 25, 35 degrees from b
    "e": (90, 3, 3),     # 9
    "f": (200, 2, 6),    # 12
    "g": (180, None, 5),  # 5 (quality alone), 20 degrees from f
    "h": (270, 6, None),  # 6 (complexity alone)
    "i": (120, 1, 1),    # 1, 30 degrees from e
}


def fixture_rows() -> list[dict]:
    rows = []
    for name, (angle, complexity, quality) in FIXTURE.items():
        radians = math.radians(angle)
        # Different lengths: the rule is about directions (cosine), not magnitudes.
        length = 1 + len(rows)
        rows.append({"instruction": f"instruction {name}", "response": f"response {name}",
                     "complexity_score": complexity, "quality_score": quality,
                     INSTRUCTION_EMBEDDING: [length * math.cos(radians), length * math.sin(radians)]})
    return rows


def independent_selection(k: int, threshold: float) -> list[str]:
    """Deita's rule from the fixture's angles alone: best score first; keep a row when 1 - cos(angle difference)
    to every kept row exceeds the threshold; stop at k."""
    def score(c, q):
        return c * q if c and q else (c or q or 0)

    order = sorted(FIXTURE, key=lambda n: -score(*FIXTURE[n][1:]))
    kept: list[str] = []
    for name in order:
        if len(kept) == k:
            break
        if all(1 - math.cos(math.radians(FIXTURE[name][0] - FIXTURE[other][0])) > threshold for other in kept):
            kept.append(name)
    return kept


@pytest.mark.parametrize("k, expected", [(1, ["b"]), (4, ["b", "d", "f", "e"]), (100, ["b", "d", "f", "e", "h", "i"])])
def test_selection_keeps_the_best_rows_that_meet_the_distance_rule(k, expected):
    rows = fixture_rows()
    names = list(FIXTURE)
    selection = select(rows, k, THRESHOLD)
    kept = [names[i] for i in selection.kept]
    assert kept == expected == independent_selection(k, THRESHOLD)
    assert len(kept) <= k and selection.of == len(rows)
    # The rule itself: every pair of kept rows is farther apart than the threshold ...
    for x in kept:
        for y in kept:
            if x < y:
                assert 1 - math.cos(math.radians(FIXTURE[x][0] - FIXTURE[y][0])) > THRESHOLD
    # ... and a row that scores above the last kept one was dropped only for a better kept row within the threshold.
    score = {n: (c * q if c and q else c or q) for n, (_, c, q) in FIXTURE.items()}
    for name in set(FIXTURE) - set(kept):
        if score[name] > score[kept[-1]]:
            assert any(score[other] >= score[name] and
                       1 - math.cos(math.radians(FIXTURE[name][0] - FIXTURE[other][0])) <= THRESHOLD for other in kept)
    assert selection.manifest()["kept"] == len(kept) and selection.manifest()["threshold"] == THRESHOLD


def test_threshold_zero_keeps_the_top_k_by_score_and_two_keeps_one():
    rows = fixture_rows()
    names = list(FIXTURE)
    assert [names[i] for i in select(rows, 3, 0.0).kept] == ["b", "a", "d"]
    assert [names[i] for i in select(rows, 9, 2.0).kept] == ["b"]  # nothing is farther than 2


def test_distilabel_deita_filtering_drops_both_rows_of_a_close_pair():
    """Why the rule is implemented here: distilabel 1.5.3's DeitaFiltering compares each row with its
    nearest neighbour among all rows, so the best row (b, 10 degrees from a) is dropped too."""
    from distilabel.steps import DeitaFiltering

    rows = [{"evol_instruction_score": r["complexity_score"], "evol_response_score": r["quality_score"],
             "embedding": r[INSTRUCTION_EMBEDDING], "name": n} for n, r in zip(FIXTURE, fixture_rows())]
    step = DeitaFiltering(data_budget=4, diversity_threshold=THRESHOLD)
    step.load()
    theirs = [r["name"] for r in next(step.process(rows))]
    assert "b" not in theirs and "b" == independent_selection(1, THRESHOLD)[0]


def test_curate_select_writes_a_child_batch_and_the_card_says_kept_k_of_n(tmp_path, curation_home):
    parent = write_sft_batch(tmp_path / "scored", fixture_rows())
    result = CliRunner().invoke(main, ["select", str(parent.path), "-k", "4", "--threshold", "0.1"],
                                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    child = load_batch(result.stdout.rsplit("→ ", 1)[-1].strip())
    assert child.manifest["parent"]["batch_id"] == parent.id and child.manifest["derived_by"] == "selection"
    selection = child.manifest["selection"]
    assert (selection["kept"], selection["of"], selection["k"], selection["threshold"]) == (4, 9, 4, 0.1)
    assert child.manifest["rows"]["kept"] == 4
    rows = child.rows()
    assert [r["instruction"] for r in rows] == [f"instruction {n}" for n in ["b", "d", "f", "e"]]
    assert [r["deita_score"] for r in rows] == [36, 25, 12, 9]
    assert "kept 4 of 9 rows (Deita selection, K=4, threshold 0.1)" in result.stdout

    lines = card_lines([child.id])
    assert "## Deita selection" in lines
    assert f"| {child.id} | {child.id} | kept 4 of 9 | 0.1 |" in lines


def test_curate_select_needs_deita_scores(tmp_path, curation_home):
    rows = [{k: v for k, v in r.items() if not k.endswith("_score")} for r in fixture_rows()]
    parent = write_sft_batch(tmp_path / "unscored", rows)
    result = CliRunner().invoke(main, ["select", str(parent.path), "-k", "2"], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: batch {parent.id} has no Deita scores (complexity_score, quality_score)",
        "Hint: generate it with `--deita` (sft recipes)",
    ]


def test_select_embeds_rows_that_have_no_embedding(tmp_path, curation_home):
    """A scored batch without embeddings is embedded first with the bundled model (real llama.cpp)."""
    rows = [{k: v for k, v in r.items() if k != INSTRUCTION_EMBEDDING} for r in fixture_rows()[:4]]
    rows[0]["instruction"] = rows[1]["instruction"] = "How do I bake sourdough bread at home?"
    child = select_batch(write_sft_batch(tmp_path / "raw", rows), 4, THRESHOLD)
    kept = child.rows()
    assert child.manifest["selection"]["embedder"] == "SmolLM2-135M-Instruct-Q4_1"
    # Rows 0 and 1 have the same instruction (distance 0): only the better (b) is kept.
    assert [r["instruction"] for r in kept].count("How do I bake sourdough bread at home?") == 1
    assert kept[0]["complexity_score"] == 6 and all(len(r[INSTRUCTION_EMBEDDING]) == 576 for r in kept)


# --- The scalable walk (select_indexes) against the rule computed the brute-force way -------------------------


def brute_force(scores, embeddings, k: int, threshold: float) -> list[int]:
    """Deita's rule as it was first written here: every vector normalized in float64, rows best score first
    (stable), each compared with every kept row."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if len(kept) >= k:
            break
        if not kept or float(np.min(1 - unit[kept] @ unit[i])) > threshold:
            kept.append(i)
    return kept


def planted(n: int, dim: int, seed: int, *, copies: float = 0.3, spread: float = 0.5, ties: int = 20):
    """(scores, float32 embeddings): clustered random vectors, a share of them near-copies of an earlier row at
    cosine distances spread around the usual thresholds; scores drawn from `ties` values, so many tie."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(2, n // 50), dim))
    vectors = centers[rng.integers(0, len(centers), n)] + rng.standard_normal((n, dim))
    for row in np.flatnonzero(rng.random(n) < copies)[1:]:
        source = vectors[rng.integers(0, row)]
        vectors[row] = source + rng.uniform(0, spread) * np.linalg.norm(source) / np.sqrt(dim) * rng.standard_normal(dim)
    scores = rng.integers(1, ties + 1, n).astype(np.float64)
    return scores, vectors.astype(np.float32)


@pytest.mark.parametrize("threshold", [0.0, 0.02, 0.05, 0.1, 0.2, 0.5])
@pytest.mark.parametrize("block", [1, 7, 64, 1024])
def test_select_indexes_is_the_brute_force_rule(threshold, block):
    scores, vectors = planted(600, 24, seed=int(threshold * 100) + block)
    for k in (1, 5, 150, 10_000):  # 10,000: more than can be kept, the walk reaches the last row
        expected = brute_force(scores, vectors, k, threshold)
        assert select_indexes(scores, vectors, k, threshold, block=block) == expected
    if threshold >= 0.1:
        assert len(expected) < len(scores)  # the planted copies were close enough to be dropped


def test_ties_keep_row_order_and_k_stops_the_walk():
    scores = np.array([1.0, 2.0, 2.0, 2.0, 1.0])
    vectors = np.eye(5, dtype=np.float32)
    assert select_indexes(scores, vectors, 3, 0.1) == [1, 2, 3]
    assert select_indexes(scores, vectors, 9, 0.1, block=2) == [1, 2, 3, 0, 4]
    vectors[3] = vectors[1]  # a copy of a better row of the same block is dropped, the next one kept
    assert select_indexes(scores, vectors, 3, 0.1, block=4) == [1, 2, 0]


def test_pairs_at_the_threshold_are_decided_by_the_float64_rule():
    """Copies placed within 1e-6 of the threshold, inside the float32 screen's margin: the float64 rule decides."""
    rng = np.random.default_rng(7)
    dim, threshold = 64, 0.1
    base = rng.standard_normal((200, dim))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    rows = [base]
    for gap in rng.uniform(-1e-6, 1e-6, (3, 200)):
        noise = rng.standard_normal((200, dim))
        noise -= (noise * base).sum(axis=1, keepdims=True) * base  # orthogonal to its source
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        angle = np.arccos(1 - threshold - gap)[:, None]
        rows.append(np.cos(angle) * base + np.sin(angle) * noise)
    vectors = np.concatenate(rows)
    scores = rng.random(len(vectors))
    for block in (16, 1024):
        expected = brute_force(scores, vectors, 10_000, threshold)
        assert select_indexes(scores, vectors, 10_000, threshold, block=block) == expected
    assert 200 < len(expected) < 800  # some copies kept, some dropped: the cases were really at the edge


def test_float16_and_memory_mapped_embeddings(tmp_path):
    scores, vectors = planted(500, 32, seed=3)
    half = vectors.astype(np.float16)
    assert select_indexes(scores, half, 100, 0.1, block=64) == brute_force(scores, half, 100, 0.1)
    mapped = np.lib.format.open_memmap(tmp_path / "e.npy", mode="w+", dtype=np.float32, shape=vectors.shape)
    mapped[:] = vectors
    mapped.flush()
    readonly = np.load(tmp_path / "e.npy", mmap_mode="r")
    assert select_indexes(scores, readonly, 100, 0.1) == brute_force(scores, vectors, 100, 0.1)


def test_select_on_rows_is_select_indexes_on_their_deita_scores():
    scores, vectors = planted(300, 16, seed=5)
    rows = [{"complexity_score": s, "quality_score": 2.0, INSTRUCTION_EMBEDDING: v.tolist()} for s, v in zip(scores, vectors)]
    rows[4]["quality_score"] = None  # one score alone
    expected = brute_force([deita_score(r) for r in rows], vectors, 120, 0.1)
    assert select(rows, 120, 0.1).kept == expected


@pytest.mark.parametrize("scores, vectors, message", [
    ([1.0, float("nan")], [[1.0, 0.0], [0.0, 1.0]], "score of row 1 is NaN"),
    ([1.0, 2.0], [[1.0, 0.0], [float("nan"), 1.0]], "row 1's embedding is not finite (NaN or infinity)"),
    ([1.0, 2.0, 3.0], [[1.0, 0.0], [0.0, 1.0]], "Deita selection wants N scores and N × d embeddings, got (3,) and (2, 2)"),
])
def test_select_indexes_refuses_bad_arrays_in_one_line(scores, vectors, message):
    with pytest.raises(BadInput) as caught:
        select_indexes(scores, vectors, 2)
    assert str(caught.value) == message


def test_a_large_kept_set_takes_smaller_blocks_and_selects_the_same(monkeypatch):
    """A block's products are capped (`_SIMS`); with a cap of 100 the blocks shrink to 16 candidates once 6 rows are kept."""
    from curation import deita_select

    monkeypatch.setattr(deita_select, "_SIMS", 100)
    scores, vectors = planted(800, 16, seed=11)
    for threshold in (0.05, 0.3):
        assert select_indexes(scores, vectors, 10_000, threshold) == brute_force(scores, vectors, 10_000, threshold)


def test_rows_with_embeddings_of_different_lengths_are_refused_in_one_line():
    rows = [{"complexity_score": 1.0, INSTRUCTION_EMBEDDING: [1.0, 0.0]}, {"complexity_score": 2.0, INSTRUCTION_EMBEDDING: [1.0]}]
    with pytest.raises(BadInput) as caught:
        select(rows, 2)
    assert str(caught.value) == f"the rows' {INSTRUCTION_EMBEDDING} vectors have different lengths [1, 2]"
