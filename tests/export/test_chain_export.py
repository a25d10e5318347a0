"""A chained preference batch (responses → evol-quality → ultrafeedback, bundled model) through
push → an annotator's ranking → DPO export, whose card names the chain and where the
preferred responses came from."""

from __future__ import annotations

import uuid

import pyarrow.parquet as pq
import pytest

from curation.argilla.datasets import find_dataset
from curation.export import export_dataset
from curation.review.push import push_batch
from curation.review.records import record_id
from tests.generation.test_chains import lion_chain
from tests.review.annotators import add_annotator, answer

pytestmark = pytest.mark.slow


def test_chained_batch_push_review_dpo_export_names_the_chain(
    argilla_client, review_workspace, generation_home, monkeypatch, tmp_path
):
    monkeypatch.setenv("CURATION_HOME", str(generation_home))  # the export reads the manifests from here
    batches = lion_chain(tmp_path, num_rows=1)  # one record: the judge rates 4 candidates slowly on 2 cores
    batch = batches["ultrafeedback"]
    rows = batch.rows()
    name = f"chain-{uuid.uuid4().hex[:8]}"

    report = push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    assert report.sent >= 1
    dataset = find_dataset(argilla_client, name, review_workspace)
    width = max(len(r["generations"]) for r in rows)  # num_responses: auto
    assert [f.name for f in dataset.settings.fields] == ["instruction"] + [f"response_{i}" for i in range(1, width + 1)]

    # The annotator prefers the first rewrite and rejects the first original of every record.
    annotator = add_annotator(argilla_client, review_workspace, f"ann-{uuid.uuid4().hex[:6]}")
    records = {r.id: r for r in dataset.records(with_suggestions=False, with_responses=False)}
    answers, expected = {}, {}
    for index, row in enumerate(rows):
        rid = record_id(batch.id, index)
        if rid not in records:
            continue  # a row short of the dataset's width is refused at push (and listed as invalid)
        origins = row["candidate_origin"]
        assert records[rid].metadata["candidate_origin"] == [
            f"response_{i + 1}: {origin}" for i, origin in enumerate(origins)]
        best, worst = origins.index("evolved"), origins.index("original")
        order = [best] + [i for i in range(len(origins)) if i not in (best, worst)] + [worst]
        answers[rid] = ("submitted", {
            "ranking": [{"value": f"response_{i + 1}", "rank": rank} for rank, i in enumerate(order, start=1)],
            **{f"rating_{i + 1}": 3 for i in range(len(origins))},
        })
        expected[rid] = (row["generations"][best], row["generations"][worst])
    assert answers
    answer(annotator, dataset, answers)

    out = tmp_path / "export"
    exported = export_dataset(name, format="dpo", workspace=review_workspace, out=out, client=argilla_client)
    assert exported.exported == len(answers)
    table = [row for shard in sorted((out / "data").glob("*.parquet")) for row in pq.read_table(shard).to_pylist()]
    got = {r["record_id"]: (r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in table}
    assert got == expected
    assert {r["batch_id"] for r in table} == {batch.id} and {r["recipe"] for r in table} == {"ultrafeedback"}

    card = (out / "README.md").read_text()
    assert "## Chain of recipes" in card
    root = batches["responses"].manifest["seed_file"]
    chain = f"seed file `{root}` → responses → evol-quality → ultrafeedback"
    assert f"| {batch.id} | {chain} | {len(answers)} |" in card
    assert f"| evolved | original | {len(answers)} |" in card
