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


def test_generate_with_dedup_and_decontaminate_on_the_bundled_model(curation_home, tmp_path):
    """`curate generate --dedup --decontaminate`: the generated batch, its dedup child, then the child
    without the row whose instruction (a seed) a benchmark holds; --out names the last one."""
    leaked = "Natalia sold clips to 48 of her friends in April and then she sold half as many clips in May"
    seeds = tmp_path / "questions.txt"
    seeds.write_text("How do I boil an egg so the yolk stays soft?\n"
                     "how do I boil an egg, so the yolk stays soft!\n"
                     f"{leaked}. How many clips did she sell?\n")
    bench = write_jsonl(tmp_path / "gsm.jsonl", [{"question": f"{leaked.upper()}. How many in all?", "answer": "72"}])
    out = tmp_path / "asked-for"
    result = CliRunner().invoke(main, [
        "generate", "responses", "--seeds", str(seeds), "-n", "3", "--num-generations", "2", "--max-new-tokens",
        "8", "--temperature", "0", "--dedup", "--decontaminate", str(bench), "-q", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    generated_line, dedup_line, decontaminated_line = result.stdout.strip().splitlines()
    child = load_batch(str(out))
    deduped = load_batch(child.manifest["parent"]["path"])
    generated = load_batch(deduped.manifest["parent"]["path"])
    assert (child.path, deduped.path, generated.path) == (out, tmp_path / "asked-for-deduped",
                                                           tmp_path / "asked-for-generated")
    assert child.manifest["derived_by"] == "decontamination" and deduped.manifest["derived_by"] == "dedup"
    assert generated_line.startswith(f"Batch {generated.id}: 3 rows")
    assert dedup_line.startswith(f"Batch {deduped.id}: 2 rows kept, 1 ")
    assert decontaminated_line.startswith(f"Batch {child.id}: 1 rows kept, 1 contaminated row(s) dropped (gsm")
    assert [r["instruction"] for r in child.rows()] == [generated.rows()[0]["instruction"]]
    [dropped] = read_dropped(child)
    assert dropped["parent_row"] == 1 and dropped["benchmark_row"] == 0 and dropped["matched_in"] == "instruction"
    assert child.manifest["decontamination"]["ngram"] == 13


@pytest.mark.parametrize("args, message", [
    (["--decontaminate", "no-such-benchmark.jsonl"], "no-such-benchmark.jsonl"),
    (["--ngram", "8"], "--ngram sets the n-gram size of --decontaminate"),
    (["--decontaminate", "{bench}", "--ngram", "0"], "the n-gram size must be a whole number of at least 1"),
])
def test_generate_refuses_a_bad_decontaminate_before_generating(curation_home, tmp_path, args, message):
    bench = write_jsonl(tmp_path / "bench.jsonl", benchmark_rows(seed=1))
    seeds = tmp_path / "questions.txt"
    seeds.write_text("Name three primary colours.\n")
    before = {b.id for b in list_batches().batches}
    result = CliRunner().invoke(main, ["generate", "responses", "--seeds", str(seeds),
                                       *[a.format(bench=bench) for a in args]])
    assert result.exit_code == 2 and message in one_error_line(result)
    assert {b.id for b in list_batches().batches} == before  # nothing generated
