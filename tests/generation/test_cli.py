"""`curate generate` / `curate batches` through click's CliRunner, including bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_generate_then_list_and_show(curation_home):
    result = invoke("generate", "prompt", "-n", "2", "--max-new-tokens", "32", "-q")
    assert result.exit_code == 0, result.output
    batch_dirs = [p for p in (curation_home / "batches").iterdir() if p.name.startswith("prompt-")]
    assert batch_dirs
    batch_id = max(batch_dirs, key=lambda p: p.stat().st_mtime).name
    assert f"Batch {batch_id}:" in result.output

    listed = invoke("batches", "list", "--json")
    assert listed.exit_code == 0
    assert batch_id in {b["batch_id"] for b in json.loads(listed.output)}

    shown = invoke("batches", "show", batch_id, "--rows", "1")
    assert shown.exit_code == 0
    manifest_text, first_row = shown.output.rsplit("\n{", 1)[0], shown.output.strip().splitlines()[-1]
    assert json.loads(manifest_text)["batch_id"] == batch_id
    assert {"instruction", "response"} <= set(json.loads(first_row))


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


SEED_FILES = {
    # name: (recipe, file name or None for no --seeds, file text, words of the one error line)
    "missing file": ("self-instruct", "nope.jsonl", None, "seed file not found"),
    "seeds required": ("evol-instruct", None, None, "needs --seeds FILE with column(s): instruction"),
    "malformed JSONL": ("responses", "bad.jsonl", '{"instruction": "ok"}\n{not json\n', "not valid JSONL"),
    "missing column": ("responses", "seeds.csv", "question\nWhat is rain?\n",
                       "missing column(s) instruction (recipe 'responses' needs: instruction; found: question)"),
    "deeply nested JSON": ("self-instruct", "deep.json", "[" * 100_000, "not valid JSON: nested too deeply to read"),
}


@pytest.mark.parametrize("case", list(SEED_FILES))
def test_bad_seeds_are_one_line_and_exit_2(case, curation_home, tmp_path):
    recipe, name, text, words = SEED_FILES[case]
    args = ["generate", recipe]
    if name is not None:
        if text is not None:
            (tmp_path / name).write_text(text)
        args += ["--seeds", str(tmp_path / name)]
    result = invoke(*args)
    assert result.exit_code == 2
    assert words in _error_line(result)
    assert "Traceback" not in result.output


def test_unknown_recipe(curation_home):
    result = CliRunner().invoke(main, ["generate", "haiku"])
    assert result.exit_code == 2
    assert "Invalid value for 'RECIPE'" in result.output


def test_unknown_backend(curation_home):
    result = invoke("generate", "prompt", "--backend", "gpt5000")
    assert result.exit_code == 2
    assert "unknown backend 'gpt5000'" in _error_line(result)


def test_unreachable_backend_is_a_service_failure_and_leaves_no_batch(curation_home, tmp_path):
    out = tmp_path / "batch"
    result = invoke("generate", "prompt", "--backend", "openai:some-model", "--base-url", "http://127.0.0.1:9/v1",
                    "--api-key", "sk-secret-value", "--out", str(out))
    assert result.exit_code == 1
    assert "backend openai unreachable at http://127.0.0.1:9/v1/models" in _error_line(result)
    assert "sk-secret-value" not in result.output
    assert not out.exists()


def test_missing_model_file_is_bad_input(curation_home, tmp_path):
    result = invoke("generate", "prompt", "--backend", f"llamacpp:{tmp_path / 'absent.gguf'}")
    assert result.exit_code == 2
    assert f"model file not found: {tmp_path / 'absent.gguf'}" in _error_line(result)


def test_show_unknown_batch(curation_home):
    result = invoke("batches", "show", "no-such-batch")
    assert result.exit_code == 2
    assert "no batch 'no-such-batch'" in _error_line(result)


def test_out_folder_holding_a_batch_is_refused(curation_home, tmp_path):
    from curation.batch import write_batch

    out = tmp_path / "batch"
    write_batch(out, [{"instruction": "Say hi.", "response": "Hi!"}], {"batch_id": "b1", "recipe": "prompt", "kind": "sft",
                                                                          "rows": {"kept": 1}})
    before = (out / "rows.parquet").read_bytes()
    result = invoke("generate", "prompt", "--out", str(out))
    assert result.exit_code == 2
    assert "already holds a batch" in _error_line(result)
    assert (out / "rows.parquet").read_bytes() == before


def test_deita_needs_an_sft_recipe(curation_home, seed_data):
    result = invoke("generate", "responses", "--seeds", str(seed_data / "instructions.jsonl"), "--deita")
    assert result.exit_code == 2
    assert "--deita scores instruction/response pairs" in _error_line(result)


def test_one_unreadable_batch_folder_does_not_hide_the_others(curation_home):
    from curation.batch import write_batch

    batches = curation_home / "batches"
    good = write_batch(batches / "good-batch", [{"instruction": "Say hi.", "response": "Hi!"}],
                       {"batch_id": "good-batch", "recipe": "prompt", "kind": "sft", "rows": {"kept": 1}})
    broken = batches / "broken-batch"
    broken.mkdir(parents=True, exist_ok=True)
    (broken / "manifest.json").write_text("{not json")
    kindless = batches / "kindless-batch"
    write_batch(kindless, [{"instruction": "a", "response": "b"}], {"batch_id": "kindless-batch", "recipe": "prompt",
                                                                   "kind": "sft", "rows": {"kept": 1}})
    manifest = json.loads((kindless / "manifest.json").read_text())
    del manifest["kind"]
    (kindless / "manifest.json").write_text(json.dumps(manifest))

    listed = invoke("batches", "list", "--json")
    assert listed.exit_code == 0, listed.output
    entries = {Path(e["path"]).name: e for e in json.loads(listed.output)}
    assert entries["good-batch"]["batch_id"] == good.id and "unreadable" not in entries["good-batch"]
    assert "not valid JSON" in entries["broken-batch"]["unreadable"]
    assert "lacks a valid 'kind'" in entries["kindless-batch"]["unreadable"]

    table = invoke("batches", "list")
    assert table.exit_code == 0 and "good-batch" in table.output and "unreadable" in table.output

    for folder, reason in ((broken, "not valid JSON"), (kindless, "lacks a valid 'kind'")):
        shown = invoke("batches", "show", str(folder))
        assert shown.exit_code == 2
        line = _error_line(shown)
        assert "is not a complete batch" in line and reason in line


@pytest.mark.parametrize("damage", ["truncated", "junk"])
def test_a_damaged_rows_file_is_one_line(curation_home, tmp_path, damage):
    from curation.batch import load_batch, write_batch
    from curation.errors import BatchNotFound

    rows = [{"instruction": f"Question {i}?", "response": "An answer. " * 50} for i in range(20)]
    batch = write_batch(tmp_path / "b", rows, {"batch_id": "b", "recipe": "prompt", "kind": "sft", "rows": {"kept": 20}})
    rows_file = batch.path / "rows.parquet"
    data = rows_file.read_bytes()
    rows_file.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"junk, not parquet")

    shown = invoke("batches", "show", str(batch.path))
    assert shown.exit_code == 2
    line = _error_line(shown)
    assert f"{rows_file} is damaged or not a Parquet file" in line
    assert "Traceback" not in shown.output
    with pytest.raises(BatchNotFound, match="is damaged or not a Parquet file"):
        load_batch(batch.path)
    # A Batch loaded before the damage (push holds one while it works) fails the same way when read.
    with pytest.raises(BatchNotFound, match="is damaged or not a Parquet file") as caught:
        batch.rows()
    assert caught.value.exit_code == 2
