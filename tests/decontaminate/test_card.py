"""The export card's contamination table, read from the manifests of the batches behind the exported rows."""

from __future__ import annotations

import datasets

from curation.batch import file_sha256, write_child_batch
from curation.decontaminate import decontaminate_batch, load_benchmark
from curation.export import card
from tests.decontaminate.planted import benchmark_rows, planted_sft_rows, write_jsonl, write_rows_batch


def test_card_lists_each_benchmark_with_its_hash_and_rows_dropped(curation_home, tmp_path):
    bench = benchmark_rows(seed=1)
    path = write_jsonl(tmp_path / "gsm|8k_*test*.jsonl", bench)  # Markdown in a file name is shown as written
    saved = tmp_path / "arc"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(bench[5:])}).save_to_disk(str(saved))
    rows, expected = planted_sft_rows(bench)
    parent = write_rows_batch(curation_home / "batches", rows)
    child = decontaminate_batch(parent, [load_benchmark(str(path)), load_benchmark(str(saved))])
    later = write_child_batch(child, child.rows()[:2], derived_by="selection", details={"kept": 2})  # a step after
    plain = write_rows_batch(curation_home / "batches", rows[:3])

    tally = card.Tally()
    tally.batches.update({later.id: 2, plain.id: 3, child.id: 1})
    section = card._decontamination_section(tally)
    text = "\n".join(section)
    assert section[0] == "## Benchmark contamination checked before review"
    fingerprint = child.manifest["decontamination"]["benchmarks"][1]["fingerprint"]["test"]
    table = [line for line in section if line.startswith(f"| {child.id} ")]
    assert table == [  # named once, whichever exported batch led to it; every row dropped counts for the first
        f"| {child.id} | gsm\\|8k\\_\\*test\\* | `{str(path.resolve()).replace('|', chr(92) + '|')}` "
        f"| sha256 `{file_sha256(path)}` | 13 | {len(rows)} | {len(expected)} |",
        f"| {child.id} | arc | `{saved.resolve()}` | fingerprint test `{fingerprint}` | 13 | {len(rows)} | 0 |",
    ]
    assert text.count("| ") and "selection" not in text

    tally_without = card.Tally()
    tally_without.batches.update({plain.id: 3})
    assert card._decontamination_section(tally_without) == []
