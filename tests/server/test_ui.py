"""The embedded server's web UI, driven in headless Debian Chromium over the DevTools Protocol.

An annotator signs in, opens a dataset, labels the pending record it shows (the order is a
per-user shuffle) and submits it; the SDK then finds that response. Needs the `chromium` binary (scripts/test.sh installs it on CI).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import argilla as rg
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)"),
]

USERNAME, PASSWORD = "ui-annotator", "ui-password-123"
TEXTS = {"ui-0": "Paris is the capital of France.", "ui-1": "The moon is made of cheese."}


class Chromium:
    """A headless Chromium with one page, driven with DevTools Protocol commands."""

    def __init__(self, profile: Path):
        from websockets.sync.client import connect

        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,900",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so close() can end its helpers too
        )
        port_file = profile / "DevToolsActivePort"  # Chromium writes its port here
        self.wait_for(lambda: port_file.exists() and len(port_file.read_text().split()) == 2, "DevTools port")
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(target for target in targets if target["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:  # skip events until our answer arrives
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def type_into(self, selector: str, text: str) -> None:
        """Focus an input and type, so the page sees real input events."""
        self.wait_js(f"!!document.querySelector({selector!r})")
        self.js(f"document.querySelector({selector!r}).focus()")
        self.call("Input.insertText", text=text)

    def click(self, selector: str) -> None:
        self.wait_js(f"(e => e && !e.disabled)(document.querySelector({selector!r}))")
        self.js(f"document.querySelector({selector!r}).click()")

    def wait_js(self, expression: str, timeout: float = 90):
        try:
            return self.wait_for(lambda: self.js(expression), expression, timeout)
        except TimeoutError as exc:  # say what the page showed instead
            page = self.js("location.href + ' shows: ' + document.body.innerText.slice(0, 400)")
            raise TimeoutError(f"{exc}; {page}") from None

    @staticmethod
    def wait_for(condition, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"timed out waiting for {what}")

    def close(self) -> None:
        """End the browser and every helper process it started, so none still writes to the profile."""
        self.socket.close()
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # helpers that outlived the browser
            self.wait_for(lambda: not _group_alive(self.process.pid), "Chromium's helper processes", timeout=10)
        except ProcessLookupError:  # already all gone
            pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _ui_dataset(client: rg.Argilla) -> tuple[rg.Dataset, rg.User]:
    """Dataset "ui-data" with the two TEXTS records, and the annotator USERNAME in its workspace."""
    workspace = rg.Workspace(name="ui-ws", client=client).create()
    user = rg.User(username=USERNAME, role="annotator", password=PASSWORD, client=client).create()
    user.add_to_workspace(workspace)
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])],
    )
    dataset = rg.Dataset(name="ui-data", workspace=workspace, settings=settings, client=client).create()
    dataset.records.log([rg.Record(id=record_id, fields={"text": text}) for record_id, text in TEXTS.items()])
    return dataset, user


def sign_in(browser: Chromium, url: str) -> None:
    """Sign in as the annotator USERNAME through the sign-in page."""
    browser.goto(f"{url}/sign-in")
    browser.type_into("input[name=Username]", USERNAME)
    browser.type_into("input[name=Password]", PASSWORD)
    browser.click("button[type=submit]")
    browser.wait_js("!location.pathname.startsWith('/sign-in')")


def label_the_shown_record(browser: Chromium) -> str:
    """On the annotation page, label "good" the pending record it shows (Argilla shuffles them per
    user), submit, and wait for the other one; returns the id of the record labelled."""
    shown = browser.wait_js(f"(shown => shown.length === 1 && shown[0])"
                            f"(Object.entries({json.dumps(TEXTS)})"
                            f".filter(([id, text]) => document.body.innerText.includes(text)).map(([id]) => id))")
    [other] = set(TEXTS) - {shown}
    browser.click("label[for=label_good]")
    browser.click("button.button--submit")
    # The UI moves on to the other pending record once the response is stored.
    browser.wait_js(f"document.body.innerText.includes({json.dumps(TEXTS[other])})")
    return shown


@pytest.fixture
def dataset(argilla_client):
    return _ui_dataset(argilla_client)


@pytest.fixture
def browser():
    with tempfile.TemporaryDirectory(prefix="curation-chromium-") as profile:
        chromium = Chromium(Path(profile))
        try:
            yield chromium
        finally:
            chromium.close()


def test_annotator_submits_a_response_in_the_ui(argilla_server, dataset, browser):
    dataset, user = dataset
    sign_in(browser, argilla_server.url)
    browser.wait_js("document.body.innerText.includes('ui-data')")  # the home page lists it

    browser.goto(f"{argilla_server.url}/dataset/{dataset.id}/annotation-mode")
    shown = label_the_shown_record(browser)
    [other] = set(TEXTS) - {shown}

    records = {r.id: r for r in dataset.records(with_responses=True)}
    responses = records[shown].responses["label"]
    assert [(r.user_id, r.value, r.status) for r in responses] == [(user.id, "good", "submitted")]
    assert records[shown].status == "completed"
    assert not records[other].responses["label"] and records[other].status == "pending"


def test_an_annotator_stays_signed_in_across_a_restart(tmp_path, browser, no_remote):
    from curation.server import embedded
    from tests.fixtures.server import start_on_free_port

    data_dir = tmp_path / "server"
    info = start_on_free_port(data_dir)
    port = embedded.port_of(info.url)
    try:
        dataset, user = _ui_dataset(rg.Argilla(api_url=info.url, api_key=info.api_key))

        sign_in(browser, info.url)
        browser.wait_js("document.body.innerText.includes('ui-data')")

        # Same address (the browser keeps its session per origin), new server processes.
        embedded.stop(data_dir)
        restarted = embedded.start(data_dir, port)
        assert restarted.url == info.url and restarted.pid != info.pid

        # The annotator's next action works without signing in again.
        browser.goto(f"{info.url}/dataset/{dataset.id}/annotation-mode")
        shown = label_the_shown_record(browser)
        assert not browser.js("location.pathname.startsWith('/sign-in')")

        records = {r.id: r for r in dataset.records(with_responses=True)}
        assert [(r.user_id, r.value) for r in records[shown].responses["label"]] == [(user.id, "good")]
    finally:
        embedded.stop(data_dir)
