"""The report's figures from hand-made records (no server): time-based figures, where batches
are looked up, the edit distance and the judge's majority rule, and the page's escaping."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from curation.batch import write_batch
from curation.report.batches import batches_behind
from curation.report.feedback import edit_distance, majority
from curation.report.figures import compute_figures
from curation.report.html import render_html
from curation.report.read import Answer, DatasetView, RecordView, kind_of

T0 = dt.datetime(2026, 3, 1, 22, 0, tzinfo=dt.timezone.utc)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def record(rid: str, *answers: Answer, **metadata) -> RecordView:
    return RecordView(id=rid, metadata=metadata, suggestions={}, answers=tuple(answers))


def done(user: str, opened: float, finished: float, status: str = "submitted", **values) -> Answer:
    return Answer(user=user, status=status, values=values, inserted_at=at(opened), updated_at=at(finished))


def view(records: list[RecordView], questions: dict | None = None) -> DatasetView:
    return DatasetView(name="hand-made", workspace="ws", kind=None, questions=questions or {}, records=records)


def test_progress_by_utc_day_and_a_bounded_curve():
    # 450 reviews one minute apart from 22:00 UTC: 120 on 1 March (22:00-23:59), 330 on 2 March;
    # every 10th is a discard.
    records = [record(f"r{i}", done("ann", i, i, "discarded" if i % 10 == 0 else "submitted")) for i in range(450)]
    progress = compute_figures(view(records))["progress"]
    assert progress["reviews"] == 450
    assert progress["by_day"] == [
        {"day": "2026-03-01", "submitted": 108, "discarded": 12},
        {"day": "2026-03-02", "submitted": 297, "discarded": 33},
    ]
    assert (progress["first"], progress["last"]) == ("2026-03-01T22:00:00Z", "2026-03-02T05:29:00Z")
    curve = progress["curve"]
    assert len(curve) == 200 and curve[0] == ["2026-03-01T22:00:00Z", 1] and curve[-1] == ["2026-03-02T05:29:00Z", 450]
    counts = [n for _, n in curve]
    assert counts == sorted(set(counts))  # strictly rising


def test_annotator_pace_shares_and_drafts():
    records = [
        record("a", done("alice", 0, 20), done("bob", 0, 0.5)),
        record("b", done("alice", 5, 40, "discarded"), done("carol", 1, 2, "draft")),
        record("c", done("alice", 30, 60)),
    ]
    people = compute_figures(view(records))["annotators"]
    # alice: 3 reviews from 22:00 (first opened) to 23:00 (last finished) = 3 an hour.
    assert people["alice"] == {"submitted": 2, "discarded": 1, "draft": 0, "discard_share": 0.3333,
                               "first": "2026-03-01T22:00:00Z", "last": "2026-03-01T23:00:00Z", "per_hour": 3.0,
                               "active_seconds": None}  # 20 minutes between reviews: each gap a break
    assert people["bob"]["per_hour"] is None  # 30 seconds say nothing about a pace
    assert people["carol"] == {"submitted": 0, "discarded": 0, "draft": 1, "discard_share": None,
                               "first": "2026-03-01T22:01:00Z", "last": None, "per_hour": None,
                               "active_seconds": None}
    assert compute_figures(view(records))["records"] == {"total": 3, "submitted": 2, "discarded_only": 1, "not_reviewed": 0}


def test_active_time_counts_gaps_up_to_a_break_and_each_session_start():
    # Reviews finished at minutes 0, 1, 2, 3, then after a 27-minute pause at 30 and 31: the gaps of
    # 1 minute count (4 of them), the pause does not, and each of the 2 sessions' first review counts
    # as the median gap (1 minute): 6 minutes.
    records = [record(f"r{m}", done("dana", m, m)) for m in (0, 1, 2, 3, 30, 31)]
    assert compute_figures(view(records))["annotators"]["dana"]["active_seconds"] == 360.0


def test_agreement_and_distribution_of_a_dataset_push_did_not_make():
    rating = SimpleNamespace(type="rating", values=[1, 2, 3])
    records = [
        record("x", done("ann", 0, 1, quality=1), done("ben", 0, 1, quality=1)),
        record("y", done("ann", 0, 1, quality=3), done("ben", 0, 1, quality=2)),
        record("z", done("ann", 0, 1, quality=3), done("ben", 0, 1, "draft", quality=1)),
    ]
    figures = compute_figures(view(records, {"quality": rating, "note": SimpleNamespace(type="text")}))
    assert figures["ratings"] == {"quality": {"scale": [1, 2, 3], "human": [2, 1, 2], "judge": None}}
    assert figures["agreement"]["quality"]["records"] == 2 and figures["agreement"]["quality"]["alpha"] is not None
    assert figures["ai_feedback"] is None and figures["kind"] is None
    assert "no AI feedback to compare" in render_html(figures)


@pytest.mark.parametrize(("suggested", "final", "distance"), [
    ("The same text.", "  The same text.\n", 0.0),  # whitespace at the ends is no edit
    ("abcd", "abcdefgh", 1 / 3),  # 4 common of 12: 1 - 8/12
    ("abcdef", "abc", 1 / 3),  # 3 common of 9: 1 - 6/9
    ("abc", "xyz", 1.0),
])
def test_edit_distance(suggested, final, distance):
    assert edit_distance(suggested, final) == pytest.approx(distance)


def test_human_choice_is_the_majority_or_none_on_a_tie():
    assert majority(["response_1", "response_2", "response_1"]) == "response_1"
    assert majority(["response_1", "response_2"]) is None
    assert majority(["response_2"]) == "response_2"
    assert majority([]) is None


def test_kind_from_the_contract_names():
    assert kind_of({"instruction", "generated_response"}, {"response": 0, "response_rating": 0}) == "sft"
    assert kind_of({"instruction", "response_1"}, {"ranking": 0}) == "preference"
    assert kind_of({"text"}, {"label": 0}) is None


def _manifest(batch_id: str, **extra) -> dict:
    return {"batch_id": batch_id, "kind": "sft", "recipe": "prompt", "rows": {"kept": 2, "dropped": 3}, **extra}


def test_batches_found_by_folder_or_manifest_id_and_otherwise_said_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(tmp_path))
    batches = tmp_path / "batches"
    rows = [{"instruction": "i", "response": "r"}] * 2
    write_batch(batches / "by-id", rows, _manifest("by-id", dedup={"dropped": 1}))
    write_batch(batches / "custom-out-folder", rows, _manifest("renamed"))
    (batches / "damaged").mkdir()
    (batches / "damaged" / "manifest.json").write_text(json.dumps({"status": "complete", "batch_id": "damaged"}))
    write_batch(tmp_path / "outside", rows, _manifest("outside"))  # not under the batches folder
    records = [record(f"{b}:{i}", batch_id=b, recipe="prompt") for b in ("by-id", "renamed", "damaged", "gone") for i in range(2)]
    records += [record("../outside:0", batch_id="../outside"), record("loose")]

    found = {entry["batch_id"]: entry for entry in batches_behind(records)}
    assert found["by-id"]["on_this_machine"] and (found["by-id"]["kept"], found["by-id"]["dropped"]) == (2, 3)
    assert found["by-id"]["dedup"] == {"dropped": 1} and found["by-id"]["selection"] is None
    assert found["renamed"]["on_this_machine"] and found["renamed"]["note"] == str(batches / "custom-out-folder")
    assert not found["damaged"]["on_this_machine"] and found["damaged"]["note"].startswith("unreadable here: ")
    assert found["gone"] == {"batch_id": "gone", "records": 2, "recipe": "prompt", "on_this_machine": False,
                             "kind": None, "kept": None, "dropped": None, "dedup": None, "selection": None,
                             "note": "not on this machine"}
    assert not found["../outside"]["on_this_machine"]  # an id is never a path
    assert found[None] == {**found["gone"], "batch_id": None, "records": 1, "recipe": None,
                           "note": "records without a batch_id"}


def test_names_from_the_server_are_escaped_in_the_page():
    records = [record("a", done("<img src=x onerror=alert(1)>", 0, 1))]
    page = render_html(compute_figures(view(records)))
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
