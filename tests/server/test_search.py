"""Search on the embedded server (the "curation-sqlite" engine), as the SDK and the UI use it.

Expected results follow argilla-server's Elasticsearch engine: a response-status filter
matches records with a response in that status (by that user, when the request is per user);
"pending" matches records without a response (by that user).
"""

from __future__ import annotations

import argilla as rg
import httpx
import pytest

pytestmark = pytest.mark.slow

TEXTS = ["the quick brown fox", "a lazy dog sleeps", "brown bread recipe", "nothing to see"]


@pytest.fixture(scope="module")
def reviewed(argilla_client):
    """4 records; ann1 submitted r0 and discarded r1; ann2 drafted r0 and submitted r2."""
    client = argilla_client
    workspace = rg.Workspace(name="search-ws", client=client).create()
    annotators = []
    for name in ("search-ann1", "search-ann2"):
        user = rg.User(username=name, role="annotator", password="password-1234", client=client).create()
        user.add_to_workspace(workspace)
        annotators.append(user)
    ann1, ann2 = annotators
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])],
        metadata=[
            rg.IntegerMetadataProperty(name="length"),
            rg.FloatMetadataProperty(name="score"),
            rg.TermsMetadataProperty(name="source"),
        ],
    )
    dataset = rg.Dataset(name="search-data", workspace=workspace, settings=settings, client=client).create()

    def response(user, status, value="good"):
        return rg.Response(question_name="label", value=value, user_id=user.id, status=status)

    responses = [
        [response(ann1, "submitted"), response(ann2, "draft", "bad")],
        [response(ann1, "discarded")],
        [response(ann2, "submitted", "bad")],
        [],
    ]
    sources = ["web", "book", "web", None]
    records = []
    for i, text in enumerate(TEXTS):
        metadata = {"length": 10 * (i + 1), "score": [0.1, 0.5, 0.9, 0.95][i]}
        if sources[i]:
            metadata["source"] = sources[i]
        records.append(rg.Record(id=f"r{i}", fields={"text": text}, metadata=metadata, responses=responses[i]))
    dataset.records.log(records)
    return {"dataset": dataset, "ann1": ann1, "ann2": ann2, "client": client}


def _ids(dataset: rg.Dataset, query: rg.Query) -> set[str]:
    return {record.id for record in dataset.records(query=query)}


def test_responses_of_two_annotators_read_back(reviewed):
    records = {r.id: r for r in reviewed["dataset"].records(with_responses=True)}
    statuses = {
        (response.user_id, response.status) for response in records["r0"].responses["label"]
    }
    assert statuses == {(reviewed["ann1"].id, "submitted"), (reviewed["ann2"].id, "draft")}
    assert list(records["r3"].responses) == []
    assert records["r0"].status == "completed" and records["r2"].status == "completed"
    assert records["r1"].status == "pending" and records["r3"].status == "pending"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("brown", {"r0", "r2"}), ("fox", {"r0"}), ("sleeps", {"r1"}), ("zebra", set())],
)
def test_text_query(reviewed, text, expected):
    assert _ids(reviewed["dataset"], rg.Query(query=text)) == expected


def test_text_query_scores(reviewed, argilla_client):
    """The UI's search: every match comes with a positive relevance score."""
    found = argilla_client.api.http_client.post(
        f"/api/v1/datasets/{reviewed['dataset'].id}/records/search",
        json={"query": {"text": {"q": "brown", "field": "text"}}},
    ).json()
    assert found["total"] == 2
    assert {item["record"]["external_id"] for item in found["items"]} == {"r0", "r2"}
    assert all(item["query_score"] > 0 for item in found["items"])


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([("metadata.length", ">=", 15), ("metadata.length", "<=", 30)], {"r1", "r2"}),
        ([("metadata.length", ">=", 40)], {"r3"}),
        ([("metadata.score", ">=", 0.9)], {"r2", "r3"}),
        ([("metadata.score", "<=", 0.5)], {"r0", "r1"}),
        ([("metadata.source", "in", ["web"])], {"r0", "r2"}),
        ([("metadata.source", "==", "book")], {"r1"}),
        ([("metadata.source", "in", ["web"]), ("metadata.length", ">=", 20)], {"r2"}),
    ],
)
def test_metadata_filters(reviewed, conditions, expected):
    assert _ids(reviewed["dataset"], rg.Query(filter=rg.Filter(conditions))) == expected


def test_text_query_with_filter(reviewed):
    query = rg.Query(query="brown", filter=rg.Filter([("metadata.score", ">=", 0.5)]))
    assert _ids(reviewed["dataset"], query) == {"r2"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [("submitted", {"r0", "r2"}), ("discarded", {"r1"}), ("draft", {"r0"}), ("pending", {"r3"})],
)
def test_response_status_filter_any_user(reviewed, status, expected):
    query = rg.Query(filter=rg.Filter([("response.status", "==", status)]))
    assert _ids(reviewed["dataset"], query) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("completed", {"r0", "r2"}), ("pending", {"r1", "r3"})],
)
def test_record_status_filter(reviewed, status, expected):
    query = rg.Query(filter=rg.Filter([("status", "==", status)]))
    assert _ids(reviewed["dataset"], query) == expected


@pytest.mark.parametrize(
    ("user", "status", "expected"),
    [
        ("ann1", "submitted", {"r0"}),
        ("ann1", "discarded", {"r1"}),
        ("ann1", "draft", set()),
        ("ann1", "pending", {"r2", "r3"}),
        ("ann2", "submitted", {"r2"}),
        ("ann2", "draft", {"r0"}),
        ("ann2", "pending", {"r1", "r3"}),
    ],
)
def test_response_status_filter_per_user(reviewed, argilla_server, user, status, expected):
    """What an annotator's queue in the UI shows: /me search, scoped to that user."""
    api_key = _api_key(reviewed, user)
    body = {
        "filters": {"and": [
            {"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": [status]}
        ]}
    }
    response = httpx.post(
        f"{argilla_server.url}/api/v1/me/datasets/{reviewed['dataset'].id}/records/search",
        json=body, headers={"X-Argilla-Api-Key": api_key},
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert {item["record"]["external_id"] for item in found["items"]} == expected
    assert found["total"] == len(expected)


def test_progress(reviewed):
    progress = reviewed["dataset"].progress(with_users_distribution=True)
    assert (progress["total"], progress["completed"], progress["pending"]) == (4, 2, 2)
    assert set(progress["users"]) == {"search-ann1", "search-ann2"}


def test_metadata_metrics(reviewed, argilla_client):
    dataset = reviewed["dataset"]
    properties = argilla_client.api.http_client.get(f"/api/v1/me/datasets/{dataset.id}/metadata-properties").json()
    by_name = {p["name"]: p["id"] for p in properties["items"]}
    metrics = {
        name: argilla_client.api.http_client.get(f"/api/v1/metadata-properties/{pid}/metrics").json()
        for name, pid in by_name.items()
    }
    assert (metrics["length"]["min"], metrics["length"]["max"]) == (10, 40)
    assert (metrics["score"]["min"], metrics["score"]["max"]) == (0.1, 0.95)
    terms = {v["term"]: v["count"] for v in metrics["source"]["values"]}
    assert terms == {"web": 2, "book": 1}


def _api_key(reviewed, name: str) -> str:
    """A user's API key, as the owner may read it (without making a second default client)."""
    owner = reviewed["client"]
    return owner.api.http_client.get(f"/api/v1/users/{reviewed[name].id}").json()["api_key"]
