"""Decontamination of built batches: which rows go, what they name, the child batch and its manifest."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from curation.batch import file_sha256, lineage, load_batch, rows_sha256
from curation.decontaminate import (DROPPED_FILE, BenchmarkIndex, decontaminate_batch, find_contamination,
                                    load_benchmark, normalize, read_dropped)
from curation.errors import BadInput
from tests.decontaminate.planted import (FILLER, N, benchmark_rows, filler, planted_sft_rows, write_jsonl,
                                         write_rows_batch)


@pytest.fixture
def bench_a(tmp_path):
    rows = benchmark_rows(seed=1)
    return rows, write_jsonl(tmp_path / "bench_a.jsonl", rows)


def test_words_are_lowercased_and_stripped_of_punctuation():
    assert normalize("  Don't STOP: well-being, 42 times!\n¿Qué?") == ["don", "t", "stop", "well", "being", "42",
                                                                      "times", "qué"]


def test_the_fixture_plants_what_it_says():
    """The near miss shares exactly 12 consecutive words with its benchmark question; the filler shares none."""
    bench = benchmark_rows(seed=1)
    rows, _ = planted_sft_rows(bench)
    bench_words = {w for b in bench for w in normalize(b["question"] + " " + b["answer"])}
    assert not bench_words & set(FILLER)
    near = normalize(rows[4]["instruction"])
    shared = [w for w in near if w in bench_words]
    assert len(shared) == N - 1 and " ".join(shared) in " ".join(normalize(bench[3]["question"]))


def test_planted_overlaps_are_dropped_exactly(bench_a, tmp_path):
    bench, path = bench_a
    rows, expected = planted_sft_rows(bench)
    parent = write_rows_batch(tmp_path, rows)
    child = decontaminate_batch(parent, [load_benchmark(str(path))])

    dropped = read_dropped(child)
    assert {d["parent_row"]: (d["benchmark_row"], d["benchmark_column"], d["matched_in"], d["ngram"])
            for d in dropped} == expected
    assert {d["benchmark"] for d in dropped} == {"bench_a"} and {d["benchmark_split"] for d in dropped} == {None}
    # the dropped rows are kept whole, in the parent's columns
    assert [{k: d[k] for k in rows[0]} for d in dropped] == [rows[r] for r in sorted(expected)]
    # the child: the other rows, in order (the near miss and the short text not found among them)
    assert child.rows() == [r for i, r in enumerate(rows) if i not in expected]
    assert rows[4] in child.rows() and rows[7] in child.rows()


def test_the_manifest_records_each_benchmark(bench_a, tmp_path):
    bench, path = bench_a
    rows, expected = planted_sft_rows(bench)
    parent = write_rows_batch(tmp_path, rows)
    child = decontaminate_batch(parent, [load_benchmark(str(path))], out=tmp_path / "child")

    m = load_batch(child.path).manifest
    assert m["derived_by"] == "decontamination"
    assert m["parent"]["batch_id"] == parent.id and m["parent"]["rows_sha256"] == rows_sha256(parent)
    assert m["rows"] == {"requested": len(rows), "generated": len(rows), "kept": len(rows) - len(expected),
                         "dropped": len(expected)}
    d = m["decontamination"]
    assert d["ngram"] == N and d["rows_checked"] == len(rows) and d["removed"] == len(expected)
    assert d["dropped_file"] == DROPPED_FILE and (child.path / DROPPED_FILE).is_file()
    assert d["benchmarks"] == [{"name": "bench_a", "source": str(path.resolve()), "sha256": file_sha256(path),
                                "rows": len(bench), "columns": ["question", "answer"],
                                "rows_dropped": len(expected)}]
    assert [s["derived_by"] for s in lineage(child)] == [None, "decontamination"]
    assert load_batch(parent.path).rows() == rows  # the parent is never rewritten


def test_two_benchmarks_count_their_own_rows(bench_a, tmp_path):
    bench, path_a = bench_a
    other = benchmark_rows(seed=2)
    path_b = tmp_path / "bench_b.parquet"
    pq.write_table(pa.Table.from_pylist(other), path_b)
    rng = random.Random(5)
    rows = [
        {"instruction": bench[0]["question"], "response": filler(rng, 20)},               # A
        {"instruction": filler(rng, 20), "response": other[1]["answer"]},                # B
        {"instruction": other[2]["question"], "response": filler(rng, 20)},              # B
        {"instruction": filler(rng, 20), "response": filler(rng, 20)},                   # clean
        # both: the instruction (read first) holds B's words, the response A's
        {"instruction": other[3]["question"], "response": bench[3]["answer"]},           # B
        # one text holding both: the earlier words win; a tie in one n-gram would name A (given first)
        {"instruction": bench[6]["answer"] + " " + other[6]["answer"], "response": filler(rng, 20)},  # A
    ]
    parent = write_rows_batch(tmp_path, rows)
    child = decontaminate_batch(parent, [load_benchmark(str(path_a)), load_benchmark(str(path_b))])

    assert {d["parent_row"]: d["benchmark"] for d in read_dropped(child)} == {
        0: "bench_a", 1: "bench_b", 2: "bench_b", 4: "bench_b", 5: "bench_a"}
    counts = {b["name"]: b["rows_dropped"] for b in child.manifest["decontamination"]["benchmarks"]}
    assert counts == {"bench_a": 2, "bench_b": 3}
    assert child.manifest["decontamination"]["benchmarks"][1]["sha256"] == file_sha256(path_b)
    assert child.rows() == [rows[3]]


def test_an_ngram_in_two_benchmarks_names_the_first_given(bench_a, tmp_path):
    bench, path_a = bench_a
    copy = tmp_path / "copy.csv"
    pyarrow.csv.write_csv(pa.Table.from_pylist(bench), copy)
    parent = write_rows_batch(tmp_path, [{"instruction": bench[2]["question"], "response": "x y z"}])
    for order, name in (([path_a, copy], "bench_a"), ([copy, path_a], "copy")):
        child = decontaminate_batch(parent, [load_benchmark(str(p)) for p in order])
        assert [d["benchmark"] for d in read_dropped(child)] == [name]


def test_a_preference_candidate_is_checked(bench_a, tmp_path):
    bench, path = bench_a
    rng = random.Random(8)
    rows = [
        {"instruction": filler(rng, 15), "generations": [filler(rng, 20), filler(rng, 20)]},
        {"instruction": filler(rng, 15), "generations": [filler(rng, 20), filler(rng, 3) + " " + bench[7]["answer"]]},
        {"instruction": filler(rng, 15), "generations": None},
    ]
    for row in rows:
        row.update(generation_models=["m", "m"], raw_output="{}")
    parent = write_rows_batch(tmp_path, rows, kind="preference", recipe="responses")
    child = decontaminate_batch(parent, [load_benchmark(str(path))])
    (dropped,) = read_dropped(child)
    assert (dropped["parent_row"], dropped["matched_in"], dropped["benchmark_row"]) == (1, "generations[1]", 7)
    assert dropped["ngram"] == " ".join(normalize(bench[7]["answer"])[:N])
    assert child.kind == "preference" and child.rows() == [rows[0], rows[2]]


def test_columns_limit_what_is_compared(bench_a, tmp_path):
    bench, path = bench_a
    rows, expected = planted_sft_rows(bench)
    parent = write_rows_batch(tmp_path, rows)
    child = decontaminate_batch(parent, [load_benchmark(str(path), ["question"])])
    assert {d["parent_row"] for d in read_dropped(child)} == {r for r, e in expected.items() if e[1] == "question"}
    assert child.manifest["decontamination"]["benchmarks"][0]["columns"] == ["question"]
    with pytest.raises(BadInput, match="has no column 'prompt'"):
        load_benchmark(str(path), ["question", "prompt"])


def test_a_smaller_ngram_finds_the_near_miss(bench_a, tmp_path):
    bench, path = bench_a
    rows, expected = planted_sft_rows(bench)
    parent = write_rows_batch(tmp_path, rows)
    child = decontaminate_batch(parent, [load_benchmark(str(path))], n=N - 1)
    assert {d["parent_row"] for d in read_dropped(child)} == {*expected, 4}
    assert child.manifest["decontamination"]["ngram"] == N - 1


def test_a_saved_datasets_folder_is_a_benchmark(bench_a, tmp_path):
    import datasets

    bench, _ = bench_a
    folder = tmp_path / "saved"
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(bench[:4]),
                          "test": datasets.Dataset.from_list(bench[4:])}).save_to_disk(str(folder))
    rows, expected = planted_sft_rows(bench)
    parent = write_rows_batch(tmp_path, rows)
    loaded = load_benchmark(str(folder))
    child = decontaminate_batch(parent, [loaded])

    found = {d["parent_row"]: (d["benchmark_split"], d["benchmark_row"]) for d in read_dropped(child)}
    assert found == {row: ("validation", b) if b < 4 else ("test", b - 4) for row, (b, *_) in expected.items()}
    (entry,) = child.manifest["decontamination"]["benchmarks"]
    assert entry["name"] == "saved" and entry["rows"] == len(bench)
    assert set(entry["fingerprint"]) == {"validation", "test"} and all(entry["fingerprint"].values())
    assert "sha256" not in entry


def test_chunks_do_not_change_the_answer(bench_a):
    """Rows are streamed in chunks: the row numbers found are the same whatever the chunk size."""
    bench, path = bench_a
    rows, expected = planted_sft_rows(bench)
    index = BenchmarkIndex([load_benchmark(str(path))])
    table = pa.Table.from_pylist(rows)
    found = []
    for start in range(0, len(rows), 2):
        found += find_contamination(index, table.slice(start, 2).to_batches()[0], "sft", start)
    assert [c.row for c in found] == sorted(expected)


def test_bad_benchmarks_are_one_line_bad_input(tmp_path):
    with pytest.raises(BadInput, match="no benchmark file"):
        load_benchmark(str(tmp_path / "missing.jsonl"))
    text = tmp_path / "bench.txt"
    text.write_text("a line\n")
    with pytest.raises(BadInput, match="is not .jsonl, .parquet, .csv"):
        load_benchmark(str(text))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(BadInput, match="cannot be read as .jsonl"):
        load_benchmark(str(broken))
    numbers = write_jsonl(tmp_path / "numbers.jsonl", [{"a": 1}])
    with pytest.raises(BadInput, match="has no text column"):
        load_benchmark(str(numbers))


def test_list_columns_are_texts_and_other_types_are_refused(tmp_path):
    rng = random.Random(11)
    choices = [filler(rng, 14).replace("zq", "qz") for _ in range(3)]  # words of their own, not the batch filler's
    path = tmp_path / "mc.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "Which one?", "choices": choices, "answer": 2,
                                          "meta": {"source": "x"}}]), path)
    loaded = load_benchmark(str(path))
    assert loaded.columns == ["question", "choices"]  # every string and list-of-strings column
    rows = [{"instruction": filler(rng, 15), "response": filler(rng, 5) + " " + choices[1]},
            {"instruction": "which one", "response": filler(rng, 20)}]  # a short text inside the question
    child = decontaminate_batch(write_rows_batch(tmp_path, rows), [loaded])
    assert [(d["parent_row"], d["benchmark_column"], d["benchmark_row"], d["matched_in"]) for d in read_dropped(child)] \
        == [(0, "choices", 0, "response"), (1, "question", 0, "instruction")]
    assert load_benchmark(str(path), ["answer"]).texts.to_pylist() == ["2"]  # a named number column: its text
    with pytest.raises(BadInput, match="'meta' of benchmark .* cannot be compared as text"):
        load_benchmark(str(path), ["meta"])
