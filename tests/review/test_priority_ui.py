"""The review queue as annotators see it in the Argilla UI, in headless Chromium (tests/server/test_ui.py's driver).

`curate push` prints a link that carries the UI's own sort (`sort=metadata.review_priority.desc`); opened
plainly, the UI asks with no sort and our search engine serves the top priority band first, shuffled per
annotator. Both ways, two annotators each see a top-band record first, and not the same one.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main
from tests.review.priority_batches import banded_batch
from tests.embeddings.test_similar_ui import RECORD_SEARCHES  # keeps what the page asks .../records/search
from tests.review.test_priority_queue import BY_PRIORITY, queue
from tests.server.test_ui import Chromium

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)"),
]

TOP = 8


def shown_instruction(browser: Chromium, instructions: dict[str, str]) -> str:
    """The id of the one record whose instruction the annotation page shows."""
    return browser.wait_js(f"(shown => shown.length === 1 && shown[0])"
                           f"(Object.entries({_js(instructions)})"
                           f".filter(([id, text]) => document.body.innerText.includes(text)).map(([id]) => id))")


def _js(value) -> str:
    import json

    return json.dumps(value)


def sign_in(browser: Chromium, url: str, username: str, password: str) -> None:
    browser.goto(f"{url}/sign-in")
    browser.type_into("input[name=Username]", username)
    browser.type_into("input[name=Password]", password)
    browser.click("button[type=submit]")
    browser.wait_js("!location.pathname.startsWith('/sign-in')")


def test_two_annotators_see_a_top_band_record_first_by_link_and_plainly(
        argilla_server, argilla_client, review_workspace, tmp_path):
    import argilla as rg

    batch, priority = banded_batch(tmp_path, top=TOP)
    name = f"queue-ui-{uuid.uuid4().hex[:8]}"
    pushed = CliRunner().invoke(main, ["push", str(batch.path), "-d", name, "--no-progress"], catch_exceptions=False)
    assert pushed.exit_code == 0, pushed.stdout + pushed.stderr
    link = re.search(r"Review it at (\S+)", pushed.stdout).group(1)
    assert link.endswith("/annotation-mode?sort=metadata.review_priority.desc")
    plain = link.split("?")[0]
    dataset_id = plain.rsplit("/", 2)[1]
    rows = batch.rows()
    instructions = {f"{batch.id}:{i}": row["instruction"] for i, row in enumerate(rows)}
    top = {f"{batch.id}:{i}" for i, p in priority.items() if p == 0.8}

    # Annotators whose queues start differently (each queue is a per-user shuffle within the band).
    chosen: list[tuple[str, str, dict]] = []
    for _ in range(8):
        username, password = f"queue-ui-{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(12)
        user = rg.User(username=username, password=password, role="annotator", client=argilla_client).create()
        user.add_to_workspace(argilla_client.workspaces(review_workspace))
        key = argilla_client.api.http_client.get(f"/api/v1/users/{user.id}").json()["api_key"]
        client = rg.Argilla(api_url=argilla_server.url, api_key=key)
        firsts = {"link": queue(client, dataset_id, sort=True, limit=1)[0], "plain": queue(client, dataset_id, limit=1)[0]}
        if all(firsts[k] != other[k] for _, _, other in chosen for k in firsts):
            chosen.append((username, password, firsts))
        if len(chosen) == 2:
            break
    assert len(chosen) == 2, "no two of 8 annotators start their queues on different records"

    seen = []
    for username, password, firsts in chosen:
        with tempfile.TemporaryDirectory(prefix="curation-chromium-") as profile:
            browser = Chromium(Path(profile))
            try:
                sign_in(browser, argilla_server.url, username, password)
                browser.call("Page.enable")
                browser.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SEARCHES)
                browser.goto(link)
                by_link = shown_instruction(browser, instructions)
                asked_by_link = browser.js("window.__searches.map(s => s.body.sort || null)")
                browser.goto(plain)
                plainly = shown_instruction(browser, instructions)
                asked_plainly = browser.js("window.__searches.map(s => s.body.sort || null)")
            finally:
                browser.close()
        # The link's page asked with the UI's sort on review_priority; the plain page with none.
        assert asked_by_link and all(sort == BY_PRIORITY for sort in asked_by_link)
        assert asked_plainly and all(sort is None for sort in asked_plainly)
        assert by_link in top and plainly in top
        assert (by_link, plainly) == (firsts["link"], firsts["plain"])  # what the queue served, drawn
        seen.append((by_link, plainly))
    assert seen[0][0] != seen[1][0] and seen[0][1] != seen[1][1]
