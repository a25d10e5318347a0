"""The rounds view of `curate report` on the real embedded server, on datasets whose figures are
known by construction: batches written by hand, pushed with `curate push`'s code, answered by two
annotators through the SDK exactly as laid out here, linked the way `--seeds argilla:` links them.

Two preference rounds (2 candidates, ratings 1-5). Judge ratings and its first place; answers as
(rating_1, rating_2, first place):

    round 1 (batch R1)                         round 2 (batch R2 seeded from round 1, then its dedup child D)
    P0 [2, 3] first 2  alice (5,2,1) bob (4,2,1)   Q0 [5, 1] first 1  alice (5,1,1) bob (5,2,1)
    P1 [1, 4] first 2  alice (2,4,1) bob (1,4,2)   Q1 [2, 4] first 2  alice (2,4,2) bob (3,4,2)
    P2 [4, 2] first 1  both discard                Q2 [3, 1] first 1  alice (1,3,2) bob discards
    P3 [2, 5] first 2  alice (2,5,2)
    P4 [3, 3] first 1  not answered

R2's manifest names P3 as a judge example (held out of round 1's agreement figures).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.argilla.datasets import find_dataset
from curation.batch import write_child_batch
from curation.cli import main
from curation.export.select import Counts
from curation.review.push import push_batch
from curation.review.records import record_id
from curation.reviewed_seeds import dataset_entry
from tests.report.known_reviews import APPEND_10, SUGGESTED, _batch, _preference_rows, _sft_rows, unique
from tests.report.test_report import Figures
from tests.review.annotators import add_annotator, answer

pytestmark = pytest.mark.slow

ROUND_1 = [([2, 3], 1, "judge"), ([1, 4], 1, "judge"), ([4, 2], 0, "judge"), ([2, 5], 1, "judge"), ([3, 3], 0, "judge")]
ROUND_2 = [([5, 1], 0, "judge"), ([2, 4], 1, "judge"), ([3, 1], 0, "judge")]
DISCARD = ("discarded", {})


def pref(r1: int, r2: int, top: int) -> tuple[str, dict]:
    ranking = [{"value": f"response_{top}", "rank": 1}, {"value": f"response_{3 - top}", "rank": 2}]
    return "submitted", {"rating_1": r1, "rating_2": r2, "ranking": ranking}


def sft(text: str) -> tuple[str, dict]:
    return "submitted", {"instruction_rating": 4, "response_rating": 4, "response": text}


def invoke(args: list[str], home: Path):
    return CliRunner().invoke(main, args, env={"CURATION_HOME": str(home)}, catch_exceptions=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rounds-home")


@pytest.fixture(scope="module")
def annotators(argilla_client, review_workspace) -> dict:
    return {who: add_annotator(argilla_client, review_workspace, unique(who)) for who in ("alice", "bob")}


def push_and_answer(client, workspace: str, batch, name: str, annotators: dict, answers: dict) -> None:
    push_batch(batch, name, workspace=workspace, client=client, show_progress=False)
    dataset = find_dataset(client, name, workspace)
    for who, by_record in answers.items():
        answer(annotators[who], dataset, by_record)


def seeded_from(name: str, workspace: str, batch_id: str) -> dict:
    """The manifest's `parent` that `--seeds argilla:NAME` writes (part 1's own function)."""
    return dataset_entry(name, workspace=workspace, server="http://127.0.0.1", kind="preference",
                         rows=[{"source_record_id": f"{batch_id}:0"}], batches=[batch_id], agreement="majority",
                         min_submitted=1, counts=Counts(seen=5, exported=1))


@pytest.fixture(scope="module")
def two_rounds(argilla_client, review_workspace, annotators, home) -> dict:
    batches = home / "batches"
    r1 = _batch(batches, unique("ultrafeedback"), "preference", "ultrafeedback", _preference_rows(ROUND_1, "P"))
    P = [record_id(r1.id, i) for i in range(5)]
    first = unique("rounds-1")
    push_and_answer(argilla_client, review_workspace, r1, first, annotators, {
        "alice": {P[0]: pref(5, 2, 1), P[1]: pref(2, 4, 1), P[2]: DISCARD, P[3]: pref(2, 5, 2)},
        "bob": {P[0]: pref(4, 2, 1), P[1]: pref(1, 4, 2), P[2]: DISCARD},
    })
    # Round 2's generating batch names the judge's example; its records come from a dedup child.
    r2 = _batch(batches, unique("ultrafeedback"), "preference", "ultrafeedback", _preference_rows(ROUND_2, "Q"),
                parent=seeded_from(first, review_workspace, r1.id), judge_examples=[P[3]])
    d = write_child_batch(r2, r2.rows(), derived_by="dedup", details={"removed": 0}, out=batches / unique("dedup"))
    Q = [record_id(d.id, i) for i in range(3)]
    second = unique("rounds-2")
    push_and_answer(argilla_client, review_workspace, d, second, annotators, {
        "alice": {Q[0]: pref(5, 1, 1), Q[1]: pref(2, 4, 2), Q[2]: pref(1, 3, 2)},
        "bob": {Q[0]: pref(5, 2, 1), Q[1]: pref(3, 4, 2), Q[2]: DISCARD},
    })
    return {"first": first, "second": second}


@pytest.fixture(scope="module")
def single_sft(argilla_client, review_workspace, annotators, home) -> str:
    s = _batch(home / "batches", unique("self-instruct"), "sft", "self-instruct",
               _sft_rows(["S0", "S1", "S2", "T0"], ["model-a"] * 4))
    S = [record_id(s.id, i) for i in range(4)]
    name = unique("rounds-sft")
    push_and_answer(argilla_client, review_workspace, s, name, annotators, {
        "alice": {S[0]: sft(SUGGESTED["S0"]), S[1]: sft(SUGGESTED["S1"] + APPEND_10), S[2]: DISCARD},
        "bob": {S[0]: sft(SUGGESTED["S0"]), S[1]: sft(SUGGESTED["S1"] + APPEND_10)},
    })
    return name


def report_of(name: str, home: Path, tmp_path: Path) -> tuple[dict, dict, str]:
    """(the JSON, the HTML's data-figure cells, stderr) of one `curate report --json --out` run."""
    out = tmp_path / "report.html"
    result = invoke(["report", name, "--json", "--out", str(out)], home)
    assert result.exit_code == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert 'id="rounds"' in html  # the plot over rounds
    return json.loads(result.stdout), Figures(html).figures, result.stderr


def test_two_rounds_linked_by_lineage(two_rounds, home, tmp_path):
    figures, shown, stderr = report_of(two_rounds["second"], home, tmp_path)
    first, second = figures["rounds"]
    assert [r["dataset"] for r in figures["rounds"]] == [two_rounds["first"], two_rounds["second"]]
    assert [r["round"] for r in figures["rounds"]] == [1, 2]

    # Round 1: P0-P3 have a submitted or discarded response (P4 none); the export policy admits P0
    # (both chose response_1) and P3 (one submission, min 1), drops P1 (a tie) and P2 (discarded).
    # Judge, P3 held out: first place on P0 only (P1 humans split): it chose 2, humans 1 -> 0 of 1.
    # Ratings: P0 judge (2, 3) vs alice (5, 2), bob (4, 2) -> 0 of 4 equal; P1 judge (1, 4) vs
    # alice (2, 4), bob (1, 4) -> 3 of 4; 3 of 8 in all (with P3 it would be 5 of 10).
    assert {k: first[k] for k in ("reviewed", "admitted", "acceptance", "judge_agreement_chosen",
                                  "judge_agreement_ratings", "examples_held_out")} == {
        "reviewed": 4, "admitted": 2, "acceptance": 0.5, "judge_agreement_chosen": 0.0,
        "judge_agreement_ratings": 0.375, "examples_held_out": 1,
    }
    # Round 2: Q0-Q2 reviewed; Q0 and Q1 admitted (agreed), Q2 dropped (one discard, one submission).
    # Judge first place as the humans' on Q0, Q1, not Q2 (alice chose 2) -> 2 of 3. Ratings equal:
    # Q0 3 of 4 (bob's 2 vs 1), Q1 3 of 4 (bob's 3 vs 2), Q2 0 of 2 -> 6 of 10.
    assert {k: second[k] for k in ("reviewed", "admitted", "acceptance", "judge_agreement_chosen",
                                   "judge_agreement_ratings", "examples_held_out")} == {
        "reviewed": 3, "admitted": 2, "acceptance": pytest.approx(2 / 3, abs=1e-4),
        "judge_agreement_chosen": pytest.approx(2 / 3, abs=1e-4), "judge_agreement_ratings": 0.6,
        "examples_held_out": 0,
    }
    for r in (first, second):
        assert r["kind"] == "preference" and r["edited_share"] is None and r["mean_edit_distance"] is None
        assert r["note"] is None
    assert shown["rounds.1.acceptance"] == "50.0%" and shown["rounds.2.judge_agreement_ratings"] == "60.0%"
    assert shown["rounds.1.judge_agreement_ratings"] == "37.5%" and shown["rounds.2.admitted"] == "2"
    lines = [line for line in stderr.splitlines() if line.startswith("Round ")]
    assert lines[0].startswith(f"Round 1: {two_rounds['first']} (") and "acceptance 50.0% (2 admitted of 4 reviewed)" in lines[0]
    assert lines[1].startswith(f"Round 2: {two_rounds['second']} (") and "ratings equal 60.0%" in lines[1]

    # The first round alone: one round, the example still unknown to it (no later manifest read).
    alone, _, _ = report_of(two_rounds["first"], home, tmp_path)
    [only] = alone["rounds"]
    assert (only["judge_agreement_chosen"], only["judge_agreement_ratings"], only["examples_held_out"]) == (0.5, 0.5, 0)


def test_a_single_sft_dataset_is_one_round(single_sft, home, tmp_path):
    figures, shown, stderr = report_of(single_sft, home, tmp_path)
    [only] = figures["rounds"]
    # S0-S2 reviewed (T0 not); S0 kept by both, S1 both appended the same 10 characters to 30,
    # S2 discarded. Edited: S1 of 2 admitted. difflib's ratio of S1 is 2*30/(30+40) = 6/7,
    # so its distance is 1/7 and the mean over S0 (0) and S1 is 1/14.
    assert {k: only[k] for k in ("dataset", "kind", "reviewed", "admitted", "edited_share", "note")} == {
        "dataset": single_sft, "kind": "sft", "reviewed": 3, "admitted": 2, "edited_share": 0.5, "note": None,
    }
    assert only["acceptance"] == pytest.approx(2 / 3, abs=1e-4)
    assert only["mean_edit_distance"] == pytest.approx(1 / 14, abs=1e-4)
    assert only["judge_agreement_chosen"] is None and only["judge_agreement_ratings"] is None
    assert shown["rounds.1.edited_share"] == "50.0%" and shown["rounds.1.mean_edit_distance"] == f"{1 / 14:.3f}"
    assert "edited 50.0%, mean edit distance 0.071" in stderr


def test_a_parent_dataset_that_is_gone_ends_the_walk_with_a_note(argilla_client, review_workspace, annotators,
                                                                 home, tmp_path):
    batches = home / "batches"
    gone_batch = _batch(batches, unique("self-instruct"), "sft", "self-instruct", _sft_rows(["T0"], ["model-a"]))
    gone = unique("rounds-gone")
    push_batch(gone_batch, gone, workspace=review_workspace, client=argilla_client, show_progress=False)
    find_dataset(argilla_client, gone, review_workspace).delete()
    child = _batch(batches, unique("responses"), "sft", "responses", _sft_rows(["T1"], ["model-a"]),
                   parent={**seeded_from(gone, review_workspace, gone_batch.id), "kind": "sft"})
    name = unique("rounds-after-gone")
    push_and_answer(argilla_client, review_workspace, child, name, annotators,
                    {"alice": {record_id(child.id, 0): sft(SUGGESTED["T1"])}})

    figures, _, stderr = report_of(name, home, tmp_path)
    [only] = figures["rounds"]
    assert (only["dataset"], only["reviewed"], only["admitted"], only["acceptance"], only["edited_share"]) == (
        name, 1, 1, 1.0, 0.0)
    assert f"seeded from dataset {gone!r} (workspace {review_workspace!r}), which is no longer on the server" in only["note"]
    assert "no longer on the server" in stderr and "Traceback" not in stderr
