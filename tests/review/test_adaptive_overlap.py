"""Adaptive overlap: `curate push --overlap-policy adaptive` sends the records whose review priority is in
the queue's top band to DATASET-overlap, which needs more annotators; status, export and report read the
pair as one dataset. On the real embedded server, with two annotators answering through the SDK.

The batch's priorities are worked out by hand in tests/review/priority_batches.py (KNOWN), from the
documented formula and the shipped weights; the default threshold is 0.75 (the top band):

    row 0  ratings [3, missing]   0.8   -> DATASET-overlap
    row 1  ratings [3, missing]   0.8   -> DATASET-overlap
    row 2  ratings [4, 4]         0.7   -> DATASET
    row 3  ratings [5, 1]         0.0   -> DATASET
    row 4  ratings [4, 2]         0.25  -> DATASET

Pushed with --overlap 1: DATASET needs 1 submission a record, DATASET-overlap 2 (the default, 1 + 1).
alice submits all five, bob only row 0: rows 0, 2, 3, 4 are complete, row 1 (one submission of the
two it needs) is pending, and the export holds rows 0, 2, 3, 4.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from curation.argilla.datasets import find_dataset
from curation.batch import new_batch_id, package_versions, write_batch
from curation.review.records import record_id
from tests.review.annotators import add_annotator, answer
from tests.review.priority_batches import KNOWN, preference_row, write_preference_batch
from tests.review.sample_batches import sft_rows
from tests.review.test_overlap import error_lines, flat, invoke, unique

pytestmark = pytest.mark.slow

PLAN = ["unparsed", "unparsed", "tie", "clear", "gap-2"]
BY_HAND = [0.8, 0.8, 0.7, 0.0, 0.25]  # KNOWN's priorities of PLAN, restated: the test reads them here
UP = [0, 1]  # the rows at or above 0.75


def ids_of(dataset) -> set[str]:
    return {r.id for r in dataset.records(with_responses=False, with_suggestions=False)}


def first_is_best() -> tuple[str, dict]:
    return "submitted", {"ranking": [{"value": "response_1", "rank": 1}, {"value": "response_2", "rank": 2}],
                         "rating_1": 4, "rating_2": 2}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    assert [KNOWN[case][2] for case in PLAN] == BY_HAND
    rows = [preference_row(i, list(KNOWN[case][0]), KNOWN[case][1]) for i, case in enumerate(PLAN)]
    return write_preference_batch(tmp_path_factory.mktemp("adaptive"), rows)


def test_top_band_goes_to_the_sibling_and_the_pair_reads_as_one(argilla_client, review_workspace, batch, tmp_path):
    name = unique("adaptive")
    pushed = invoke(["push", str(batch.path), "--dataset", name, "--overlap", "1", "--overlap-policy", "adaptive",
                     "--no-progress"])
    assert pushed.exit_code == 0, pushed.stderr
    assert (f"Adaptive overlap: 2 of them (review_priority >= 0.75) went to dataset '{name}-overlap' (created), "
            "2 annotators per record; the other 3 need 1.") in flat(pushed)

    main_ds = find_dataset(argilla_client, name, review_workspace)
    sibling = find_dataset(argilla_client, f"{name}-overlap", review_workspace)
    assert sibling is not None
    assert main_ds.settings.distribution.min_submitted == 1
    assert sibling.settings.distribution.min_submitted == 2
    ids = [record_id(batch.id, i) for i in range(len(PLAN))]
    assert ids_of(sibling) == {ids[i] for i in UP}
    assert ids_of(main_ds) == {ids[i] for i in range(len(PLAN)) if i not in UP}
    for record in sibling.records(with_responses=False, with_suggestions=False):
        assert record.metadata["overlap_of"] == name
        assert record.metadata["review_priority"] == pytest.approx(0.8)

    # Re-pushing, even with a threshold that would now take row 2 (0.7), or with the fixed policy,
    # leaves every record where it went and sends nothing.
    for extra in (["--overlap-policy", "adaptive", "--adaptive-threshold", "0.5"], []):
        again = invoke(["push", str(batch.path), "--dataset", name, "--no-progress", *extra])
        assert again.exit_code == 0, again.stderr
        assert "Pushed 0 new record(s)" in again.stdout and "5 were already there" in again.stdout
    assert ids_of(sibling) == {ids[i] for i in UP}
    assert len(ids_of(main_ds)) == 3
    # The sibling gets records only through its main dataset.
    _refused(invoke(["push", str(batch.path), "--dataset", f"{name}-overlap", "--no-progress"]),
             "is the overlap part of another dataset")
    # The sibling keeps the overlap it was created with.
    _refused(invoke(["push", str(batch.path), "--dataset", name, "--overlap-policy", "adaptive",
                     "--adaptive-overlap", "3", "--no-progress"]), "already exists with overlap 2")

    alice = add_annotator(argilla_client, review_workspace, unique("alice"))
    bob = add_annotator(argilla_client, review_workspace, unique("bob"))
    answer(alice, main_ds, {ids[i]: first_is_best() for i in (2, 3, 4)})
    answer(alice, sibling, {ids[i]: first_is_best() for i in UP})
    answer(bob, sibling, {ids[0]: first_is_best()})

    status = json.loads(invoke(["status", name, "--json"]).stdout)
    assert [(p["dataset"], p["min_submitted"], p["records"]) for p in status["parts"]] == [
        (name, 1, {"total": 3, "completed": 3, "pending": 0}),
        (f"{name}-overlap", 2, {"total": 2, "completed": 1, "pending": 1}),
    ]
    assert status["records"] == {"total": 5, "completed": 4, "pending": 1}
    assert {user: counts["submitted"] for user, counts in status["annotators"].items()} == {
        alice.me.username: 5, bob.me.username: 1}
    assert status["agreement"]["ranking"]["records"] == 1  # row 0, the one record both submitted
    assert "agreement is measured only on the records of the overlap part" in status["overlap_warning"]
    text = flat(invoke(["status", name]))
    assert "4 of 5 records complete (80%), 1 pending, in 2 parts" in text
    assert f"{name}: overlap 1: 3 of 3 records complete (100%), 0 pending" in text
    assert f"{name}-overlap: overlap 2: 1 of 2 records complete (50%), 1 pending" in text

    out = tmp_path / "dpo"
    exported = invoke(["export", name, "--format", "dpo", "--out", str(out)])
    assert exported.exit_code == 0, exported.stderr
    assert f"min submitted 1 in '{name}', 2 in '{name}-overlap'" in flat(exported)
    assert "too_few_submitted 1" in exported.stdout
    rows = pq.read_table(out / "data").to_pylist()
    assert sorted(row["record_id"] for row in rows) == sorted(ids[i] for i in (0, 2, 3, 4))
    assert all(row["chosen"][-1]["content"].startswith("A first answer") for row in rows)
    assert "at least **2**" in (out / "README.md").read_text()

    page = tmp_path / "report.html"
    report = invoke(["report", name, "--json", "--out", str(page)])
    assert report.exit_code == 0, report.stderr
    assert f"with its overlap part {name}-overlap" in page.read_text()
    figures = json.loads(report.stdout)
    assert figures["parts"] == [name, f"{name}-overlap"]
    assert figures["records"]["total"] == 5 and figures["records"]["submitted"] == 5
    assert figures["rounds"][0]["admitted"] == 4 and figures["rounds"][0]["reviewed"] == 5

    # The next round reads the pair as export does: --seeds and --examples take the sibling's row 0 too.
    from curation.examples import read_admitted
    from tests.export.test_reviewed_seeds import seeds_for

    seeds = seeds_for("ultrafeedback", f"argilla:{name}", workspace=review_workspace)
    assert sorted(row["source_record_id"] for row in seeds) == sorted(ids[i] for i in (0, 2, 3, 4))
    assert seeds.dataset["admitted"] == 4
    examples = read_admitted(f"argilla:{name}:4", workspace=review_workspace, client=argilla_client)
    assert [record_id for record_id, _, _ in examples.records] == sorted(ids[i] for i in (0, 2, 3, 4))


def _refused(result, needle: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and needle in lines[0], lines
    assert "Traceback" not in result.stderr + result.stdout


def _sft_batch_without_scores(root):
    rows = [{k: v for k, v in row.items() if k not in ("quality_score", "complexity_score")} for row in sft_rows(2)]
    batch_id = new_batch_id("self-instruct")
    manifest = {"batch_id": batch_id, "kind": "sft", "recipe": "self-instruct", "num_rows": 2,
                "rows": {"kept": 2, "dropped": 0}, "backend": "llamacpp", "model": "m",
                "started_at": "2025-01-01T00:00:00+00:00", "versions": package_versions()}
    return write_batch(root / batch_id, rows, manifest)


@pytest.mark.parametrize("args, needle", [
    (["--overlap-policy", "adaptive", "--priority", "none"], "scored with --priority none"),
    (["--overlap", "2", "--overlap-policy", "adaptive", "--adaptive-overlap", "2"],
     "must be more than dataset"),
    (["--overlap-policy", "adaptive", "--adaptive-overlap", "0"], "Invalid value for '--adaptive-overlap'"),
    (["--overlap-policy", "sometimes"], "Invalid value for '--overlap-policy'"),
    (["--adaptive-overlap", "3"], "--adaptive-overlap applies only with --overlap-policy adaptive"),
    (["--overlap-policy", "adaptive", "--adaptive-threshold", "1.5"], "Invalid value for '--adaptive-threshold'"),
], ids=["no priority", "M not above N", "M below 1", "unknown policy", "M without the policy", "threshold > 1"])
def test_bad_input_is_one_line_and_creates_nothing(argilla_client, review_workspace, batch, args, needle):
    name = unique("refused")
    _refused(invoke(["push", str(batch.path), "--dataset", name, "--no-progress", *args]), needle)
    assert find_dataset(argilla_client, name) is None
    assert find_dataset(argilla_client, f"{name}-overlap") is None


def test_a_batch_without_any_priority_is_refused(argilla_client, review_workspace, tmp_path):
    name = unique("unscored")
    sft = _sft_batch_without_scores(tmp_path)
    _refused(invoke(["push", str(sft.path), "--dataset", name, "--overlap-policy", "adaptive", "--no-progress"]),
             "scored with --priority none")
    assert find_dataset(argilla_client, name) is None
    assert find_dataset(argilla_client, f"{name}-overlap") is None


def test_an_existing_dataset_named_like_the_sibling_is_not_taken_over(argilla_client, review_workspace, batch,
                                                                      tmp_path):
    name = unique("taken")
    other = invoke(["push", str(batch.path), "--dataset", f"{name}-overlap", "--no-progress"])
    assert other.exit_code == 0, other.stderr
    _refused(invoke(["push", str(batch.path), "--dataset", name, "--overlap-policy", "adaptive", "--no-progress"]),
             "is not the overlap part of")
    assert find_dataset(argilla_client, name) is None


def test_run_refuses_adaptive_with_no_priority_before_generating(argilla_client, review_workspace, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    name = unique("run-adaptive")
    _refused(invoke(["run", "prompt", "-n", "1", "--dataset", name, "--overlap-policy", "adaptive",
                     "--priority", "none", "-q"]), "--priority none gives none")
    assert not (tmp_path / "home" / "batches").exists()  # nothing was generated
    assert find_dataset(argilla_client, name) is None
