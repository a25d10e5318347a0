"""Every recipe, run for real with the bundled SmolLM2 on a few rows, checked through its batch."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from curation.batch import load_batch
from curation.generate import generate_batch
from curation.options import GenerationOptions

pytestmark = pytest.mark.slow

SFT_COLUMNS = {"instruction", "response", "model_name", "raw_output"}
PREFERENCE_COLUMNS = {"instruction", "generations", "generation_models", "raw_output"}

CASES = [
    # recipe, seed file, kind, extra columns
    ("prompt", None, "sft", {"topic"}),
    ("self-instruct", "topics.jsonl", "sft", {"input"}),
    ("magpie", None, "sft", set()),
    ("evol-instruct", "instructions.jsonl", "sft", {"seed_instruction"}),
    ("responses", "instructions.jsonl", "preference", set()),
    ("evol-quality", "pairs.jsonl", "preference", set()),
    ("ultrafeedback", "instructions.jsonl", "preference",
     {"ratings", "rationales", "judge_model", "chosen_index", "rejected_index"}),
]


@pytest.mark.parametrize("recipe,seed_file,kind,extra", CASES, ids=[c[0] for c in CASES])
def test_recipe_writes_a_complete_batch(recipe, seed_file, kind, extra, curation_home, seed_data, bundled_model):
    seeds = seed_data / seed_file if seed_file else None
    batch = generate_batch(GenerationOptions(recipe, seeds=seeds, num_rows=2, max_new_tokens=48), display="quiet")

    assert batch.path.parent == curation_home / "batches"
    table = pq.read_table(batch.path / "rows.parquet")
    rows = table.to_pylist()
    expected = (SFT_COLUMNS if kind == "sft" else PREFERENCE_COLUMNS) | extra
    assert expected <= set(table.column_names)
    assert 1 <= len(rows) <= 2

    manifest = json.loads((batch.path / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["recipe"] == recipe and manifest["kind"] == kind
    assert manifest["batch_id"] == batch.path.name
    assert manifest["model"] == "SmolLM2-135M-Instruct-Q4_1"
    assert manifest["backend"]["backend"] == "llamacpp"
    assert manifest["rows"]["kept"] == len(rows) and manifest["rows"]["requested"] == 2
    assert manifest["parameters"]["max_new_tokens"] == 48
    assert manifest["started_at"] <= manifest["finished_at"]
    assert {"distilabel", "argilla", "datasets"} <= set(manifest["versions"])
    if seeds:
        import hashlib

        assert manifest["seed_sha256"] == hashlib.sha256(seeds.read_bytes()).hexdigest()
    else:
        assert manifest["seed_sha256"] is None

    for row in rows:
        assert row["instruction"].strip()
        json.loads(row["raw_output"])  # the uncleaned model output is kept, as JSON
        if kind == "sft":
            assert row["response"].strip() and row["model_name"] == "SmolLM2-135M-Instruct-Q4_1"
        else:
            assert len(row["generations"]) == len(row["generation_models"]) >= 2
            assert all(g.strip() for g in row["generations"])
    if recipe == "ultrafeedback":
        for row in rows:
            assert len(row["ratings"]) == len(row["rationales"]) == len(row["generations"])
            # The bundled judge answers under a JSON grammar: every response gets a 1-5 rating.
            assert all(isinstance(r, int) and 1 <= r <= 5 for r in row["ratings"]), row["ratings"]
            if row["chosen_index"] is not None:
                assert row["ratings"][row["chosen_index"]] > row["ratings"][row["rejected_index"]]
    if recipe == "evol-quality":
        assert all(row["generation_models"][0] == "seed" for row in rows)
        assert all(row["generation_models"][1].startswith("evol-quality:") for row in rows)

    assert load_batch(batch.id).manifest == manifest


def test_rerun_resumes_from_distilabels_cache(curation_home, seed_data):
    """Same recipe + seeds + options: the second run reuses the cached generations (sampling at 0.7 would differ)."""
    options = GenerationOptions("responses", seeds=seed_data / "instructions.jsonl", num_rows=2, max_new_tokens=32)
    first = generate_batch(options, display="quiet")
    again = generate_batch(options, display="quiet")
    assert first.id != again.id
    assert [r["generations"] for r in first.rows()] == [r["generations"] for r in again.rows()]


def test_deita_scores_are_added_as_metadata(curation_home, seed_data):
    options = GenerationOptions("evol-instruct", seeds=seed_data / "instructions.jsonl", num_rows=1, max_new_tokens=32,
                                deita=True)
    batch = generate_batch(options, display="quiet")
    row = batch.rows()[0]
    # The bundled judge answers under a JSON grammar, so both Deita scores parse, on their 1-6 scale.
    for key in ("complexity_score", "quality_score"):
        assert isinstance(row[key], float) and 1 <= row[key] <= 6, row
    assert batch.manifest["parameters"]["deita"] is True
