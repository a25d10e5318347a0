"""`curate watch` end to end (issue #25's acceptance), on the session's real Argilla server.

SOURCE is an sft dataset of instructions; an annotator submits records through the SDK (the
endpoint the UI calls); argilla-server's rq worker delivers the signed `record.completed`
webhooks to the watcher (`curate watch` in a subprocess), which runs `ultrafeedback` on the
bundled model and pushes to TARGET. Then: a duplicate delivery and forged ones (bad signature,
no signature, stale) change nothing; kill -9 the watcher, submit 2 more, restart: TARGET ends
with 5 records, one per source record.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from curation.review.records import derived_id
from tests.fixtures.server import free_port
from tests.report.known_reviews import _batch, unique

pytestmark = pytest.mark.slow

TAG = uuid.uuid4().hex[:6]
RECIPE = "ultrafeedback"
INSTRUCTIONS = [f"Name a colour of the sky ({TAG}).", f"What is two plus two ({TAG})?",
                f"Say hello in French ({TAG}).", f"Name a fruit that is yellow ({TAG}).",
                f"What do bees make ({TAG})?"]


class Watch:
    """`curate watch` in a subprocess, its output in a file."""

    def __init__(self, home: Path, source: str, target: str, workspace: str, port: int, env: dict | None = None,
                 recipe: str = RECIPE, args: tuple[str, ...] = ()):
        self.home, self.port, self.env = home, port, env or {}
        self.args = ["watch", source, "--recipe", recipe, "--into", target, "--workspace", workspace,
                     "--listen", f"127.0.0.1:{port}", "--window", "1", "--retry-delay", "1",
                     "--max-new-tokens", "16", *args]
        self.log = home / f"watch-{port}.log"
        self.process = None

    def start(self) -> None:
        env = {**os.environ, "CURATION_HOME": str(self.home), **self.env}
        out = self.log.open("a")
        # Its own process group: kill() can tell whether anything it forked outlived it.
        self.process = subprocess.Popen([sys.executable, "-c", "from curation.cli import main; main()", *self.args],
                                        stdout=out, stderr=subprocess.STDOUT, text=True, env=env,
                                        start_new_session=True)
        self.wait_for("Watching ")

    def kill(self) -> None:
        """kill -9 of the watcher's process; the processes it forked must not outlive it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        deadline = time.monotonic() + 30
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.group_alive()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        assert not left, "processes the watcher forked outlived its kill -9"

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 300) -> int:
        """SIGTERM, then its exit status; a watcher that does not stop in time is killed (and fails the test)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return -9

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"no {text!r} in: {self.output()}"
            time.sleep(0.1)

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}/watch/{target}"


def submit(annotator, dataset, record_ids: list[str]) -> None:
    """As the annotator, submit the records: the instruction kept, the proposed response accepted."""
    import argilla as rg

    me = annotator.me.id
    for record in dataset.records(with_responses=False, with_suggestions=False):
        if record.id not in record_ids:
            continue
        values = {"instruction_rating": 4, "response": record.fields["generated_response"], "response_rating": 4}
        for question, value in values.items():
            record.responses.add(rg.Response(question, value, user_id=me, status="submitted"))
        (model,) = record.responses.api_models()
        annotator.api.records.create_record_response(record._server_id, model)


def target_records(client, name: str, workspace: str) -> list:
    from curation.argilla.datasets import find_dataset

    dataset = find_dataset(client, name, workspace)
    return [] if dataset is None else list(dataset.records(with_suggestions=True))


def wait_for_records(client, name: str, workspace: str, count: int, watch: Watch, timeout: float = 300) -> list:
    deadline = time.monotonic() + timeout
    while True:
        records = target_records(client, name, workspace)
        if len(records) >= count:
            return records
        assert watch.process.poll() is None, watch.output()
        assert time.monotonic() < deadline, f"{len(records)} of {count} records after {timeout} s: {watch.output()}"
        time.sleep(0.5)


def signed(secret: str, payload: dict, *, at: float | None = None) -> tuple[bytes, dict]:
    """A delivery signed as argilla-server signs one (standard-webhooks)."""
    import datetime as dt

    from standardwebhooks.webhooks import Webhook

    body = json.dumps(payload)
    when = dt.datetime.fromtimestamp(at or time.time(), tz=dt.timezone.utc)
    msg_id = f"msg_{uuid.uuid4().hex}"
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=when, data=body)
    return body.encode(), {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
                           "webhook-signature": signature, "content-type": "application/json"}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("watch-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATION_HOME", str(path))
        yield path


def pushed_source(home: Path, client, workspace: str):
    """An sft dataset of the five instructions, pushed as `curate push` pushes, no response yet:
    (name, dataset, record ids)."""
    from curation.argilla.datasets import find_dataset
    from curation.review.push import push_batch
    from curation.review.records import record_id

    rows = [{"instruction": text, "response": f"A short answer ({i}).", "model_name": "seed"}
            for i, text in enumerate(INSTRUCTIONS)]
    batch = _batch(home / "seeds", unique("instructions"), "sft", "prompt", rows)
    name = unique("watch-source")
    push_batch(batch, name, workspace=workspace, client=client, show_progress=False)
    return name, find_dataset(client, name, workspace), [record_id(batch.id, i) for i in range(5)]


@pytest.fixture(scope="module")
def source(home, argilla_client, review_workspace):
    return pushed_source(home, argilla_client, review_workspace)


def test_completed_records_reach_the_target_once_across_duplicates_forgeries_and_a_kill(
        home, source, argilla_client, review_workspace):
    from curation.batch import load_batch
    from tests.review.annotators import add_annotator

    name, dataset, ids = source
    target = unique("watch-target")
    annotator = add_annotator(argilla_client, review_workspace, unique("watch-ann"))
    watch = Watch(home, name, target, review_workspace, free_port())
    watch.start()
    try:
        # Three submits: three records in TARGET, each named after its source record, with the judge's suggestions.
        submit(annotator, dataset, ids[:3])
        records = wait_for_records(argilla_client, target, review_workspace, 3, watch)
        assert sorted(r.id for r in records) == sorted(derived_id(RECIPE, i) for i in ids[:3])
        for record in records:
            assert {s.question_name for s in record.suggestions} >= {"rating_1", "rating_2"}, record.suggestions
            batch = load_batch(record.metadata["batch_id"])
            parent = batch.manifest["parent"]
            assert (parent["dataset"], parent["workspace"]) == (name, review_workspace)
            row = batch.rows()[record.metadata["row_index"]]
            source_id = record.id.removeprefix(f"watch:{RECIPE}:")
            assert row["source_record_id"] == source_id
            assert row["instruction"] == INSTRUCTIONS[ids.index(source_id)] == record.fields["instruction"]

        # The webhook the watcher registered; its secret signs our own deliveries.
        (webhook,) = [w for w in argilla_client.webhooks if w.url == watch.url(target)]
        assert webhook.events == ["record.completed"] and webhook.enabled
        event = {"type": "record.completed", "version": 1, "timestamp": "2026-12-03T00:00:00Z",
                 "data": {"id": str(uuid.uuid4()), "external_id": ids[0], "status": "completed",
                          "dataset": {"id": str(dataset.id)}}}
        forged = {**event, "data": {**event["data"], "external_id": ids[4]}}
        body, headers = signed(webhook.secret, forged)
        refusals = [
            httpx.post(watch.url(target), content=body, headers={**headers, "webhook-signature": "v1,Zm9yZ2Vk"}),
            httpx.post(watch.url(target), content=body, headers={"content-type": "application/json"}),
            httpx.post(watch.url(target), content=signed("d2hzZWNfd3Jvbmc=", forged)[0],
                       headers=signed("d2hzZWNfd3Jvbmc=", forged)[1]),
            httpx.post(watch.url(target), content=signed(webhook.secret, forged, at=time.time() - 600)[0],
                       headers=signed(webhook.secret, forged, at=time.time() - 600)[1]),
        ]
        assert [r.status_code for r in refusals] == [401] * 4
        body, headers = signed(webhook.secret, event)
        assert httpx.post(watch.url(target), content=body, headers=headers).status_code == 204  # a duplicate
        time.sleep(3)  # longer than --window: a micro-batch would have started
        assert len(target_records(argilla_client, target, review_workspace)) == 3
        assert "record(s) of" in watch.output() and watch.output().count("record(s) of") <= 3

        # kill -9, two more submits while it is down, a restart: the catch-up finds them.
        watch.kill()
        submit(annotator, dataset, ids[3:])
        watch.start()
        records = wait_for_records(argilla_client, target, review_workspace, 5, watch)
        time.sleep(3)  # a late webhook retry of the two must not add a record
        records = target_records(argilla_client, target, review_workspace)
        assert sorted(r.id for r in records) == sorted(derived_id(RECIPE, i) for i in ids)

        from click.testing import CliRunner

        from curation.cli import main

        status = CliRunner().invoke(main, ["status", target, "--workspace", review_workspace, "--json"])
        assert status.exit_code == 0, status.output
        watcher = json.loads(status.output)["watch"]
        assert (watcher["source"], watcher["recipe"], watcher["running"]) == (name, RECIPE, True)
        assert (watcher["received"], watcher["pushed"], watcher["pending"], watcher["failed"]) == (5, 5, 0, 0)
        assert watcher["refused"] == 4 and watcher["duplicates"] >= 1
        assert "Watcher (" in CliRunner().invoke(main, ["status", target, "--workspace", review_workspace]).output
        assert webhook.secret not in watch.output()
    finally:
        stopped = watch.stop()  # SIGTERM: a clean stop that removes the webhook
    assert stopped == 0, watch.output()
    assert "Stopped; the webhook is removed." in watch.output()
    assert not [w for w in argilla_client.webhooks if w.url == watch.url(target)]


def test_a_model_server_that_is_down_delays_the_record_and_never_drops_it(home, own_model_server, argilla_client,
                                                                          review_workspace):
    """The watcher's backend is a llama.cpp server that is not up yet: the micro-batch fails, is
    retried, and the record arrives once the server is up."""
    from tests.review.annotators import add_annotator

    name, dataset, ids = pushed_source(home, argilla_client, review_workspace)
    target = unique("watch-retry-target")
    watch = Watch(home, name, target, review_workspace, free_port(), recipe="responses",
                  args=("--backend", "openai:smollm2", "--base-url", own_model_server.base_url))
    watch.start()
    try:
        submit(add_annotator(argilla_client, review_workspace, unique("watch-retry-ann")), dataset, ids[:1])
        watch.wait_for("retried later")
        own_model_server.start()
        (record,) = wait_for_records(argilla_client, target, review_workspace, 1, watch)
        assert record.id == derived_id("responses", ids[0])
        assert record.fields["instruction"] == INSTRUCTIONS[0]
    finally:
        stopped = watch.stop()
    assert stopped == 0, watch.output()


def test_a_watcher_on_the_production_server(home, argilla_pg_server):
    """PostgreSQL, redis-server, two workers: the webhook comes from that server's worker."""
    import argilla as rg

    from tests.review.annotators import add_annotator

    client = rg.Argilla(api_url=argilla_pg_server.url, api_key=argilla_pg_server.api_key)
    workspace = rg.Workspace(name=unique("watch-pg"), client=client).create().name
    name, dataset, ids = pushed_source(home, client, workspace)
    target = unique("watch-pg-target")
    watch = Watch(home, name, target, workspace, free_port(),
                  env={"ARGILLA_API_URL": argilla_pg_server.url, "ARGILLA_API_KEY": argilla_pg_server.api_key})
    watch.start()
    try:
        submit(add_annotator(client, workspace, unique("watch-pg-ann")), dataset, ids[:1])
        (record,) = wait_for_records(client, target, workspace, 1, watch)
        assert record.id == derived_id(RECIPE, ids[0]) and record.suggestions
    finally:
        stopped = watch.stop()
    assert stopped == 0, watch.output()
    assert not [w for w in client.webhooks if w.url == watch.url(target)]


@pytest.mark.parametrize("args, message", [
    (["no-such-dataset-xyz", "--recipe", "responses", "--into", "t"], "no Argilla dataset 'no-such-dataset-xyz'"),
    (["{source}", "--recipe", "prompt", "--into", "t"], "recipe 'prompt' needs topic"),
    (["{source}", "--recipe", "responses", "--into", "t", "--listen", "nowhere"], "--listen takes HOST:PORT"),
    (["{source}", "--recipe", "responses", "--into", "{source}"], "--into must name another dataset"),
])
def test_bad_input_is_one_line_and_exit_2(source, args, message, review_workspace):
    from click.testing import CliRunner

    from curation.cli import main

    name = source[0]
    result = CliRunner().invoke(main, ["watch", *[a.format(source=name) for a in args], "-w", review_workspace])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_start_that_fails_leaves_no_webhook(source, argilla_client, review_workspace):
    """--listen on a port another process holds: the webhook registered before listening is deleted."""
    import socket

    from click.testing import CliRunner

    from curation.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["watch", source[0], "--recipe", "responses", "--into", "start-fails",
                                           "--listen", f"127.0.0.1:{port}", "-w", review_workspace])
    assert result.exit_code == 2, result.output
    assert f"could not listen on 127.0.0.1:{port}" in result.output and "Traceback" not in result.output
    assert not [w for w in argilla_client.webhooks if w.url.endswith(f":{port}/watch/start-fails")
                or "start-fails" in (w.description or "")]
