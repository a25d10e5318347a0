"""The Argilla UI's "find similar" on pushed vectors, in headless Chromium (tests/server/test_ui.py's driver).

The UI keeps its similarity filter in the page's URL (`similarity=record.<id>.vector.<name>.limit.<n>.order.most`,
what its "Find similar" button writes) and asks the server with POST .../records/search carrying a `vector`
query. An annotator clicks "Find similar" on the record shown and sees its paraphrase with its similarity
score; a similarity link opened directly gets the right answer (read from the page's request) and draws it too
(argilla-server 2.8 answered 500 for the reference record: fixed in curation/upstream/argilla_server.py).
"""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from tests.server.test_ui import browser  # noqa: F401  (the UI test's fixture: one headless Chromium)

from bench.embeddings import paraphrase_ranks
from curation.argilla.datasets import find_dataset
from curation.embeddings import INSTRUCTION_EMBEDDING
from curation.review.push import push_batch
from curation.review.records import record_id

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)"),
]

PASSWORD = "similar-password-123"
# Keeps what the page sends to and receives from .../records/search (the UI talks to the server by XHR).
RECORD_SEARCHES = """(() => {
window.__searches = [];
const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.open = function (method, url) { this.__url = String(url); return open.apply(this, arguments); };
XMLHttpRequest.prototype.send = function (body) {
  if (this.__url.includes('/records/search')) {
    const entry = {url: this.__url, body: body ? JSON.parse(body) : null};
    window.__searches.push(entry);
    this.addEventListener('load', () => { entry.status = this.status; entry.answer = JSON.parse(this.responseText); });
  }
  return send.apply(this, arguments);
};
})();"""


def sign_in(browser, url: str, username: str) -> None:
    browser.goto(f"{url}/sign-in")
    browser.type_into("input[name=Username]", username)
    browser.type_into("input[name=Password]", PASSWORD)
    browser.click("button[type=submit]")
    browser.wait_js("!location.pathname.startsWith('/sign-in')")


def open_similar(argilla_server, argilla_client, review_workspace, embedded_batch, paraphrases, browser):
    """Push the embedded paraphrases with vectors, sign in as a new annotator and open the UI's similarity
    filter on a record whose paraphrase the model ranks first; returns (browser, the paraphrase's text)."""
    import argilla as rg

    name = f"similar-ui-{uuid.uuid4().hex[:8]}"
    push_batch(embedded_batch, name, workspace=review_workspace, client=argilla_client, show_progress=False,
               vectors=True)
    dataset = find_dataset(argilla_client, name, review_workspace)
    username = f"similar-{uuid.uuid4().hex[:6]}"
    user = rg.User(username=username, role="annotator", password=PASSWORD, client=argilla_client).create()
    user.add_to_workspace(argilla_client.workspaces(review_workspace))

    # A pair whose paraphrase the model ranks first (independent numpy cosine over the batch's vectors).
    rows = embedded_batch.rows()
    ranks = paraphrase_ranks(paraphrases, [r[INSTRUCTION_EMBEDDING] for r in rows])
    query_id = next(pid for pid, rank in sorted(ranks.items()) if rank == 1)
    i = next(n for n, p in enumerate(paraphrases) if p["id"] == query_id)
    j = next(n for n, p in enumerate(paraphrases) if p["pair"] == paraphrases[i]["pair"] and n != i)
    records = {r.id: r for r in dataset.records}
    reference = records[record_id(embedded_batch.id, i)]

    url = argilla_server.url
    sign_in(browser, url, username)
    browser.call("Page.enable")
    browser.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SEARCHES)
    similarity = f"record.{reference._server_id}.vector.{INSTRUCTION_EMBEDDING}.limit.5.order.most"
    browser.goto(f"{url}/dataset/{dataset.id}/annotation-mode?similarity={similarity}")
    [search] = browser.wait_js("(s => s && s.length && s[0].answer && s)(window.__searches)")
    # The UI asked for the records most similar to the reference by its vector ...
    assert search["body"]["query"]["vector"] == {"name": INSTRUCTION_EMBEDDING, "record_id": str(reference._server_id),
                                                 "max_results": 5, "order": "most_similar"}
    assert search["status"] == 200
    # ... and the answer the page received puts the paraphrase first (the reference itself left out).
    shown = [item["record"]["external_id"] for item in search["answer"]["items"]]
    assert shown[0] == record_id(embedded_batch.id, j) and record_id(embedded_batch.id, i) not in shown
    assert search["answer"]["items"][0]["record"]["fields"]["instruction"] == paraphrases[j]["instruction"]
    return browser, paraphrases[j]["instruction"]


def test_the_ui_asks_for_similar_records_and_gets_the_paraphrase_first(
        argilla_server, argilla_client, review_workspace, embedded_batch, paraphrases, browser):
    open_similar(argilla_server, argilla_client, review_workspace, embedded_batch, paraphrases, browser)


def test_the_ui_draws_the_paraphrase_with_its_similarity_score(
        argilla_server, argilla_client, review_workspace, embedded_batch, paraphrases, browser):
    browser, paraphrase = open_similar(argilla_server, argilla_client, review_workspace, embedded_batch,
                                       paraphrases, browser)
    browser.wait_js("!!document.querySelector('.similarity__progress') && "
                    f"document.body.innerText.includes({json.dumps(paraphrase)})", timeout=30)


def test_find_similar_on_the_shown_record_shows_its_paraphrase(
        argilla_server, argilla_client, review_workspace, embedded_batch, paraphrases, browser, tmp_path):
    """The annotator's own path: open the dataset, click "Find similar" on the record shown; the UI draws its
    paraphrase with a similarity score. The dataset holds the pairs whose two instructions the model ranks first
    for each other (independent numpy cosine), so whichever record the per-user shuffle shows, its paraphrase is
    the most similar."""
    import argilla as rg

    from curation.batch import write_child_batch

    rows = embedded_batch.rows()
    ranks = paraphrase_ranks(paraphrases, [r[INSTRUCTION_EMBEDDING] for r in rows])
    mutual = {p["pair"] for p in paraphrases
              if p["pair"] and all(ranks[q["id"]] == 1 for q in paraphrases if q["pair"] == p["pair"])}
    keep = [n for n, p in enumerate(paraphrases) if p["pair"] in mutual]
    assert len(mutual) >= 10  # 17 of 24 pairs with this model
    subset = write_child_batch(embedded_batch, [rows[n] for n in keep], derived_by="mutual", details={},
                               out=tmp_path / "mutual")
    name = f"similar-click-{uuid.uuid4().hex[:8]}"
    push_batch(subset, name, workspace=review_workspace, client=argilla_client, show_progress=False, vectors=True)
    dataset = find_dataset(argilla_client, name, review_workspace)
    username = f"click-{uuid.uuid4().hex[:6]}"
    user = rg.User(username=username, role="annotator", password=PASSWORD, client=argilla_client).create()
    user.add_to_workspace(argilla_client.workspaces(review_workspace))

    sign_in(browser, argilla_server.url, username)
    browser.call("Page.enable")
    browser.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SEARCHES)
    browser.goto(f"{argilla_server.url}/dataset/{dataset.id}/annotation-mode")
    pair_of = {paraphrases[n]["instruction"]: paraphrases[n]["pair"] for n in keep}
    shown = browser.wait_js(f"(t => t.length === 1 && t[0])(Object.keys({json.dumps(pair_of)})"
                            ".filter(text => document.body.innerText.includes(text)))")
    paraphrase = next(text for text, pair in pair_of.items() if pair == pair_of[shown] and text != shown)

    find_similar = "Array.from(document.querySelectorAll('button')).find(b => b.innerText.trim() === 'Find similar')"
    browser.wait_js(f"!!{find_similar}")
    browser.js(f"{find_similar}.click()")
    browser.wait_js("!!document.querySelector('.similarity__progress') && "
                    f"document.body.innerText.includes({json.dumps(paraphrase)})")
    # What the page asked and was answered: a vector query for the shown record, the paraphrase first.
    search = browser.js("window.__searches.find(s => s.body && s.body.query && s.body.query.vector)")
    assert search["body"]["query"]["vector"]["name"] == INSTRUCTION_EMBEDDING and search["status"] == 200
    assert search["answer"]["items"][0]["record"]["fields"]["instruction"] == paraphrase
