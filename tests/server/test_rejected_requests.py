"""Requests the server cannot serve answer 422 with the reason, never a bare 500.

Before this change (issue 21, finding 4) each request below answered HTTP 500: a range filter,
or a filter without a question or property, on the response scope reached the search engine's
`Exception("Cannot process filter scope")` (argilla-server's Elasticsearch engine raises the
same: it supports only a terms filter on response status); an offset beyond SQLite's 64-bit
integers on the record list overflowed when bound, and a negative one is an error in PostgreSQL.
"""

from __future__ import annotations

import argilla as rg
import httpx
import pytest

from curation.server.search_sql import INT64_MAX

pytestmark = pytest.mark.slow

GUARD_S = 60  # deadlock guard for the HTTP calls only


@pytest.fixture(scope="module")
def dataset(argilla_client):
    """Three records in a dataset of their own, one submitted by an annotator; with the
    annotator's API key (the /me search is theirs)."""
    client = argilla_client
    workspace = rg.Workspace(name="rejected-ws", client=client).create()
    annotator = rg.User(username="rejected-ann", role="annotator", password="password-1234", client=client).create()
    annotator.add_to_workspace(workspace)
    api_key = client.api.http_client.get(f"/api/v1/users/{annotator.id}").json()["api_key"]
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    created = rg.Dataset(name="rejected-data", workspace=workspace, settings=settings, client=client).create()
    created.records.log([
        rg.Record(id="a", fields={"text": "alpha"},
                  responses=[rg.Response("label", "good", user_id=annotator.id, status="submitted")]),
        rg.Record(id="b", fields={"text": "beta"}),
        rg.Record(id="c", fields={"text": "gamma"}),
    ])
    return {"id": created.id, "annotator_key": api_key}


def _search(server, dataset, body: dict, as_owner: bool, **params) -> httpx.Response:
    """The owner's search (the SDK's call) or the annotator's /me search (the UI's call)."""
    if as_owner:
        url, key = f"{server.url}/api/v1/datasets/{dataset['id']}/records/search", server.api_key
    else:
        url, key = f"{server.url}/api/v1/me/datasets/{dataset['id']}/records/search", dataset["annotator_key"]
    return httpx.post(url, json=body, params=params, headers={"X-Argilla-Api-Key": key}, timeout=GUARD_S)


def _filter(filter: dict) -> dict:
    return {"filters": {"and": [filter]}}


STATUS = {"entity": "response", "property": "status"}


@pytest.mark.parametrize("as_owner", [True, False], ids=["owner-search", "me-search"])
@pytest.mark.parametrize(
    ("filter", "reason"),
    [
        ({"type": "range", "scope": STATUS, "ge": "discarded"}, "range filter on response status"),
        ({"type": "range", "scope": STATUS, "le": 1}, "range filter on response status"),
        ({"type": "terms", "scope": {"entity": "response"}, "values": ["submitted"]}, "needs a question"),
        ({"type": "range", "scope": {"entity": "response"}, "ge": 1}, "needs a question"),
    ],
    ids=["range-ge-text", "range-le-number", "terms-no-property", "range-no-property"],
)
def test_an_unsupported_response_filter_answers_422_with_the_reason(argilla_server, dataset, as_owner, filter, reason):
    response = _search(argilla_server, dataset, _filter(filter), as_owner)

    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


@pytest.mark.parametrize("as_owner", [True, False], ids=["owner-search", "me-search"])
def test_the_supported_response_status_filter_still_finds_records(argilla_server, dataset, as_owner):
    body = _filter({"type": "terms", "scope": STATUS, "values": ["submitted"]})

    response = _search(argilla_server, dataset, body, as_owner)

    assert response.status_code == 200, response.text
    assert [item["record"]["external_id"] for item in response.json()["items"]] == ["a"]


def _list(server, dataset, **params) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/datasets/{dataset['id']}/records", params=params,
                     headers={"X-Argilla-Api-Key": server.api_key}, timeout=GUARD_S)


@pytest.mark.parametrize("offset", ["99999999999999999999", str(INT64_MAX + 1), "-1", "9" * 5000],
                         ids=["1e20", "2^63", "minus-1", "5000-digits"])
def test_a_record_list_offset_outside_0_to_2_63_answers_422(argilla_server, dataset, offset):
    response = _list(argilla_server, dataset, offset=offset)

    assert response.status_code == 422, response.text
    assert "offset" in response.json()["detail"]


@pytest.mark.parametrize("as_owner", [True, False], ids=["owner-search", "me-search"])
@pytest.mark.parametrize("offset", ["99999999999999999999", "-1"])
def test_a_search_offset_outside_0_to_2_63_answers_422(argilla_server, dataset, as_owner, offset):
    response = _search(argilla_server, dataset, {}, as_owner, offset=offset)

    assert response.status_code == 422, response.text
    assert "offset" in str(response.json()["detail"])


def test_offsets_up_to_the_largest_are_served(argilla_server, dataset):
    assert [item["external_id"] for item in _list(argilla_server, dataset, offset=1).json()["items"]] == ["b", "c"]
    largest = _list(argilla_server, dataset, offset=str(INT64_MAX))
    assert largest.status_code == 200, largest.text
    assert largest.json()["items"] == [] and largest.json()["total"] == 3
    searched = _search(argilla_server, dataset, {}, True, offset=str(INT64_MAX))
    assert searched.status_code == 200, searched.text
    assert searched.json()["items"] == []
