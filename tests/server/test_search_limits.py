"""Search limits and bad inputs through the real embedded server, as an annotator calls it.

Before these limits (commit 97b55bc) every request below answered HTTP 500 (RecursionError,
FTS5 parser stack overflow, OverflowError) or, for the record-id filter, found nothing; and a
search waited for any search already running, however long that one took.
"""

from __future__ import annotations

import threading
import time

import argilla as rg
import httpx
import pytest

from curation.server.search_query import MAX_QUERY_CHARS, MAX_QUERY_DEPTH, MAX_QUERY_TERMS

pytestmark = pytest.mark.slow

# Deadlock guard for HTTP calls only; nothing below asserts on a duration.
GUARD_S = 300
# The expensive search: every record holds these words twice, and a query of all of them (under
# MAX_QUERY_TERMS and the CPU budget) costs FTS5 about 3 s of CPU over LOAD_RECORDS records on
# these machines, many times what the small search costs.
VOCABULARY = [f"w{i:04d}" for i in range(1_000)]
LOAD_RECORDS = 400
# How long the expensive search runs before the small one is sent, so that it is in the engine
# by then (argilla-server takes tens of milliseconds to get there). A delay, not a measurement.
HEAD_START_S = 0.5


@pytest.fixture(scope="module")
def annotated(argilla_client):
    """A dataset with an annotator, 3 records with 'source' values; and a large dataset to load search."""
    client = argilla_client
    workspace = rg.Workspace(name="limits-ws", client=client).create()
    annotator = rg.User(username="limits-ann", role="annotator", password="password-1234", client=client).create()
    annotator.add_to_workspace(workspace)
    api_key = client.api.http_client.get(f"/api/v1/users/{annotator.id}").json()["api_key"]

    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])],
        metadata=[rg.TermsMetadataProperty(name="source")],
    )
    dataset = rg.Dataset(name="limits-data", workspace=workspace, settings=settings, client=client).create()
    sources = {"r0": "web", "r1": "1e30", "r2": str(2**63)}
    dataset.records.log(
        [rg.Record(id=rid, fields={"text": f"card payment {rid}"}, metadata={"source": s}) for rid, s in sources.items()]
    )

    load = rg.Dataset(name="limits-load", workspace=workspace, settings=settings, client=client).create()
    words = " ".join(VOCABULARY * 2)
    load.records.log(
        [rg.Record(id=f"l{i}", fields={"text": words}) for i in range(LOAD_RECORDS)]
        + [rg.Record(id="needle", fields={"text": "a needle"})]
    )
    return {"dataset": dataset, "load": load, "api_key": api_key}


def search(server, annotated, body: dict, dataset: str = "dataset", **params) -> httpx.Response:
    """The annotator's record search (the UI's call)."""
    return httpx.post(
        f"{server.url}/api/v1/me/datasets/{annotated[dataset].id}/records/search",
        json=body, params=params, headers={"X-Argilla-Api-Key": annotated["api_key"]}, timeout=GUARD_S,
    )


def text(q: str) -> dict:
    return {"query": {"text": {"q": q}}}


def alternating(count: int) -> str:
    """`w0 | w1 + w2 ...`: operators apply left to right, so each change nests one level."""
    return " ".join(["w0", *(f"{'|+'[i % 2]} w{i + 1}" for i in range(count))])


INSERTED_AT_1E16 = {
    "filters": {"and": [{"type": "range", "scope": {"entity": "record", "property": "inserted_at"}, "ge": 1e16}]}
}


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        (text("hello " * 40_000), {}, f"the limit is {MAX_QUERY_CHARS:,}"),
        (text(" ".join(f"t{i}" for i in range(MAX_QUERY_TERMS + 1))), {}, f"more than {MAX_QUERY_TERMS:,} terms"),
        (text("(" * 5_000 + "card"), {}, f"more than {MAX_QUERY_DEPTH} levels"),
        (text(alternating(300)), {}, f"more than {MAX_QUERY_DEPTH} levels"),
        (INSERTED_AT_1E16, {}, "outside years 1 to 9999"),
        ({}, {"offset": 2**63}, "offset"),
    ],
    ids=["40k-words", "too-many-terms", "5000-groups", "300-alternations", "inserted_at-1e16", "offset-2^63"],
)
def test_search_beyond_a_limit_answers_422_that_states_it(argilla_server, annotated, body, params, message):
    response = search(argilla_server, annotated, body, **params)

    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_searches_just_under_the_limits_are_served(argilla_server, annotated):
    for q in (" ".join(["card"] * (MAX_QUERY_TERMS - 1) + ["r0"]), alternating(MAX_QUERY_DEPTH - 1) + " | card"):
        response = search(argilla_server, annotated, text(q))
        assert response.status_code == 200, response.text
        assert response.json()["total"] >= 1


@pytest.mark.parametrize(("value", "expected"), [("1e30", "r1"), (str(2**63), "r2")])
def test_a_terms_value_beyond_64_bit_integers_finds_its_record(argilla_server, annotated, value, expected):
    # A terms value is text: "1e30" matches the record that holds it, as in Elasticsearch.
    body = {
        "filters": {
            "and": [
                {"type": "terms", "scope": {"entity": "metadata", "metadata_property": "source"}, "values": [value]}
            ]
        }
    }
    response = search(argilla_server, annotated, body)

    assert response.status_code == 200, response.text
    assert [item["record"]["external_id"] for item in response.json()["items"]] == [expected]


def test_filter_by_server_id(argilla_server, annotated):
    """The SDK's `_server_id` filter (its own test_search_records_by_server_id) and the raw call."""
    dataset = annotated["dataset"]
    server_id = next(r for r in dataset.records if r.id == "r1")._server_id

    found = list(dataset.records(query=rg.Query(filter=rg.Filter(("_server_id", "==", server_id)))))
    assert [(r.id, r._server_id) for r in found] == [("r1", server_id)]

    body = {"filters": {"and": [{"type": "terms", "scope": {"entity": "record", "property": "id"}, "values": [str(server_id)]}]}}
    response = search(argilla_server, annotated, body)
    assert [item["record"]["external_id"] for item in response.json()["items"]] == ["r1"]


def test_small_searches_complete_while_an_expensive_one_runs(argilla_server, annotated):
    """One annotator's expensive (but allowed) search does not hold up everybody else's.

    Small searches run one after another until the expensive one answers. Had they to wait for
    it (one lock held across a read, as before), at most one could answer before it, the one
    queued behind it, racing it to the finish.
    """
    start = time.monotonic()
    finished = []  # (name, status, total) in the order the responses arrived
    seconds = []  # when each arrived: reported on failure, never compared

    def run(name: str, body: dict, **params) -> None:
        response = search(argilla_server, annotated, body, dataset="load", **params)
        finished.append((name, response.status_code, response.json().get("total")))
        seconds.append(round(time.monotonic() - start, 2))

    # limit=1: its answer carries one record, so the time it takes is the engine's.
    expensive = threading.Thread(target=run, args=("expensive", text(" ".join(VOCABULARY))), kwargs={"limit": 1})
    expensive.start()
    time.sleep(HEAD_START_S)
    assert expensive.is_alive(), "the expensive search ended before any small one started: it tests nothing"
    while expensive.is_alive():
        run("small", text("needle"))
    expensive.join(GUARD_S)

    answered_before = finished.index(("expensive", 200, LOAD_RECORDS))
    assert answered_before >= 3, (finished, seconds)
    assert set(finished) == {("small", 200, 1), ("expensive", 200, LOAD_RECORDS)}
