"""The web UI against production mode (PostgreSQL, 2 uvicorn workers): an annotator signs in,
loads the dataset's annotation page several times, with both workers answering the browser,
and submits a response. Reuses test_ui's DevTools driver and dataset."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import argilla as rg
import pytest

from curation.server import embedded
from tests.fixtures.sockets import ESTABLISHED, socket_inodes, sockets_held
from tests.server.test_ui import TEXTS, Chromium, _ui_dataset, label_the_shown_record, sign_in

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)"),
]


def _workers_with_connections(server_pid: int, port: int) -> set[int]:
    """The uvicorn workers holding an established TCP connection on `port` right now."""
    established = {inode for inode, (_, local) in socket_inodes(ESTABLISHED).items() if local == port}
    return {pid for pid in embedded.worker_pids(server_pid) if sockets_held(pid, established)}


def test_an_annotator_works_in_the_ui_served_by_two_workers(argilla_pg_server):
    info = argilla_pg_server
    port = embedded.port_of(info.url)
    dataset, user = _ui_dataset(rg.Argilla(api_url=info.url, api_key=info.api_key))
    with tempfile.TemporaryDirectory(prefix="curation-chromium-") as profile:
        browser = Chromium(Path(profile))
        try:
            sign_in(browser, info.url)
            answered_by = _workers_with_connections(info.pid, port)
            shown_texts = f"Object.values({json.dumps(TEXTS)}).filter(text => document.body.innerText.includes(text))"
            for load in range(20):  # each load opens connections; whichever worker accepts first answers
                if load >= 6 and len(answered_by) == 2:
                    break
                browser.goto(f"{info.url}/")
                browser.wait_js("document.body.innerText.includes('ui-data')")
                browser.goto(f"{info.url}/dataset/{dataset.id}/annotation-mode")
                browser.wait_js(f"{shown_texts}.length === 1")
                answered_by |= _workers_with_connections(info.pid, port)
            assert len(answered_by) == 2, answered_by
            shown = label_the_shown_record(browser)
        finally:
            browser.close()

    records = {r.id: r for r in dataset.records(with_responses=True)}
    assert [(r.user_id, r.value, r.status) for r in records[shown].responses["label"]] == [(user.id, "good", "submitted")]
