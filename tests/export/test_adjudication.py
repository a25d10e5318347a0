"""`curate adjudicate`: annotators' conflicts go to a reviewer, and export takes the reviewer's answer.

Everything runs on the session's real server: annotators and the reviewer answer through the SDK
as the Argilla UI does (tests/review/annotators.py), the commands run as users run them.

Preference records (3 responses; ranking as {response: rank}):
    r1  ann1: 1 > 2 > 3, ann2: 3 > 2 > 1       a conflict (different chosen response)
    r2  both: 2 > 1 > 3                          agreed
    r3  added later, ann1: 1 > 2 > 3, ann2: 2 > 1 > 3   a conflict found by a re-run
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.export.conftest import _settings
from tests.export.test_cli import curate
from tests.export.test_export import read_back
from tests.review.annotators import add_annotator, answer

pytestmark = pytest.mark.slow


def _ranking(order: dict[int, int]) -> dict:
    """A submitted preference answer: the ranking as ranks (the server wants them), every rating 3."""
    return {"ranking": [{"value": f"response_{k}", "rank": r} for k, r in order.items()],
            **{f"rating_{k}": 3 for k in order}}


def _record(n: int):
    import argilla as rg

    return rg.Record(id=f"r{n}", fields={"instruction": f"Q{n}", **{f"response_{k}": f"R{n}-{k}" for k in (1, 2, 3)}},
                     metadata={"batch_id": "b-adj", "recipe": "ultrafeedback", "model": "m"})


def _workspaces(client) -> set[str]:
    return {w.name for w in client.api.workspaces.list()}


@pytest.fixture(scope="module")
def team(argilla_client, tmp_path_factory):
    """A workspace with two annotators and a preference dataset; a reviewer in another workspace."""
    import argilla as rg

    client, tag = argilla_client, uuid.uuid4().hex[:6]
    ws = rg.Workspace(name=f"adj-{tag}", client=client).create()
    rg.Workspace(name=f"rev-{tag}", client=client).create()
    ann1 = add_annotator(client, ws.name, f"ann1-{tag}")
    ann2 = add_annotator(client, ws.name, f"ann2-{tag}")
    reviewer = add_annotator(client, f"rev-{tag}", f"reviewer-{tag}")
    settings = _settings(client, "preference", tmp_path_factory.mktemp("adj-configs"), num_responses=3)
    dataset = rg.Dataset(f"prefs-{tag}", workspace=ws, settings=settings, client=client).create()
    dataset.records.log([_record(1), _record(2)])
    answer(ann1, dataset, {"r1": ("submitted", _ranking({1: 1, 2: 2, 3: 3})), "r2": ("submitted", _ranking({2: 1, 1: 2, 3: 3}))})
    answer(ann2, dataset, {"r1": ("submitted", _ranking({3: 1, 2: 2, 1: 3})), "r2": ("submitted", _ranking({2: 1, 1: 2, 3: 3}))})
    return dict(tag=tag, ws=ws.name, dataset=dataset, ann1=ann1, ann2=ann2, reviewer=reviewer)


def test_a_conflict_is_settled_by_the_reviewer_and_exported(team, argilla_client, tmp_path):
    client, dataset, tag = argilla_client, team["dataset"], team["tag"]
    reviewer = f"reviewer-{tag}"

    done = curate("adjudicate", dataset.name, "--reviewers", reviewer)
    assert done.returncode == 0, done.stderr
    assert f"1 record(s) of {dataset.name!r} in conflict; added 1 to dataset '{dataset.name}-adjudication' (created)" \
        in done.stdout

    # The adjudication dataset: its own workspace, the record with both annotators' answers by name.
    adjudication = client.datasets(name=f"{dataset.name}-adjudication", workspace=f"{team['ws']}-adjudication")
    assert adjudication is not None
    (record,) = list(adjudication.records)
    assert record.id == "r1"
    assert record.fields["instruction"] == "Q1" and record.fields["response_2"] == "R1-2"
    shown = record.fields["annotator_answers"]
    assert f"ann1-{tag}:\n  ranking: response_1 > response_2 > response_3" in shown
    assert f"ann2-{tag}:\n  ranking: response_3 > response_2 > response_1" in shown
    assert str(team["ann1"].me.id) not in shown and str(team["ann2"].me.id) not in shown
    assert record.metadata["conflict"] == ["ranking"]
    assert {q.name for q in adjudication.settings.questions} == {q.name for q in dataset.settings.questions}
    # Only the reviewer's workspace holds it: the reviewer sees it, the annotators do not.
    assert adjudication.name in {d.name for d in team["reviewer"].datasets}
    assert adjudication.name not in {d.name for d in team["ann1"].datasets}

    # Before the reviewer answers, the plain majority export drops the conflict.
    before = tmp_path / "before"
    done = curate("export", dataset.name, "--format", "dpo", "--out", str(before))
    assert done.returncode == 0, done.stderr
    assert "Exported 1 of 2 records" in done.stdout and "disagreement 1" in done.stdout
    assert [row["record_id"] for row in read_back(before)] == ["r2"]

    # The reviewer settles it, through the SDK as the Argilla UI would: response_2 best, response_1 worst.
    answer(team["reviewer"], adjudication, {"r1": ("submitted", _ranking({2: 1, 3: 2, 1: 3}))})
    after = tmp_path / "after"
    done = curate("export", dataset.name, "--format", "dpo", "--out", str(after))
    assert done.returncode == 0, done.stderr
    assert "Exported 2 of 2 records" in done.stdout and "1 of them settled by adjudication" in done.stdout
    rows = {row["record_id"]: row for row in read_back(after)}
    assert rows["r1"]["chosen"] == [{"role": "assistant", "content": "R1-2"}]
    assert rows["r1"]["rejected"] == [{"role": "assistant", "content": "R1-1"}]
    assert rows["r1"]["agreement"] == 0.0  # neither annotator ranked it so
    assert "| of which settled by adjudication | 1 |" in (after / "README.md").read_text()
    # The next round's seeds are the records export takes: r1 with the reviewer's chosen/rejected.
    from curation.seeds import load_seeds

    seeds = load_seeds(f"argilla:{dataset.name}", recipe="ultrafeedback", columns=("instruction", "generations"),
                       required=True, candidates=True, workspace=team["ws"], client=client)
    by_record = {row["source_record_id"]: row["generations"] for row in seeds}
    assert by_record == {"r1": ["R1-2", "R1-1"], "r2": ["R2-2", "R2-3"]}

    # A re-run adds nothing; a new conflict, and only it, joins on the next one.
    done = curate("adjudicate", dataset.name)
    assert done.returncode == 0, done.stderr
    assert "1 record(s) of" in done.stdout and "added 0" in done.stdout
    dataset.records.log([_record(3)])
    answer(team["ann1"], dataset, {"r3": ("submitted", _ranking({1: 1, 2: 2, 3: 3}))})
    answer(team["ann2"], dataset, {"r3": ("submitted", _ranking({2: 1, 1: 2, 3: 3}))})
    done = curate("adjudicate", dataset.name)
    assert done.returncode == 0, done.stderr
    assert "2 record(s) of" in done.stdout and "added 1" in done.stdout and "1 were already there" in done.stdout
    assert sorted(r.id for r in adjudication.records) == ["r1", "r3"]

    # Status and report: r3 open, r1 resolved.
    expected = {"open": 1, "resolved": 1, "dataset": adjudication.name}
    done = curate("status", dataset.name, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["conflicts"] == expected
    done = curate("status", dataset.name)
    assert "Conflicts between annotators: 1 open, 1 resolved" in done.stdout
    done = curate("report", dataset.name, "--json", "--out", str(tmp_path / "report.html"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["conflicts"] == expected
    assert 'data-figure="conflicts.resolved"' in (tmp_path / "report.html").read_text()


def test_bad_input_is_one_line_exit_2_and_creates_nothing(team, argilla_client, tmp_path):
    import argilla as rg

    client, tag = argilla_client, team["tag"]
    ws = rg.Workspace(name=f"bad-{tag}", client=client).create()
    ann1 = add_annotator(client, ws.name, f"bad1-{tag}")
    ann2 = add_annotator(client, ws.name, f"bad2-{tag}")
    settings = _settings(client, "preference", tmp_path, num_responses=3)
    conflicted = rg.Dataset(f"conflicted-{tag}", workspace=ws, settings=settings, client=client).create()
    agreed = rg.Dataset(f"agreed-{tag}", workspace=ws, settings=settings, client=client).create()
    for ds, second in ((conflicted, {3: 1, 2: 2, 1: 3}), (agreed, {1: 1, 2: 2, 3: 3})):
        ds.records.log([_record(1)])
        answer(ann1, ds, {"r1": ("submitted", _ranking({1: 1, 2: 2, 3: 3}))})
        answer(ann2, ds, {"r1": ("submitted", _ranking(second))})

    cases = [
        (("adjudicate", conflicted.name, "--reviewers", f"nobody-{tag}"), f"no user 'nobody-{tag}'"),
        (("adjudicate", agreed.name), "has no record whose annotators disagree"),
        (("adjudicate", f"missing-{tag}"), f"no Argilla dataset 'missing-{tag}'"),
    ]
    for args, message in cases:
        done = curate(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        first, *rest = done.stderr.strip().splitlines()
        assert first.startswith("Error: ") and message in first, done.stderr
        assert all(line.startswith("Hint: ") for line in rest) and len(rest) <= 1
        assert "Traceback" not in done.stderr
    assert f"bad-{tag}-adjudication" not in _workspaces(client)
    assert not [d.name for d in client.api.datasets.list() if d.name.endswith("-adjudication") and tag in d.name
                and d.name.startswith(("conflicted", "agreed", "missing"))]
