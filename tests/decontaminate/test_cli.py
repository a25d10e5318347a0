"""`curate decontaminate` through the CLI: the summary line, the child batch, the one-line errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from curation.batch import list_batches, load_batch
from curation.cli import main
from curation.decontaminate import read_dropped
from tests.decontaminate.planted import benchmark_rows, planted_sft_rows, write_jsonl, write_rows_batch


def invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def one_error_line(result) -> str:
    """The error's one line (plus at most a hint), never a traceback."""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr + result.stdout
    assert lines and lines[0].startswith("Error: ") and len(lines) <= 2, result.stderr
    return lines[0]


def children_of(parent) -> list:
    return [b for b in list_batches().batches if b.manifest.get("parent", {}).get("batch_id") == parent.id]


@pytest.fixture
def planted(curation_home, tmp_path):
    bench = benchmark_rows(seed=1)
    rows, expected = planted_sft_rows(bench)
    return write_rows_batch(tmp_path, rows), write_jsonl(tmp_path / "bench_a.jsonl", bench), rows, expected


def test_decontaminate_command_writes_a_child_batch(planted, curation_home, tmp_path):
    parent, path, rows, expected = planted
    other = write_jsonl(tmp_path / "other.jsonl", benchmark_rows(seed=2))
    result = invoke(["decontaminate", str(parent.path), "--against", str(path), "--against", str(other)])
    assert result.exit_code == 0, result.stderr
    (child,) = children_of(parent)
    assert result.stdout.strip() == (
        f"Batch {child.id}: {len(rows) - len(expected)} rows kept, {len(expected)} contaminated row(s) dropped "
        f"(bench_a: {len(expected)}, other: 0; 13-grams) → {child.path}")
    assert child.path.parent == curation_home / "batches"
    assert sorted(d["parent_row"] for d in read_dropped(child)) == sorted(expected)


def test_columns_and_ngram_options(planted, tmp_path):
    parent, path, rows, expected = planted
    out = tmp_path / "child"
    result = invoke(["decontaminate", str(parent.path), "--against", str(path), "--columns", "answer",
                     "--ngram", "12", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    child = load_batch(out)
    assert child.manifest["parent"]["batch_id"] == parent.id and child.manifest["decontamination"]["ngram"] == 12
    assert {d["parent_row"] for d in read_dropped(child)} == {r for r, e in expected.items() if e[1] == "answer"}


@pytest.mark.parametrize("case, message", [
    ("unknown batch", "Error: no batch 'no-such-batch'"),
    ("missing file", "Error: no benchmark file"),
    ("unsupported file", "is not .jsonl, .parquet, .csv"),
    ("unknown column", "has no column 'prompt'"),
    ("ngram 0", "the n-gram size must be a whole number of at least 1, got 0"),
    ("unknown dataset", "cannot load benchmark 'no-such-benchmark-folder-or-name' with datasets"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(planted, tmp_path, case, message):
    parent, path, _, _ = planted
    (tmp_path / "bench.txt").write_text("one line\n")
    args = {
        "unknown batch": ["no-such-batch", "--against", str(path)],
        "missing file": [str(parent.path), "--against", str(path), "--against", str(tmp_path / "gone.parquet")],
        "unsupported file": [str(parent.path), "--against", str(tmp_path / "bench.txt")],
        "unknown column": [str(parent.path), "--against", str(path), "--columns", "question,prompt"],
        "ngram 0": [str(parent.path), "--against", str(path), "--ngram", "0"],
        "unknown dataset": [str(parent.path), "--against", "no-such-benchmark-folder-or-name"],
    }[case]
    before = len(list_batches().batches)
    result = invoke(["decontaminate", *args])
    assert result.exit_code == 2
    assert message in one_error_line(result)
    assert len(list_batches().batches) == before and children_of(parent) == []
