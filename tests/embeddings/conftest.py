"""The paraphrase set as an sft batch, embedded once per session with the real bundled model."""

from __future__ import annotations

import json

import pytest

from bench.embeddings import load_paraphrases
from curation.batch import Batch, load_batch, new_batch_id, package_versions, write_batch

MODEL = "SmolLM2-135M-Instruct-Q4_1"


def write_sft_batch(folder, rows: list[dict], recipe: str = "prompt") -> Batch:
    """A complete sft batch of `rows` (instruction, response, ...) in the real on-disk format."""
    rows = [{"model_name": MODEL, "raw_output": json.dumps({"row": i}), **row} for i, row in enumerate(rows)]
    manifest = {"batch_id": new_batch_id(recipe), "recipe": recipe, "kind": "sft", "model": MODEL,
                "parameters": {}, "seed_file": None, "seed_sha256": None,
                "rows": {"requested": len(rows), "generated": len(rows), "kept": len(rows), "dropped": 0},
                "started_at": "2026-11-30T00:00:00+00:00", "versions": package_versions()}
    return write_batch(folder, rows, manifest)


@pytest.fixture(scope="session")
def paraphrases() -> list[dict]:
    """tests/data/paraphrases.jsonl: {"id", "instruction", "pair"} (pair None: unrelated)."""
    return load_paraphrases()


@pytest.fixture(scope="session")
def paraphrase_batch(paraphrases, tmp_path_factory) -> Batch:
    """The paraphrase set as an sft batch (no embeddings)."""
    rows = [{"instruction": p["instruction"], "response": f"An answer to: {p['instruction']}"} for p in paraphrases]
    return write_sft_batch(tmp_path_factory.mktemp("paraphrases") / "batch", rows)


@pytest.fixture(scope="session")
def embedded_batch(paraphrase_batch, tmp_path_factory) -> Batch:
    """`curate embed` of the paraphrase batch with the bundled model: a child batch with instruction_embedding."""
    from click.testing import CliRunner

    from curation.cli import main

    out = tmp_path_factory.mktemp("embedded") / "batch"
    result = CliRunner().invoke(main, ["embed", str(paraphrase_batch.path), "--out", str(out)],
                                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return load_batch(out)
