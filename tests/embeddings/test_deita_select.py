"""Deita selection (curation.deita_select) against an independent calculation on a fixture written here."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main
from curation.deita_select import card_lines, select, select_batch
from curation.embeddings import INSTRUCTION_EMBEDDING
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
