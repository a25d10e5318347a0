"""`curate push` / `curate status` from the command line, including a push killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.review.listing import iter_records
from curation.review.lookup import find_dataset
from curation.review.records import record_id
from tests.review.sample_batches import write_sample_batch

CURATE = Path(sys.executable).parent / "curate"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def invoke(args: list[str], **env: str):
    return CliRunner(mix_stderr=False).invoke(main, args, env=env or None, catch_exceptions=False)


def error_lines(result) -> list[str]:
    return [line for line in (result.stderr + result.stdout).splitlines() if line.startswith("Error")]


@pytest.mark.slow
def test_push_and_status_commands(argilla_server, tmp_path):
    batch = write_sample_batch(tmp_path, "preference", 6, responses=2)
    name = unique("cli")
    pushed = invoke(["push", str(batch.path), "--dataset", name, "--no-progress"])
    assert pushed.exit_code == 0, pushed.stderr
    assert f"Pushed 6 new record(s) of batch {batch.id} to dataset '{name}' (created)" in pushed.stdout
    again = invoke(["push", str(batch.path), "-d", name, "--no-progress"])
    assert again.exit_code == 0 and "Pushed 0 new record(s)" in again.stdout and "6 were already there" in again.stdout

    as_json = invoke(["status", name, "--json"])
    assert as_json.exit_code == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["records"] == {"total": 6, "pending": 6, "completed": 0}
    assert report["annotators"] == {}
    assert report["agreement"]["ranking"] == {"level": "nominal", "of": "top choice", "alpha": None, "annotators": 0, "records": 0}
    tables = invoke(["status", name])
    assert tables.exit_code == 0 and "Annotators" in tables.stdout and "Krippendorff" in tables.stdout


@pytest.mark.slow
def test_killed_push_reruns_to_exactly_the_batch(argilla_server, argilla_client, tmp_path):
    rows = 2500
    batch = write_sample_batch(tmp_path, "sft", rows, seed=9)
    name = unique("killed")
    env = {**os.environ, "ARGILLA_API_URL": argilla_server.url, "ARGILLA_API_KEY": argilla_server.api_key}
    proc = subprocess.Popen([str(CURATE), "push", str(batch.path), "-d", name, "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen, deadline = 0, time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            dataset = find_dataset(argilla_client, name)
            seen = dataset.progress()["total"] if dataset is not None and dataset._model.status == "ready" else 0
            if seen >= 500:
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert 500 <= seen < rows, f"the push was not killed midway ({seen} of {rows} records)"

    rerun = invoke(["push", str(batch.path), "-d", name, "--no-progress"])
    assert rerun.exit_code == 0, rerun.stderr
    ids = [item["external_id"] for item in iter_records(argilla_client, find_dataset(argilla_client, name).id)]
    assert len(ids) == rows and sorted(ids) == sorted(record_id(batch.id, i) for i in range(rows))


def test_bad_config_names_file_and_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    batch = write_sample_batch(tmp_path, "sft", 2)
    bad = tmp_path / "bad.yaml"
    from curation.review.config import default_config_path

    bad.write_text(default_config_path("sft").read_text().replace("type: rating", "type: ratng", 1))
    result = invoke(["push", str(batch.path), "-d", "never", "--config", "bad.yaml"])
    assert result.exit_code == 2
    assert error_lines(result) == ["Error: bad.yaml: questions[0].type: unknown type 'ratng' (expected one of "
                                   "rating, label, multi_label, text, ranking, span)"]


def test_server_down_is_one_line_without_the_key(tmp_path):
    batch = write_sample_batch(tmp_path, "sft", 2)
    key = "do-not-print-" + uuid.uuid4().hex
    for args in (["push", str(batch.path), "-d", "x"], ["status", "x"]):
        result = invoke(args, ARGILLA_API_URL="http://127.0.0.1:6939", ARGILLA_API_KEY=key)
        assert result.exit_code != 0
        assert len(error_lines(result)) == 1 and "cannot reach Argilla" in error_lines(result)[0]
        assert key not in result.stdout + result.stderr


@pytest.mark.slow
def test_wrong_api_key_is_one_line_without_the_key(argilla_server, tmp_path):
    batch = write_sample_batch(tmp_path, "sft", 2)
    key = "wrong-" + uuid.uuid4().hex
    for args in (["push", str(batch.path), "-d", "x"], ["status", "x"]):
        result = invoke(args, ARGILLA_API_URL=argilla_server.url, ARGILLA_API_KEY=key)
        assert result.exit_code != 0
        assert len(error_lines(result)) == 1 and "refused the API key" in error_lines(result)[0]
        assert key not in result.stdout + result.stderr and argilla_server.api_key not in result.stdout + result.stderr


def test_help_documents_every_command():
    for command in ("push", "run", "status"):
        result = invoke([command, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.stdout
    assert "--num-rows" in invoke(["run", "--help"]).stdout  # generate's options, shared
    assert "ARGILLA_WORKSPACE" in invoke(["push", "--help"]).stdout
