"""`curate dedup` and `curate generate --dedup` through the CLI: the bundled model, the real server, errors."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from curation.batch import list_batches, load_batch
from curation.cli import main
from curation.dedup import read_dropped
from curation.review.records import record_id
from tests.dedup.planted import THRESHOLD, planted_instructions, write_sft_batch


def invoke(args: list[str], **env: str):
    return CliRunner().invoke(main, args, env=env or None, catch_exceptions=False)


def one_error_line(result) -> str:
    """The error's one line (plus at most a hint), never a traceback."""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr + result.stdout
    assert lines and lines[0].startswith("Error: ") and len(lines) <= 2, result.stderr
    return lines[0]


def test_dedup_command_writes_a_child_batch(curation_home, tmp_path):
    texts, expected, _ = planted_instructions()
    parent = write_sft_batch(tmp_path, texts)
    result = invoke(["dedup", str(parent.path), "--threshold", str(THRESHOLD)])
    assert result.exit_code == 0, result.stderr
    (child,) = [b for b in list_batches().batches if b.manifest.get("parent", {}).get("batch_id") == parent.id]
    assert result.stdout.strip() == (
        f"Batch {child.id}: {len(texts) - len(expected)} rows kept, {len(expected)} near-duplicate(s) dropped "
        f"({len(expected)} within the batch; threshold {THRESHOLD}) → {child.path}")
    assert child.path.parent == curation_home / "batches" and child.path.name == child.id
    assert {r["parent_row"]: r["duplicate_of_row"] for r in read_dropped(child)} == expected


@pytest.mark.parametrize("threshold", ["0", "1.5", "-1"])
def test_bad_threshold_is_exit_2(curation_home, tmp_path, threshold):
    parent = write_sft_batch(tmp_path, ["a question about apples", "a question about pears"])
    result = invoke(["dedup", str(parent.path), "--threshold", threshold])
    assert result.exit_code == 2
    assert "threshold must be above 0 and at most 1" in one_error_line(result)


def test_threshold_1_is_served(curation_home, tmp_path):
    """The help says "at most 1": before, 1 ended in datasketch's "number of bands are too small"."""
    parent = write_sft_batch(tmp_path, ["What is a heat pump?", "WHAT is a heat pump!", "What is a heat pump, really?"])
    result = invoke(["dedup", str(parent.path), "--threshold", "1"])
    assert result.exit_code == 0, result.stderr
    assert "2 rows kept, 1 near-duplicate(s) dropped (1 within the batch; threshold 1.0)" in result.stdout


def test_generate_refuses_a_bad_dedup_threshold_before_generating(curation_home):
    before = len(list_batches().batches)
    result = invoke(["generate", "prompt", "--dedup", "2"])
    assert result.exit_code == 2 and "Invalid value for '--dedup'" in result.stderr
    assert len(list_batches().batches) == before


def test_generate_dedup_refuses_an_out_whose_generated_sibling_holds_a_batch(curation_home, tmp_path):
    """With --dedup, --out DIR also writes DIR-generated: a batch there is refused before generating."""
    out = tmp_path / "mine"
    write_sft_batch(tmp_path, ["a question about apples"]).path.rename(tmp_path / "mine-generated")
    before = len(list_batches().batches)
    result = invoke(["generate", "prompt", "--dedup", "--out", str(out)])
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: {out}-generated already holds a batch; choose another --out"
    assert len(list_batches().batches) == before and not out.exists()


def test_unknown_batch_is_exit_2(curation_home):
    result = invoke(["dedup", "no-such-batch"])
    assert result.exit_code == 2
    assert one_error_line(result).startswith("Error: no batch 'no-such-batch'")


def test_server_down_is_exit_1_without_the_key(curation_home, tmp_path):
    parent = write_sft_batch(tmp_path, ["a question about apples", "a question about pears"])
    key = "dedup-secret-key-0123456789"
    result = invoke(["dedup", str(parent.path), "--against", "anything", "-w", "ws"],
                    ARGILLA_API_URL="http://127.0.0.1:9", ARGILLA_API_KEY=key)
    assert result.exit_code == 1
    assert "cannot reach Argilla" in one_error_line(result) and key not in result.stderr + result.stdout
    assert [b for b in list_batches().batches if b.manifest.get("derived_by") == "dedup"
            and b.manifest["parent"]["batch_id"] == parent.id] == []


@pytest.mark.slow
def test_against_drops_rows_already_in_the_dataset(argilla_server, review_workspace, curation_home, tmp_path):
    texts, _, _ = planted_instructions()
    pushed = write_sft_batch(tmp_path, texts[:6])
    name = f"dedup-{uuid.uuid4().hex[:8]}"
    result = invoke(["push", str(pushed.path), "--dataset", name, "-w", review_workspace, "--no-progress"])
    assert result.exit_code == 0, result.stderr

    # a new batch: two rows already under review (one reworded), two new, one repeat of a new row
    new = [texts[2].upper() + "!", texts[8], texts[5], texts[9], texts[8] + " "]
    batch = write_sft_batch(tmp_path, new)
    result = invoke(["dedup", str(batch.path), "--against", name, "-w", review_workspace])
    assert result.exit_code == 0, result.stderr
    assert f"2 already in dataset '{name}'" in result.stdout
    (child,) = [b for b in list_batches().batches if b.manifest.get("parent", {}).get("batch_id") == batch.id]
    assert [r["instruction"] for r in child.rows()] == [texts[8], texts[9]]
    dropped = {r["parent_row"]: (r["found_in"], r["duplicate_of_record"], r["duplicate_of_row"]) for r in read_dropped(child)}
    assert dropped == {0: ("dataset", record_id(pushed.id, 2), None), 2: ("dataset", record_id(pushed.id, 5), None),
                       4: ("batch", None, 1)}
    d = child.manifest["dedup"]
    assert (d["removed"], d["within_batch"], d["against_dataset"]) == (3, 1, 2)
    assert d["against"] == {"dataset": name, "workspace": review_workspace, "records": 6}

    missing = invoke(["dedup", str(batch.path), "--against", "no-such-dataset", "-w", review_workspace])
    assert missing.exit_code == 2 and "no Argilla dataset 'no-such-dataset'" in one_error_line(missing)


@pytest.mark.slow
def test_generate_with_dedup_on_the_bundled_model(curation_home, tmp_path):
    seeds = tmp_path / "questions.txt"
    seeds.write_text("How do I boil an egg so the yolk stays soft?\n"
                     "how do I boil an egg, so the yolk stays soft!\n"
                     "Name three primary colours.\n")
    out = tmp_path / "asked-for"
    result = invoke(["generate", "responses", "--seeds", str(seeds), "-n", "3", "--num-generations", "2",
                     "--max-new-tokens", "8", "--temperature", "0", "--dedup", "-q", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    child = load_batch(second.split("→ ")[-1])
    parent = load_batch(child.manifest["parent"]["path"])
    # --out names the command's result: the child is in DIR, the generated batch beside it
    assert child.path == out and load_batch(str(out)).manifest["derived_by"] == "dedup"
    assert parent.path == tmp_path / "asked-for-generated" and child.manifest["parent"]["batch_id"] == parent.id
    assert first.startswith(f"Batch {parent.id}: 3 rows") and second.startswith(f"Batch {child.id}: 2 rows kept, 1 ")
    assert [r["instruction"] for r in child.rows()] == [parent.rows()[0]["instruction"], parent.rows()[2]["instruction"]]
    assert child.rows()[0]["generations"] == parent.rows()[0]["generations"]  # rows move whole
    assert [(r["parent_row"], r["duplicate_of_row"]) for r in read_dropped(child)] == [(1, 0)]
    assert child.manifest["dedup"]["threshold"] == 0.8 and child.manifest["parameters"] == parent.manifest["parameters"]
