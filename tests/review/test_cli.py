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
from curation.argilla.datasets import find_dataset
from curation.argilla.records import iter_records
from curation.review.records import record_id
from tests.review.sample_batches import write_sample_batch

CURATE = Path(sys.executable).parent / "curate"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def invoke(args: list[str], **env: str):
    return CliRunner().invoke(main, args, env=env or None, catch_exceptions=False)


def argilla_server_client(info):
    import argilla as rg

    return rg.Argilla(api_url=info.url, api_key=info.api_key)


def error_lines(result) -> list[str]:
    return [line for line in (result.stderr + result.stdout).splitlines() if line.startswith("Error")]


@pytest.mark.slow
def test_push_and_status_commands(argilla_server, review_workspace, tmp_path):
    batch = write_sample_batch(tmp_path, "preference", 6, responses=2)
    name = unique("cli")
    pushed = invoke(["push", str(batch.path), "--dataset", name, "--no-progress"])
    assert pushed.exit_code == 0, pushed.stderr
    assert f"Pushed 6 new record(s) of batch {batch.id} to dataset '{name}' (created)" in pushed.stdout
    dataset_id = find_dataset(argilla_server_client(argilla_server), name).id
    assert f"Review it at {argilla_server.url}/dataset/{dataset_id}/annotation-mode" in pushed.stdout
    refused = invoke(["push", str(batch.path), "-d", name, "-w", "no-such-team", "--no-progress"])
    assert refused.exit_code == 2
    assert (refused.stdout + refused.stderr).strip().splitlines()[0].startswith("Error: no workspace 'no-such-team' on the server")
    assert len((refused.stdout + refused.stderr).strip().splitlines()) == 2  # the error and its hint, no SDK warning
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
def test_killed_push_reruns_to_exactly_the_batch(argilla_server, argilla_client, review_workspace, tmp_path):
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
            seen = dataset.progress()["total"] if dataset is not None else 0
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
    for args in (["push", str(batch.path), "-d", "x"], ["status", "x"], ["export", "x", "--format", "sft", "--out", str(tmp_path / "o")]):
        result = invoke(args, ARGILLA_API_URL="http://127.0.0.1:6939", ARGILLA_API_KEY=key)
        assert result.exit_code == 1, args  # a service failed: exit 1 by the table in curation/errors.py
        assert error_lines(result) == [
            "Error: cannot reach Argilla while connecting to http://127.0.0.1:6939 (ConnectError)"
        ], args
        assert key not in result.stdout + result.stderr


@pytest.mark.slow
def test_wrong_api_key_is_one_line_without_the_key(argilla_server, tmp_path):
    batch = write_sample_batch(tmp_path, "sft", 2)
    key = "wrong-" + uuid.uuid4().hex
    for args in (["push", str(batch.path), "-d", "x"], ["status", "x"], ["export", "x", "--format", "sft", "--out", str(tmp_path / "o")]):
        result = invoke(args, ARGILLA_API_URL=argilla_server.url, ARGILLA_API_KEY=key)
        assert result.exit_code == 2, args  # the user must change the key: exit 2
        assert error_lines(result) == [
            f"Error: Argilla refused the API key (HTTP 401) while connecting to {argilla_server.url}"
        ], args
        assert key not in result.stdout + result.stderr and argilla_server.api_key not in result.stdout + result.stderr


def test_help_documents_every_command():
    for command in ("push", "run", "status"):
        result = invoke([command, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.stdout
    assert "--num-rows" in invoke(["run", "--help"]).stdout  # generate's options, shared
    assert "ARGILLA_WORKSPACE" in invoke(["push", "--help"]).stdout


def test_push_bad_input_is_one_line_with_exit_2(tmp_path, monkeypatch):
    """Each of these failed with a traceback (or exit 1 and raw JSON) before; no server is needed."""
    monkeypatch.chdir(tmp_path)
    good = write_sample_batch(tmp_path, "sft", 2)
    junk = write_sample_batch(tmp_path / "junk", "sft", 2)
    (junk.path / "rows.parquet").write_bytes(b"PAR1 this is not parquet")
    truncated = write_sample_batch(tmp_path / "truncated", "sft", 50)
    data = (truncated.path / "rows.parquet").read_bytes()
    (truncated.path / "rows.parquet").write_bytes(data[: len(data) // 2])
    binary = tmp_path / "settings.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    cases = {
        "junk rows": ["push", str(junk.path), "-d", "x"],
        "truncated rows": ["push", str(truncated.path), "-d", "x"],
        "binary config": ["push", str(good.path), "-d", "x", "--config", str(binary)],
        "empty dataset name": ["push", str(good.path), "--dataset", ""],
        "empty workspace name": ["push", str(good.path), "-d", "x", "--workspace", " "],
    }
    for case, args in cases.items():
        result = invoke(args, ARGILLA_API_URL="http://127.0.0.1:6939", ARGILLA_API_KEY="k")
        assert result.exit_code == 2, (case, result.stdout, result.stderr)
        assert len(error_lines(result)) == 1, case
        assert "Traceback" not in result.stdout + result.stderr, case


@pytest.mark.slow
def test_run_refuses_before_generating_when_the_workspace_is_ambiguous(argilla_server, argilla_client, tmp_path, monkeypatch):
    import argilla as rg

    monkeypatch.delenv("ARGILLA_WORKSPACE", raising=False)
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    for _ in range(2):
        rg.Workspace(name=unique("team"), client=argilla_client).create()
    result = invoke(["run", "prompt", "-n", "1", "--dataset", unique("ambiguous")])
    assert result.exit_code == 2
    assert error_lines(result)[0].startswith("Error: the server has several workspaces (")
    assert not (tmp_path / "home" / "batches").exists()  # nothing was generated


@pytest.mark.slow
def test_run_generates_and_pushes(argilla_server, argilla_client, review_workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    name = unique("run")
    result = invoke(["run", "prompt", "-n", "2", "--dataset", name, "-q"])
    assert result.exit_code == 0, result.stderr
    (batch_dir,) = (tmp_path / "home" / "batches").iterdir()
    from curation.batch import load_batch

    batch = load_batch(batch_dir)
    dataset = find_dataset(argilla_client, name, review_workspace)
    ids = sorted(item["external_id"] for item in iter_records(argilla_client, dataset.id))
    assert ids == sorted(record_id(batch.id, i) for i in range(len(batch.rows())))
    assert f"Pushed {len(ids)} new record(s) of batch {batch.id} to dataset '{name}' (created)" in result.stdout
