"""`curate users remove` puts the records the removed user had completed back in the queue
(curation/server/user_removal.py), on the real embedded server: the database (progress,
`curate status`) and the search index (another annotator's pending queue, the owner's
response-status search) agree as soon as the command returns, and the command says what it did.
"""

from __future__ import annotations

import json

import argilla as rg
import httpx
import pytest

from tests.server.test_sessions import PASSWORD, _invoke

pytestmark = pytest.mark.slow


def _key_of(server, name: str) -> str:
    response = httpx.get(f"{server.url}/api/v1/users", headers={"X-Argilla-Api-Key": server.api_key})
    response.raise_for_status()
    return next(user["api_key"] for user in response.json()["items"] if user["username"] == name)


def _respond(url: str, key: str, record_id, status: str = "submitted") -> None:
    answer = {"values": {"label": {"value": "good"}}, "status": status}
    response = httpx.post(f"{url}/api/v1/records/{record_id}/responses", json=answer,
                          headers={"X-Argilla-Api-Key": key})
    assert response.status_code == 201, response.text


def _ids_by_text(url: str, key: str, dataset_id) -> dict[str, str]:
    """{text: the record's server id} (the database's, read as the owner)."""
    response = httpx.get(f"{url}/api/v1/datasets/{dataset_id}/records", params={"limit": 50},
                         headers={"X-Argilla-Api-Key": key})
    response.raise_for_status()
    return {item["fields"]["text"]: item["id"] for item in response.json()["items"]}


def _texts(url: str, key: str, path: str, filters: list[dict], ids: dict[str, str]) -> set[str]:
    """The texts of the records a search through the index finds."""
    response = httpx.post(f"{url}{path}", params={"include": "responses", "limit": 50},
                          json={"filters": {"and": filters}},
                          headers={"X-Argilla-Api-Key": key})
    assert response.status_code == 200, response.text
    text_of = {record_id: text for text, record_id in ids.items()}
    return {text_of[item["record"]["id"]] for item in response.json()["items"]}


def _response_status(*values: str) -> dict:
    return {"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": list(values)}


RECORD_PENDING = {"type": "terms", "scope": {"entity": "record", "property": "status"}, "values": ["pending"]}


def test_removing_a_user_reopens_the_records_only_they_completed(argilla_server, argilla_client):
    server = argilla_server
    workspace = rg.Workspace(name="rm-ws", client=argilla_client).create()
    for name in ("rm-alice", "rm-bob"):
        user = rg.User(username=name, role="annotator", password=PASSWORD, client=argilla_client).create()
        user.add_to_workspace(workspace)
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    dataset = rg.Dataset(name="rm-data", workspace=workspace, settings=settings, client=argilla_client).create()
    dataset.records.log([{"text": text} for text in ("zero", "one", "two", "three", "four")])
    records = _ids_by_text(server.url, server.api_key, dataset.id)
    alice, bob = _key_of(server, "rm-alice"), _key_of(server, "rm-bob")
    # alice completes zero, one and two; bob also answers two; alice keeps a draft on three.
    for text in ("zero", "one", "two"):
        _respond(server.url, alice, records[text])
    _respond(server.url, bob, records["two"])
    _respond(server.url, alice, records["three"], status="draft")
    search = f"/api/v1/datasets/{dataset.id}/records/search"
    queue = f"/api/v1/me/datasets/{dataset.id}/records/search"  # what an annotator's UI asks
    assert _texts(server.url, bob, queue, [_response_status("pending"), RECORD_PENDING], records) == {"three", "four"}

    removed = _invoke("users", "remove", "rm-alice", "--yes")

    assert removed.output.splitlines() == [
        "Removed user 'rm-alice'.",
        "  rm-ws/rm-data: 4 responses deleted; 2 records they had completed are pending again.",
    ]
    # The database: progress (what `curate status` reports).
    progress = httpx.get(f"{server.url}/api/v1/datasets/{dataset.id}/progress",
                         headers={"X-Argilla-Api-Key": server.api_key}).json()
    assert (progress["completed"], progress["pending"]) == (1, 4)
    status = json.loads(_invoke("status", "rm-data", "--workspace", "rm-ws", "--json").output)
    assert (status["records"]["completed"], status["records"]["pending"]) == (1, 4)
    # The index: bob's queue shows the reopened records, and alice's answers are gone from it.
    assert _texts(server.url, bob, queue, [_response_status("pending"), RECORD_PENDING], records) == {
        "zero", "one", "three", "four"}
    owner = server.api_key
    assert _texts(server.url, owner, search, [_response_status("submitted", "draft")], records) == {"two"}
    assert _texts(server.url, owner, search, [RECORD_PENDING], records) == {"zero", "one", "three", "four"}


def test_removing_a_user_who_answered_nothing_says_only_that(argilla_server):
    _invoke("users", "add", "rm-idle", "--workspace", "rm-idle-ws", "--password", PASSWORD)
    removed = _invoke("users", "remove", "rm-idle", "--yes")
    assert removed.output.strip() == "Removed user 'rm-idle'."


def test_removing_a_user_reopens_their_records_in_production_mode(argilla_pg_server, monkeypatch):
    """PostgreSQL, 2 uvicorn workers: the same, through the server found by its --data-dir."""
    info = argilla_pg_server
    for name in ("ARGILLA_API_URL", "ARGILLA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    owner = rg.Argilla(api_url=info.url, api_key=info.api_key)
    workspace = rg.Workspace(name="rmp-ws", client=owner).create()
    user = rg.User(username="rmp-alice", role="annotator", password=PASSWORD, client=owner).create()
    user.add_to_workspace(workspace)
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    dataset = rg.Dataset(name="rmp-data", workspace=workspace, settings=settings, client=owner).create()
    dataset.records.log([{"text": text} for text in ("zero", "one", "two")])
    records = _ids_by_text(info.url, info.api_key, dataset.id)
    for text in ("zero", "one"):
        _respond(info.url, _key_of(info, "rmp-alice"), records[text])

    removed = _invoke("users", "remove", "rmp-alice", "--yes", "--data-dir", str(info.data_dir))

    assert "rmp-ws/rmp-data: 2 responses deleted; 2 records they had completed are pending again." in removed.output
    progress = httpx.get(f"{info.url}/api/v1/datasets/{dataset.id}/progress",
                         headers={"X-Argilla-Api-Key": info.api_key}).json()
    assert (progress["completed"], progress["pending"]) == (0, 3)
    search = f"/api/v1/datasets/{dataset.id}/records/search"
    assert _texts(info.url, info.api_key, search, [RECORD_PENDING], records) == {"zero", "one", "two"}
    assert _texts(info.url, info.api_key, search, [_response_status("submitted")], records) == set()
