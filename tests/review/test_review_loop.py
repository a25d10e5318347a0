"""Push a batch of each kind, let two annotators work, re-push, and check `status` — on the real server."""

from __future__ import annotations

import uuid

import pytest

from curation.argilla.datasets import find_dataset
from curation.argilla.records import iter_records
from curation.errors import BadInput, ConfigError
from curation.review.push import push_batch
from curation.review.records import record_id
from curation.review.status import review_status
from tests.review.alpha import expected_alpha
from tests.review.annotators import add_annotator, answer, responses_snapshot
from tests.review.sample_batches import JUDGE, MODEL, write_sample_batch

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def annotators(argilla_client, review_workspace):
    """Two annotators in the tests' workspace."""
    workspace = review_workspace
    return workspace, add_annotator(argilla_client, workspace, unique("alice")), add_annotator(
        argilla_client, workspace, unique("bob")
    )


def test_sft_push_review_repush_and_status(argilla_client, annotators, tmp_path):
    workspace, alice, bob = annotators
    batch = write_sample_batch(tmp_path, "sft", 12, seed=3)
    rows = batch.rows()
    name = unique("sft")

    report = push_batch(batch, name, workspace=workspace, client=argilla_client, show_progress=False)
    assert (report.sent, report.already_present, report.created_dataset, report.invalid) == (12, 0, True, [])
    assert report.workspace == workspace

    dataset = find_dataset(argilla_client, name)
    records = {r.id: r for r in dataset.records(with_suggestions=True, with_responses=False)}
    ids = [record_id(batch.id, i) for i in range(12)]
    assert sorted(records) == sorted(ids)
    first = records[ids[0]]
    assert first.fields["instruction"] == rows[0]["instruction"]
    assert first.fields["generated_response"] == rows[0]["response"]
    suggestion = first.suggestions["response"]
    assert (suggestion.value, suggestion.agent) == (rows[0]["response"], MODEL)
    assert suggestion.score == pytest.approx((rows[0]["quality_score"] - 1) / 5)
    assert first.metadata["batch_id"] == batch.id and first.metadata["row_index"] == 0
    assert first.metadata["recipe"] == "self-instruct" and first.metadata["model"] == MODEL
    assert first.metadata["response_length"] == len(rows[0]["response"])
    assert first.metadata["quality_score"] == pytest.approx(rows[0]["quality_score"])

    # Alice submits rows 0-5, discards 6, leaves 7 as draft; Bob submits 2-8, discards 9, drafts 10.
    alice_ratings = {0: (4, 5), 1: (3, 3), 2: (5, 4), 3: (2, 2), 4: (4, 4), 5: (1, 2)}
    bob_ratings = {2: (5, 5), 3: (3, 2), 4: (4, 3), 5: (1, 1), 6: (3, 4), 7: (2, 2), 8: (5, 5)}

    def submitted(ratings):
        return {
            ids[i]: ("submitted", {"instruction_rating": a, "response_rating": b, "response": rows[i]["response"] + " (checked)"})
            for i, (a, b) in ratings.items()
        }

    answer(alice, dataset, {**submitted(alice_ratings), ids[6]: ("discarded", {}), ids[7]: ("draft", {"instruction_rating": 2})})
    answer(bob, dataset, {**submitted(bob_ratings), ids[9]: ("discarded", {}), ids[10]: ("draft", {"response_rating": 1})})

    # Re-push after a record was lost (row 11 deleted): only that record is sent, no response changes.
    before = responses_snapshot(argilla_client, dataset)
    dataset.records.delete([records[ids[11]]])
    again = push_batch(batch, name, workspace=workspace, client=argilla_client, show_progress=False)
    assert (again.sent, again.already_present, again.created_dataset) == (1, 11, False)
    after = responses_snapshot(argilla_client, dataset)
    assert sorted(after) == sorted(ids)
    assert after == {**before, ids[11]: []}
    assert push_batch(batch, name, workspace=workspace, client=argilla_client, show_progress=False).sent == 0

    status = review_status(name, client=argilla_client)
    assert status["records"] == {"total": 12, "completed": 9, "pending": 3}  # rows 0-8 have a submission
    assert status["annotators"] == {
        alice.me.username: {"submitted": 6, "discarded": 1, "draft": 1},
        bob.me.username: {"submitted": 7, "discarded": 1, "draft": 1},
    }
    both = sorted(set(alice_ratings) & set(bob_ratings))
    for position, question in enumerate(("instruction_rating", "response_rating")):
        units = [[alice_ratings[i][position], bob_ratings[i][position]] for i in both]
        got = status["agreement"][question]
        assert got["level"] == "ordinal" and got["records"] == len(both) == 4 and got["annotators"] == 2
        assert got["alpha"] == pytest.approx(expected_alpha(units, "ordinal"), abs=1e-4)
    assert "response" not in status["agreement"]  # free text has no alpha


def test_preference_push_suggestions_and_agreement(argilla_client, annotators, tmp_path):
    workspace, alice, bob = annotators
    batch = write_sample_batch(tmp_path, "preference", 10, seed=5, responses=3)
    rows = batch.rows()
    name = unique("pref")
    report = push_batch(batch, name, workspace=workspace, client=argilla_client, show_progress=False)
    assert report.sent == 10
    dataset = find_dataset(argilla_client, name)
    assert [f.name for f in dataset.settings.fields] == ["instruction", "response_1", "response_2", "response_3"]

    raw = {item["external_id"]: item for item in iter_records(argilla_client, dataset.id, include=("suggestions",))}
    question_names = {str(q.id): q.name for q in dataset.settings.questions}
    for index, row in enumerate(rows):
        item = raw[record_id(batch.id, index)]
        assert [item["fields"][f"response_{i}"] for i in (1, 2, 3)] == row["generations"]
        assert item["metadata"]["judge_model"] == JUDGE
        assert item["metadata"]["rating_margin"] == max(row["ratings"]) - min(row["ratings"])
        suggestions = {question_names[s["question_id"]]: s for s in item["suggestions"]}
        for i, rating in enumerate(row["ratings"], start=1):
            s = suggestions[f"rating_{i}"]
            assert (s["value"], s["agent"], s["score"]) == (rating, JUDGE, pytest.approx((rating - 1) / 4))
        ranks = {entry["value"]: entry["rank"] for entry in suggestions["ranking"]["value"]}
        if row["chosen_index"] is not None:
            assert ranks[f"response_{row['chosen_index'] + 1}"] == 1
            assert suggestions["critique"]["value"] == row["rationales"][row["chosen_index"]]
        else:  # tied at the top: the ranking shows the tie, and there is no single best to critique
            assert list(ranks.values()).count(1) > 1 and "critique" not in suggestions

    ids = [record_id(batch.id, i) for i in range(10)]
    # Top choices: agree on 0, 1, 3; disagree on 2; Bob ties first place on 4.
    alice_top = {0: "response_1", 1: "response_2", 2: "response_3", 3: "response_1", 4: "response_2"}
    bob_top = {0: "response_1", 1: "response_2", 2: "response_1", 3: "response_1", 4: "response_2|response_3"}

    def ranking(top: str) -> list[dict]:
        firsts = top.split("|")
        rest = [f"response_{i}" for i in (1, 2, 3) if f"response_{i}" not in firsts]
        return [{"value": v, "rank": 1} for v in firsts] + [{"value": v, "rank": 2 + k} for k, v in enumerate(rest)]

    def submitted(tops, rating_1):
        return {
            ids[i]: ("submitted", {"rating_1": rating_1[i], "rating_2": 3, "rating_3": 3, "ranking": ranking(top)})
            for i, top in tops.items()
        }

    alice_r1 = {0: 5, 1: 2, 2: 1, 3: 4, 4: 3}
    bob_r1 = {0: 4, 1: 2, 2: 2, 3: 5, 4: 1}
    answer(alice, dataset, submitted(alice_top, alice_r1))
    answer(bob, dataset, {**submitted(bob_top, bob_r1), ids[5]: ("draft", {"rating_1": 2})})

    status = review_status(name, workspace=workspace, client=argilla_client)
    assert status["records"] == {"total": 10, "completed": 5, "pending": 5}
    top = status["agreement"]["ranking"]
    assert (top["level"], top["of"], top["records"]) == ("nominal", "top choice", 5)
    assert top["alpha"] == pytest.approx(expected_alpha([[alice_top[i], bob_top[i]] for i in range(5)], "nominal"), abs=1e-4)
    r1 = status["agreement"]["rating_1"]
    assert r1["alpha"] == pytest.approx(expected_alpha([[alice_r1[i], bob_r1[i]] for i in range(5)], "ordinal"), abs=1e-4)
    assert status["agreement"]["rating_2"]["alpha"] is None  # everyone gave 3: alpha is undefined


def test_existing_dataset_must_match_the_config(argilla_client, review_workspace, tmp_path):
    name = unique("pref")
    push_batch(write_sample_batch(tmp_path, "preference", 3, responses=2), name, workspace=review_workspace, client=argilla_client, show_progress=False)
    three = write_sample_batch(tmp_path, "preference", 3, responses=3)
    with pytest.raises(ConfigError, match=rf"dataset '{name}' does not match .*preference\.yaml: it has no field 'response_3'"):
        push_batch(three, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    sft = write_sample_batch(tmp_path, "sft", 3)
    with pytest.raises(ConfigError, match="it has no field 'generated_response'"):
        push_batch(sft, name, workspace=review_workspace, client=argilla_client, show_progress=False)


def test_rows_missing_a_required_field_are_reported_not_sent(argilla_client, review_workspace, tmp_path):
    from curation.batch import write_batch

    good = write_sample_batch(tmp_path, "sft", 3)
    rows = good.rows()
    rows[1]["instruction"] = None
    batch = write_batch(tmp_path / "holes", rows, good.manifest)
    report = push_batch(batch, unique("sft"), workspace=review_workspace, client=argilla_client, show_progress=False)
    assert report.sent == 2 and report.invalid == ["row 1: no value for required field(s) instruction"]


def _hand_written_preference_batch(root, rows: list[dict]):
    from curation.batch import write_batch

    template = write_sample_batch(root, "preference", 1, responses=3)
    full = [{**template.rows()[0], **row} for row in rows]
    return write_batch(root / "hand-written", full, {**template.manifest, "num_rows": len(full)})


def test_ranking_suggestion_puts_the_judge_choice_first_then_ratings(argilla_client, review_workspace, tmp_path):
    # Expected ranks written out by hand: the judge's chosen response is first even when it is not
    # the top-rated one; the rest follow by rating, equal ratings sharing a rank.
    cases = [
        ({"ratings": [2, 5, 3], "chosen_index": 0}, {"response_1": 1, "response_2": 2, "response_3": 3}),
        ({"ratings": [3, 5, 5], "chosen_index": 0}, {"response_1": 1, "response_2": 2, "response_3": 2}),
        ({"ratings": [4, 4, 1], "chosen_index": None}, {"response_1": 1, "response_2": 1, "response_3": 2}),
        ({"ratings": [1, 2, 4], "chosen_index": 2}, {"response_3": 1, "response_2": 2, "response_1": 3}),
    ]
    rows = [{**row, "rationales": [f"why {k}" for k in range(3)]} for row, _ in cases]
    batch = _hand_written_preference_batch(tmp_path, rows)
    name = unique("ranks")
    push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    dataset = find_dataset(argilla_client, name)
    question_names = {str(q.id): q.name for q in dataset.settings.questions}
    items = {i["external_id"]: i for i in iter_records(argilla_client, dataset.id, include=("suggestions",))}
    for index, (row, expected) in enumerate(cases):
        suggestions = {question_names[s["question_id"]]: s for s in items[record_id(batch.id, index)]["suggestions"]}
        assert {e["value"]: e["rank"] for e in suggestions["ranking"]["value"]} == expected
        critique = suggestions.get("critique", {}).get("value")
        assert critique == (None if row["chosen_index"] is None else f"why {row['chosen_index']}")


def test_a_batch_with_no_reviewable_row_creates_nothing(argilla_client, review_workspace, tmp_path):
    from curation.batch import write_batch

    good = write_sample_batch(tmp_path, "sft", 3)
    rows = [{**row, "instruction": None} for row in good.rows()]
    batch = write_batch(tmp_path / "all-bad", rows, good.manifest)
    name = unique("empty")
    with pytest.raises(BadInput, match=r"has no row that can be reviewed \(3 rows; first: row 0: no value"):
        push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    assert find_dataset(argilla_client, name, drafts=True) is None


def test_without_a_workspace_a_new_dataset_is_refused_when_there_are_several(argilla_client, review_workspace, tmp_path):
    import argilla as rg

    rg.Workspace(name=unique("other-team"), client=argilla_client).create()  # at least two now
    names = sorted(w.name for w in argilla_client.workspaces)
    batch = write_sample_batch(tmp_path, "sft", 2)
    name = unique("nows")
    with pytest.raises(BadInput) as refused:
        push_batch(batch, name, client=argilla_client, show_progress=False)
    assert str(refused.value) == f"the server has several workspaces ({', '.join(names)}); say which one gets the dataset"
    assert find_dataset(argilla_client, name, drafts=True) is None
    # An existing dataset is found wherever it is, without naming its workspace.
    push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    again = push_batch(batch, name, client=argilla_client, show_progress=False)
    assert (again.workspace, again.already_present, again.sent) == (review_workspace, 2, 0)


def test_a_foreign_draft_is_refused_and_kept(argilla_client, review_workspace, tmp_path):
    ws = argilla_client.workspaces(review_workspace)
    name = unique("draft")
    # Someone else's unpublished dataset: created through the API, never published.
    reply = argilla_client.api.http_client.post(
        "/api/v1/datasets", json={"name": name, "workspace_id": str(ws.id), "guidelines": "theirs"}
    )
    assert reply.status_code == 201, reply.text
    batch = write_sample_batch(tmp_path, "sft", 2)
    with pytest.raises(BadInput, match="exists unpublished .* not created by a push from here"):
        push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    draft = argilla_client.api.http_client.get(f"/api/v1/datasets/{reply.json()['id']}").json()
    assert (draft["status"], draft["guidelines"]) == ("draft", "theirs")


def test_our_own_draft_left_by_a_killed_push_is_replaced(argilla_client, review_workspace, tmp_path, monkeypatch):
    from curation import settings
    from curation.argilla.datasets import DRAFT_MARK

    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    ws = argilla_client.workspaces(review_workspace)
    name = unique("ourdraft")
    token = "0123456789abcdef0123456789abcdef"
    (settings.home() / "push-drafts").mkdir(parents=True)
    (settings.home() / "push-drafts" / token).write_text(name)  # what a killed push leaves behind
    reply = argilla_client.api.http_client.post(
        "/api/v1/datasets", json={"name": name, "workspace_id": str(ws.id), "metadata": {DRAFT_MARK: token}}
    )
    assert reply.status_code == 201, reply.text
    batch = write_sample_batch(tmp_path, "sft", 2)
    report = push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    assert (report.created_dataset, report.sent) == (True, 2)
    assert argilla_client.api.http_client.get(f"/api/v1/datasets/{reply.json()['id']}").status_code == 404
    assert not any((settings.home() / "push-drafts").iterdir())


def test_two_pushes_racing_to_create_one_dataset(argilla_client, review_workspace, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    import argilla as rg

    batch = write_sample_batch(tmp_path, "sft", 20)
    name = unique("race")
    clients = [rg.Argilla(api_url=argilla_client.api_url, api_key=argilla_client.api_key) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(
            lambda c: push_batch(batch, name, workspace=review_workspace, client=c, show_progress=False), clients
        ))
    assert sorted(r.created_dataset for r in reports) == [False, True]
    ids = [i["external_id"] for i in iter_records(argilla_client, find_dataset(argilla_client, name).id)]
    assert sorted(ids) == sorted(record_id(batch.id, i) for i in range(20))


def test_creating_a_dataset_that_another_push_created_returns_theirs(argilla_client, review_workspace, tmp_path):
    from curation.argilla.datasets import create_dataset
    from curation.review.config import default_config_path, load_config

    batch = write_sample_batch(tmp_path, "sft", 2)
    name = unique("conflict")
    first = push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    settings = load_config(default_config_path("sft")).settings(argilla_client)
    dataset, created = create_dataset(argilla_client, name, argilla_client.workspaces(review_workspace), settings)
    assert (created, str(dataset.id)) == (False, str(find_dataset(argilla_client, name).id))
    assert first.created_dataset
