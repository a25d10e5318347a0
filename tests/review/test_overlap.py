"""Planned overlap: `curate push --overlap N` sets how many annotators each record needs, and
`curate status` counts records complete/pending against it — on the real embedded server."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from curation.argilla.datasets import find_dataset
from curation.cli import main
from curation.review.records import record_id
from tests.review.annotators import add_annotator, answer
from tests.review.sample_batches import write_sample_batch

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def error_lines(result) -> list[str]:
    return [line for line in (result.stderr + result.stdout).splitlines() if line.startswith("Error")]


def flat(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.stdout.split())


def submitted(rows: list[dict], index: int) -> tuple[str, dict]:
    return "submitted", {"instruction_rating": 4, "response_rating": 4, "response": rows[index]["response"]}


def test_overlap_2_record_completes_at_the_second_annotator(argilla_client, review_workspace, tmp_path):
    batch = write_sample_batch(tmp_path, "sft", 3, seed=5)
    rows = batch.rows()
    name = unique("overlap")
    pushed = invoke(["push", str(batch.path), "--dataset", name, "--overlap", "2", "--no-progress"])
    assert pushed.exit_code == 0, pushed.stderr

    # Read back through the SDK, as Argilla stores it (the default settings file says 1).
    dataset = argilla_client.datasets(name, workspace=review_workspace)
    assert dataset.settings.distribution.min_submitted == 2

    alice = add_annotator(argilla_client, review_workspace, unique("alice"))
    bob = add_annotator(argilla_client, review_workspace, unique("bob"))
    ids = [record_id(batch.id, i) for i in range(3)]
    answer(alice, dataset, {ids[0]: submitted(rows, 0), ids[1]: submitted(rows, 1)})
    answer(bob, dataset, {ids[0]: submitted(rows, 0)})

    statuses = {r.id: r.status for r in dataset.records(with_responses=False, with_suggestions=False)}
    assert statuses == {ids[0]: "completed", ids[1]: "pending", ids[2]: "pending"}

    as_json = invoke(["status", name, "--json"])
    assert as_json.exit_code == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["min_submitted"] == 2
    assert report["records"] == {"total": 3, "completed": 1, "pending": 2}
    assert report["overlap_warning"] is None
    text = invoke(["status", name])
    assert text.exit_code == 0, text.stderr
    assert "overlap 2: 1 of 3 records complete (33%), 2 pending" in flat(text)
    assert "agreement cannot be measured" not in flat(text)


def test_overlap_1_status_warns_agreement_cannot_be_measured(argilla_client, review_workspace, tmp_path):
    batch = write_sample_batch(tmp_path, "sft", 2, seed=6)
    name = unique("single")
    assert invoke(["push", str(batch.path), "--dataset", name, "--overlap", "1", "--no-progress"]).exit_code == 0
    assert argilla_client.datasets(name, workspace=review_workspace).settings.distribution.min_submitted == 1

    text = invoke(["status", name])
    assert text.exit_code == 0, text.stderr
    assert "overlap 1: 0 of 2 records complete (0%), 2 pending" in flat(text)
    assert flat(text).count("Warning: overlap 1: each record is complete after one annotator, "
                            "so agreement cannot be measured") == 1
    report = json.loads(invoke(["status", name, "--json"]).stdout)
    assert "agreement cannot be measured" in report["overlap_warning"]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_overlap_below_1_is_refused_and_nothing_is_created(argilla_client, review_workspace, tmp_path, value):
    batch = write_sample_batch(tmp_path, "sft", 2, seed=7)
    name = unique("refused")
    result = invoke(["push", str(batch.path), "--dataset", name, "--overlap", value, "--no-progress"])
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1 and f"Invalid value for '--overlap': {value} is not in the range" in lines[0], lines
    assert "Traceback" not in result.stderr + result.stdout
    assert find_dataset(argilla_client, name) is None


def test_a_different_overlap_for_an_existing_dataset_is_refused_and_nothing_is_pushed(
        argilla_client, review_workspace, tmp_path):
    first = write_sample_batch(tmp_path / "a", "sft", 2, seed=8)
    name = unique("existing")
    assert invoke(["push", str(first.path), "--dataset", name, "--overlap", "2", "--no-progress"]).exit_code == 0

    second = write_sample_batch(tmp_path / "b", "sft", 3, seed=9)
    result = invoke(["push", str(second.path), "--dataset", name, "--overlap", "3", "--no-progress"])
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "already exists with overlap 2" in lines[0] and "--overlap 3" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    dataset = find_dataset(argilla_client, name)
    assert len(list(dataset.records(with_responses=False, with_suggestions=False))) == 2
    assert dataset.settings.distribution.min_submitted == 2

    # The same overlap (or none) pushes as before.
    again = invoke(["push", str(second.path), "--dataset", name, "--overlap", "2", "--no-progress"])
    assert again.exit_code == 0, again.stderr
    assert len(list(dataset.records(with_responses=False, with_suggestions=False))) == 5


def test_run_refuses_a_different_overlap_before_generating(argilla_client, review_workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    batch = write_sample_batch(tmp_path / "a", "sft", 2, seed=10)
    name = unique("run-existing")
    assert invoke(["push", str(batch.path), "--dataset", name, "--overlap", "2", "--no-progress"]).exit_code == 0

    result = invoke(["run", "prompt", "-n", "1", "--dataset", name, "--overlap", "1", "-q"])
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "already exists with overlap 2" in lines[0]
    assert not (tmp_path / "home" / "batches").exists()  # nothing was generated
