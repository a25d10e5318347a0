"""Review priority scores against values worked out by hand, the mode choice, the config's weights, and
`curate push --priority` end to end (metadata on the server, the sorted link, bad input)."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml
from click.testing import CliRunner

from curation.cli import main
from curation.errors import BadInput, ConfigError
from curation.review.config import default_config_path, load_config
from curation.review.priority import DEFAULT_WEIGHTS, choose_mode, score_rows
from tests.review.priority_batches import KNOWN, banded_batch, preference_row
from tests.review.sample_batches import write_sample_batch

JUDGE_WEIGHTS = DEFAULT_WEIGHTS["judge-uncertainty"]
DEITA_WEIGHTS = DEFAULT_WEIGHTS["deita"]
SORTED = "?sort=metadata.review_priority.desc"


def test_shipped_weights_are_the_ones_the_hand_values_assume():
    assert load_config(default_config_path("preference"), num_responses=2).priority_weights("judge-uncertainty") == {
        "closeness": 0.5, "tie": 0.2, "unparsed": 0.2, "contradiction": 0.1}
    assert load_config(default_config_path("sft")).priority_weights("deita") == {
        "low_quality": 0.4, "low_complexity": 0.2, "near_rejected": 0.4}


@pytest.mark.parametrize("case", sorted(KNOWN))
def test_judge_uncertainty_equals_the_hand_computed_value(case):
    ratings, rationale, by_hand, _ = KNOWN[case]
    scores = score_rows("judge-uncertainty", "preference", [preference_row(0, ratings, rationale)], JUDGE_WEIGHTS,
                        candidates=2, scale=(1, 5)).scores
    assert scores == [pytest.approx(by_hand, abs=1e-9)]


def test_judge_uncertainty_more_cases_by_hand():
    rows = [
        preference_row(0, [None, None]),  # nothing parsed: (0.5 + 0.2 + 0.2) / 1 = 0.9
        {**preference_row(1, [5, 4]), "ratings": [5, 4, 1], "generations": ["a", "b", "c"],
         "rationales": ["", "", ""]},  # 3 candidates, gap 4: 0
        preference_row(2, [2, 4], "rating: 2, it is vague"),  # stated = given: no contradiction; 0.5 * 0.5 = 0.25
        preference_row(3, [4, 3], "I would rate this 4 out of 5"),  # stated = given; 0.5 * 0.75 = 0.375
        preference_row(4, [4, 3], "Score: 1"),  # stated 1, given 4: 0.375 + 0.1 = 0.475
    ]
    scores = score_rows("judge-uncertainty", "preference", rows[:1] + rows[2:], JUDGE_WEIGHTS, candidates=2,
                        scale=(1, 5)).scores
    assert scores == pytest.approx([0.9, 0.25, 0.375, 0.475])
    assert score_rows("judge-uncertainty", "preference", [rows[1]], JUDGE_WEIGHTS, candidates=3,
                      scale=(1, 5)).scores == [0.0]
    # A 0-10 scale: gap 5 of 10 -> closeness 0.5 -> 0.25.
    assert score_rows("judge-uncertainty", "preference", [preference_row(5, [8, 3])], JUDGE_WEIGHTS, candidates=2,
                      scale=(0, 10)).scores == [0.25]


def test_deita_priority_by_hand():
    rows = [
        {"instruction": "a", "quality_score": 6.0, "complexity_score": 1.0},  # (0.4*0 + 0.2*1) / 0.6 = 1/3
        {"instruction": "b", "quality_score": 3.5, "complexity_score": 3.5},  # 0.5 each: 0.5
        {"instruction": "c", "quality_score": 1.0},  # complexity missing: 0.4*1 / 0.4 = 1
    ]
    assert score_rows("deita", "sft", rows, DEITA_WEIGHTS).scores == [0.3333, 0.5, 1.0]


def test_deita_closeness_to_a_rejected_record():
    rejected = ["Write a limerick about a cat who hates Mondays."]
    rows = [
        # the same text as a rejected record: near_rejected 1 -> (0 + 0 + 0.4 * 1) / 1 = 0.4
        {"instruction": "Write a limerick about a cat who hates Mondays.", "quality_score": 6, "complexity_score": 6},
        # no 5-character shingle in common: near_rejected 0 -> 0
        {"instruction": "Qzx vbn jkl pqw yrt.", "quality_score": 6, "complexity_score": 6},
    ]
    assert score_rows("deita", "sft", rows, DEITA_WEIGHTS, rejected_texts=rejected).scores == [0.4, 0.0]


def test_the_mode_follows_the_batch_unless_asked():
    prefs, scored = [preference_row(0, [4, 2])], [{"instruction": "x", "quality_score": 3.0}]
    assert choose_mode(None, "preference", prefs, None) == "judge-uncertainty"
    assert choose_mode(None, "sft", scored, None) == "deita"
    assert choose_mode(None, "sft", [{"instruction": "x"}], None) == "none"
    assert choose_mode(None, "sft", [{"instruction": "x"}], "old") == "deita"
    assert choose_mode("none", "preference", prefs, None) == "none"
    for asked, kind, rows, against in [("judge-uncertainty", "sft", scored, None), ("deita", "preference", prefs, None),
                                       ("deita", "sft", [{"instruction": "x"}], None), ("urgent", "sft", scored, None),
                                       ("judge-uncertainty", "preference", prefs, "old")]:
        with pytest.raises(BadInput):
            choose_mode(asked, kind, rows, against)


def weights_file(tmp_path, block) -> str:
    data = yaml.safe_load(default_config_path("preference").read_text())
    data["priority"] = block
    path = tmp_path / "weights.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.mark.parametrize("block, message", [
    ({"judge-uncertainty": {"closeness": "heavy"}}, "priority.judge-uncertainty.closeness: expected a weight"),
    ({"judge-uncertainty": {"closeness": -1}}, "priority.judge-uncertainty.closeness: expected a weight"),
    ({"judge-uncertainty": {"gap": 1}}, "priority.judge-uncertainty.gap: unknown component"),
    ({"judge-uncertainty": {"closeness": 0}}, "priority.judge-uncertainty: every weight is 0"),
    ({"deita": {"low_quality": 1}}, "priority.deita: scores sft batches"),
    ({"urgency": {}}, "priority.urgency: unknown mode"),
    ("high", "priority: expected a mapping"),
])
def test_weights_that_do_not_parse_name_the_key(tmp_path, block, message):
    with pytest.raises(ConfigError, match="weights.yaml: " + message.replace(".", r"\.")):
        load_config(weights_file(tmp_path, block), num_responses=2)


def test_the_config_weights_are_used(tmp_path):
    config = load_config(weights_file(tmp_path, {"judge-uncertainty": {"closeness": 1}}), num_responses=2)
    weights = config.priority_weights("judge-uncertainty")
    assert weights == {"closeness": 1.0, "tie": 0.0, "unparsed": 0.0, "contradiction": 0.0}
    # Only closeness counts: [4, 4] -> 1, [4, 2] -> 0.5.
    rows = [preference_row(0, [4, 4]), preference_row(1, [4, 2])]
    assert score_rows("judge-uncertainty", "preference", rows, weights, candidates=2).scores == [1.0, 0.5]


def invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def one_error_line(result) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return lines[0]


@pytest.mark.slow
def test_bad_priority_input_is_one_line_exit_2_and_pushes_nothing(argilla_server, argilla_client, review_workspace,
                                                                  tmp_path):
    from curation.argilla.datasets import find_dataset

    batch = write_sample_batch(tmp_path, "preference", 3)
    name = f"prio-bad-{uuid.uuid4().hex[:8]}"
    unknown = invoke(["push", str(batch.path), "-d", name, "--priority", "urgent", "--no-progress"])
    assert unknown.exit_code == 2
    assert one_error_line(unknown).startswith("Error: unknown --priority 'urgent'")
    bad_weights = invoke(["push", str(batch.path), "-d", name, "--no-progress",
                          "--config", weights_file(tmp_path, {"judge-uncertainty": {"closeness": "heavy"}})])
    assert bad_weights.exit_code == 2
    assert "priority.judge-uncertainty.closeness: expected a weight" in one_error_line(bad_weights)
    wrong_kind = invoke(["push", str(batch.path), "-d", name, "--priority", "deita", "--no-progress"])
    assert wrong_kind.exit_code == 2 and "--priority deita scores sft batches" in one_error_line(wrong_kind)
    # `curate run` refuses before generating anything.
    run = invoke(["run", "prompt", "-n", "1", "-d", name, "--priority", "urgent"])
    assert run.exit_code == 2 and one_error_line(run).startswith("Error: unknown --priority 'urgent'")
    assert "Generated batch" not in run.stdout
    # ...also a mode that does not fit the recipe's kind (a model that does not exist: it never loads).
    for args, message in ((["ultrafeedback", "--priority", "deita"], "--priority deita scores sft batches"),
                          (["ultrafeedback", "--against", name], "--against is used by --priority deita, not judge-uncertainty")):
        run = invoke(["run", *args, "-n", "1", "-d", name, "--backend", "llamacpp:/nonexistent/model.gguf"])
        assert run.exit_code == 2 and message in one_error_line(run), run.output
        assert "Generated batch" not in run.stdout
    assert find_dataset(argilla_client, name) is None


@pytest.mark.slow
def test_push_stores_the_priorities_and_push_and_status_print_the_sorted_link(
        argilla_server, argilla_client, review_workspace, tmp_path):
    from curation.argilla.datasets import find_dataset
    from curation.argilla.records import iter_records

    batch, expected = banded_batch(tmp_path, top=2)
    name = f"prio-{uuid.uuid4().hex[:8]}"
    pushed = invoke(["push", str(batch.path), "-d", name, "--no-progress"])
    assert pushed.exit_code == 0, pushed.stdout + pushed.stderr
    dataset = find_dataset(argilla_client, name)
    link = f"{argilla_server.url}/dataset/{dataset.id}/annotation-mode{SORTED}"
    assert f"Review it at {link}" in pushed.stdout
    stored = {int(item["external_id"].rsplit(":", 1)[1]): item["metadata"]["review_priority"]
              for item in iter_records(argilla_client, dataset.id)}
    assert stored == pytest.approx(expected)
    # Visible to annotators, so the UI can sort and filter by it.
    [prop] = [m for m in dataset.settings.metadata if m.name == "review_priority"]
    assert prop.visible_for_annotators and type(prop).__name__ == "FloatMetadataProperty"
    status = invoke(["status", name, "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout)["url"] == link
    assert link in invoke(["status", name]).stdout

    plain = f"prio-none-{uuid.uuid4().hex[:8]}"
    assert invoke(["push", str(batch.path), "-d", plain, "--priority", "none", "--no-progress"]).exit_code == 0
    plain_id = find_dataset(argilla_client, plain).id
    assert all("review_priority" not in item["metadata"] for item in iter_records(argilla_client, plain_id))


@pytest.mark.slow
def test_against_makes_records_near_a_discarded_one_review_first(argilla_server, argilla_client, review_workspace,
                                                                 tmp_path):
    from curation.argilla.datasets import find_dataset
    from curation.argilla.records import iter_records
    from tests.review.annotators import add_annotator, answer

    old = write_sample_batch(tmp_path / "old", "sft", 2)
    old_name = f"prio-old-{uuid.uuid4().hex[:8]}"
    assert invoke(["push", str(old.path), "-d", old_name, "--no-progress"]).exit_code == 0
    old_dataset = find_dataset(argilla_client, old_name)
    annotator = add_annotator(argilla_client, review_workspace, f"prio-{uuid.uuid4().hex[:6]}")
    discarded = f"{old.id}:0"
    answer(annotator, old_dataset, {discarded: ("discarded", None)})

    old_rows = old.rows()
    new = write_sample_batch(tmp_path / "new", "sft", 2, seed=7)
    rows = new.rows()
    # Row 0 repeats the discarded instruction; both rows get the best Deita scores, so only closeness counts.
    rows[0]["instruction"] = old_rows[0]["instruction"]
    rows[1]["instruction"] = "Qzx vbn jkl pqw yrt."
    for row in rows:
        row["quality_score"] = row["complexity_score"] = 6.0
    from curation.batch import write_child_batch

    new = write_child_batch(new, rows, derived_by="test", details={}, out=tmp_path / "edited")
    name = f"prio-new-{uuid.uuid4().hex[:8]}"
    pushed = invoke(["push", str(new.path), "-d", name, "--against", old_name, "--no-progress"])
    assert pushed.exit_code == 0, pushed.stdout + pushed.stderr
    stored = {item["external_id"]: item["metadata"].get("review_priority")
              for item in iter_records(argilla_client, find_dataset(argilla_client, name).id)}
    # near_rejected 1 (same text) -> 0.4 * 1 / 1.0; the other shares no shingle -> 0.
    assert stored == {f"{new.id}:0": 0.4, f"{new.id}:1": 0.0}
    missing = invoke(["push", str(new.path), "-d", name, "--against", "no-such-dataset", "--no-progress"])
    assert missing.exit_code == 2 and "no Argilla dataset 'no-such-dataset'" in one_error_line(missing)

    # The same name in another workspace (no discards there): --against takes the one beside the push.
    import argilla as rg

    other = rg.Workspace(name=f"prio-other-{uuid.uuid4().hex[:6]}", client=argilla_client).create()
    assert invoke(["push", str(old.path), "-d", old_name, "-w", other.name, "--no-progress"]).exit_code == 0
    beside = f"prio-beside-{uuid.uuid4().hex[:8]}"
    pushed = invoke(["push", str(new.path), "-d", beside, "-w", review_workspace, "--against", old_name,
                     "--no-progress"])
    assert pushed.exit_code == 0, pushed.stdout + pushed.stderr
    stored = {item["external_id"]: item["metadata"].get("review_priority")
              for item in iter_records(argilla_client, find_dataset(argilla_client, beside).id)}
    assert stored == {f"{new.id}:0": 0.4, f"{new.id}:1": 0.0}
