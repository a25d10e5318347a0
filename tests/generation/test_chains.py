"""Recipes chained through batches, on the bundled model with a few rows: 🐢 responses; 🐕 responses →
evol-quality; 🦁 responses → evol-quality → ultrafeedback; evol-instruct → responses.

Each stage is checked through its batch: the row shapes `--help` states, and the manifest
naming its parent (id and rows sha256) back to the .txt seed file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.batch import Batch, chain, lineage, rows_sha256
from curation.cli import main
from curation.generate import generate_batch
from curation.options import GenerationOptions

QUESTIONS = "Explain what a prime number is.\n\nDescribe how rain forms.\n"
SMALL = {"num_rows": 2, "max_new_tokens": 16, "num_generations": 2}


def lion_chain(folder: Path, num_rows: int = 2) -> dict[str, Batch]:
    """responses (from a .txt) → evol-quality (parent by id) → ultrafeedback (parent by folder).

    Re-running it with the same texts in the same CURATION_HOME resumes from distilabel's cache.
    """
    seeds = folder / "questions.txt"
    seeds.write_text(QUESTIONS)
    small = {**SMALL, "num_rows": num_rows}
    out = {"responses": generate_batch(GenerationOptions("responses", seeds=seeds, **small), display="quiet")}
    out["evol-quality"] = generate_batch(
        GenerationOptions("evol-quality", seeds=Path(out["responses"].id), **small), display="quiet")
    out["ultrafeedback"] = generate_batch(
        GenerationOptions("ultrafeedback", seeds=out["evol-quality"].path, **small), display="quiet")
    return out


@pytest.fixture(scope="module")
def home(generation_home):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATION_HOME", str(generation_home))
        yield generation_home


@pytest.fixture(scope="module")
def lion(home, tmp_path_factory) -> dict[str, Batch]:
    return lion_chain(tmp_path_factory.mktemp("lion"))


def assert_child_of(child: Batch, parent: Batch) -> None:
    entry = child.manifest["parent"]
    assert entry["batch_id"] == parent.id and entry["recipe"] == parent.recipe
    assert entry["rows_sha256"] == rows_sha256(parent)
    assert child.manifest["seed_file"] is None and child.manifest["seed_sha256"] is None


def test_help_states_the_row_shapes():
    text = " ".join(CliRunner().invoke(main, ["generate", "--help"]).output.split())
    assert "or a batch (id or folder)" in text and ".txt: one seed a line" in text
    assert "candidate_origin ['original'.., 'evolved'..]" in text
    assert "`instruction` + `generations` (a responses batch)" in text


@pytest.mark.slow
def test_turtle_responses_from_a_txt_seed_file(lion):
    batch = lion["responses"]
    rows = batch.rows()
    assert [r["instruction"] for r in rows] == ["Explain what a prime number is.", "Describe how rain forms."]
    for row in rows:
        assert len(row["generations"]) == len(row["generation_models"]) == 2
        assert all(g.strip() for g in row["generations"])
    assert batch.manifest["seed_file"].endswith("questions.txt") and len(batch.manifest["seed_sha256"]) == 64
    assert "parent" not in batch.manifest and chain(batch) == ["responses"]


@pytest.mark.slow
def test_dog_evol_quality_keeps_originals_and_marks_rewrites(lion):
    parent, batch = lion["responses"], lion["evol-quality"]
    assert_child_of(batch, parent)
    originals = {r["instruction"]: r for r in parent.rows()}
    rows = batch.rows()
    assert rows
    for row in rows:
        source = originals[row["instruction"]]
        n = len(source["generations"])
        evolved = len(row["generations"]) - n
        assert 1 <= evolved <= n
        assert row["generations"][:n] == source["generations"]  # originals first, untouched
        assert row["candidate_origin"] == ["original"] * n + ["evolved"] * evolved
        assert row["evolved_from"][:n] == [None] * n and len(set(row["evolved_from"][n:])) == evolved
        for i in range(n, n + evolved):
            assert row["generations"][i].strip() != source["generations"][row["evolved_from"][i]].strip()
        assert row["generation_models"][:n] == source["generation_models"]
        assert all(m.startswith("evol-quality:") for m in row["generation_models"][n:])
    assert chain(batch) == ["responses", "evol-quality"]


@pytest.mark.slow
def test_lion_ultrafeedback_rates_originals_and_evolved_without_generating(lion):
    parent, batch = lion["evol-quality"], lion["ultrafeedback"]
    assert_child_of(batch, parent)
    candidates = {r["instruction"]: r for r in parent.rows()}
    rows = batch.rows()
    assert rows
    for row in rows:
        source = candidates[row["instruction"]]
        assert row["generations"] == source["generations"]  # nothing generated, nothing lost
        assert row["candidate_origin"] == source["candidate_origin"]
        assert row["evolved_from"] == source["evolved_from"]
        n = len(row["generations"])
        assert len(row["ratings"]) == len(row["rationales"]) == n
        assert {"original", "evolved"} <= set(row["candidate_origin"])
        # Under the JSON grammar the bundled judge rates every candidate, originals and rewrites.
        assert all(isinstance(r, int) and 1 <= r <= 5 for r in row["ratings"]), row["ratings"]
        if row["chosen_index"] is not None:
            assert row["ratings"][row["chosen_index"]] > row["ratings"][row["rejected_index"]]
    steps = lineage(batch)
    assert [s["recipe"] for s in steps] == ["responses", "evol-quality", "ultrafeedback"]
    assert steps[0]["seed_file"] == lion["responses"].manifest["seed_file"]
    assert [s["batch_id"] for s in steps] == [lion[k].id for k in ("responses", "evol-quality", "ultrafeedback")]

    shown = CliRunner().invoke(main, ["batches", "show", batch.id, "--rows", "0"])
    assert shown.exit_code == 0 and shown.output.startswith("Chain: responses → evol-quality → ultrafeedback\n")


@pytest.mark.slow
def test_evol_instruct_then_several_responses_per_evolved_instruction(home, tmp_path):
    seeds = tmp_path / "instructions.txt"
    seeds.write_text("Give three tips for saving money.\nExplain what a prime number is.\nDescribe how rain forms.\n")
    # EvolInstruct picks its mutation at random, and a 16-token evolution of one seed was dropped by
    # clean-up in a full run: three seeds, 48 tokens and room for 2 rows leave clean-up something to keep.
    evolved = generate_batch(GenerationOptions("evol-instruct", seeds=seeds, num_rows=2, max_new_tokens=48),
                             display="quiet")
    assert evolved.manifest["seed_file"] == str(seeds)
    responses = generate_batch(GenerationOptions("responses", seeds=Path(evolved.id), num_rows=1,
                                                 max_new_tokens=16, num_generations=3, temperature=0.0),
                               display="quiet")
    assert_child_of(responses, evolved)
    instructions = [r["instruction"] for r in evolved.rows()]
    rows = responses.rows()
    assert rows and all(r["instruction"] in instructions for r in rows)
    assert all(len(r["generations"]) == 3 and all(g.strip() for g in r["generations"]) for r in rows)
    assert chain(responses) == ["evol-instruct", "responses"]
