"""`curate export --decontaminate`: the rule of `curate decontaminate`, on what the export writes.

The planted sft rows (tests/decontaminate/planted.py) are pushed to the session's server and
submitted by an annotator who keeps every proposal but two: row 5's contaminated response is
corrected into clean words (so it is exported), and clean row 8's response is corrected into
benchmark A row 6's answer (so the export leaves it out, though the batch was clean).
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.review.records import record_id
from tests.decontaminate.planted import benchmark_rows, filler, planted_sft_rows, write_jsonl, write_rows_batch
from tests.report.known_reviews import unique

DROPPED = {1: 0, 2: 1, 3: 2, 6: 5, 8: 6}  # row -> the benchmark row it shares words with
KEPT = [0, 4, 5, 7]


@pytest.fixture(scope="module")
def reviewed(argilla_client, review_workspace, tmp_path_factory):
    import random

    from curation.argilla.datasets import find_dataset
    from curation.review.push import push_batch
    from tests.review.annotators import add_annotator, answer

    root = tmp_path_factory.mktemp("export-decontaminate")
    bench = benchmark_rows(1)
    rows, _ = planted_sft_rows(bench)
    batch = write_rows_batch(root, rows)
    name = unique("decontaminate-export")
    push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    corrected = {i: r["response"] for i, r in enumerate(rows)}
    corrected[5] = filler(random.Random(5), 30)
    corrected[8] = "Here it is: " + bench[6]["answer"]
    annotator = add_annotator(argilla_client, review_workspace, unique("decontaminate-ann"))
    answer(annotator, find_dataset(argilla_client, name, review_workspace), {
        record_id(batch.id, i): ("submitted", {"instruction_rating": 4, "response": text, "response_rating": 4})
        for i, text in corrected.items()})
    return name, batch, write_jsonl(root / "bench_a.jsonl", bench), corrected


def test_export_leaves_out_contaminated_rows_after_corrections_and_names_them_on_the_card(reviewed, review_workspace,
                                                                                         tmp_path):
    name, batch, bench_file, corrected = reviewed
    out = tmp_path / "export"
    result = CliRunner().invoke(main, ["export", name, "--format", "sft", "--workspace", review_workspace,
                                       "--out", str(out), "--decontaminate", str(bench_file)])
    assert result.exit_code == 0, result.output
    assert "Exported 4 of 9 records" in result.output and "contaminated 5" in result.output
    assert "Checked 9 rows against 1 benchmark(s) (13-grams): 5 left out (bench_a 5)" in result.output

    table = pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()
    assert sorted(row["record_id"] for row in table) == sorted(record_id(batch.id, i) for i in KEPT)
    by_id = {row["record_id"]: row for row in table}
    assert by_id[record_id(batch.id, 5)]["messages"][1]["content"] == corrected[5]  # the correction was checked

    card = (out / "README.md").read_text()
    assert "## Benchmark contamination checked at export" in card
    assert "| shares words with a benchmark (`contaminated`) | 5 |" in card
    assert "| bench\\_a |" in card and "| 9 | 5 |" in card  # the card escapes Markdown
    for row, bench_row in DROPPED.items():
        line = next(line for line in card.splitlines() if f"`{record_id(batch.id, row)}`" in line)
        assert f"| bench\\_a | {bench_row} | {'response' if row == 8 else 'prompt'} |" in line, line


def test_an_export_without_it_has_no_contamination_row(reviewed, review_workspace, tmp_path):
    name, _, _, _ = reviewed
    result = CliRunner().invoke(main, ["export", name, "--format", "sft", "--workspace", review_workspace,
                                       "--out", str(tmp_path / "plain")])
    assert result.exit_code == 0, result.output
    assert "Exported 9 of 9 records" in result.output
    card = (tmp_path / "plain" / "README.md").read_text()
    assert "contaminated" not in card and "Benchmark contamination" not in card


@pytest.mark.parametrize("args, message", [
    (["--ngram", "8"], "--ngram sets the n-gram size of --decontaminate"),
    (["--decontaminate", "no-such-file.jsonl"], "no-such-file"),
    (["--decontaminate", "{bench}", "--ngram", "0"], "ngram"),
])
def test_bad_input_is_one_line_and_writes_nothing(reviewed, review_workspace, tmp_path, args, message):
    name, _, bench_file, _ = reviewed
    out = tmp_path / "never"
    result = CliRunner().invoke(main, ["export", name, "--format", "sft", "--workspace", review_workspace,
                                       "--out", str(out), *[a.format(bench=bench_file) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()
