"""`curate generate --embed` / `--deita-select K` on the bundled model (a tiny real run)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main
from curation.embeddings import INSTRUCTION_EMBEDDING

pytestmark = pytest.mark.slow


def test_generate_with_deita_select_keeps_k_of_n_with_embeddings(curation_home, seed_data, tmp_path):
    out = tmp_path / "selected"
    result = CliRunner().invoke(main, [
        "generate", "evol-instruct", "--seeds", str(seed_data / "instructions.jsonl"), "-n", "2",
        "--max-new-tokens", "32", "--deita-select", "1", "--deita-threshold", "0.0", "--out", str(out), "-q",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    batch = load_batch(out)
    selection, embed = batch.manifest["selection"], batch.manifest["embed"]
    generated = batch.manifest["rows"]["generated"]
    assert selection["of"] <= generated and selection["kept"] == min(1, selection["of"]) == len(batch.rows())
    assert (selection["k"], selection["threshold"]) == (1, 0.0)
    assert embed["dimensions"] == 576 and batch.manifest["parameters"]["deita"] is True  # --deita-select implies it
    rows = batch.rows()
    scores = [r["deita_score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r["deita_score"] == pytest.approx(r["complexity_score"] * r["quality_score"]) for r in rows)
    assert all(len(r[INSTRUCTION_EMBEDDING]) == 576 for r in rows)
    assert f"kept {selection['kept']} of {selection['of']}" in result.stdout
