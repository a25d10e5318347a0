"""A model server failing under a generation: one line and exit 1, nothing cached as done, the re-run regenerates.

distilabel 1.5.3 retries (the OpenAI client's six), then fills the failed batch with `None`s
and caches it like any other: without `curation.generate.StepFailures` a re-run would replay
those rows as empty. Everything here is real: `curate` in a subprocess, llama-cpp-python's
server on 127.0.0.1, killed with SIGKILL while it answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def curate_command(home: Path, *args: str) -> tuple[list[str], dict]:
    env = {**os.environ, "CURATION_HOME": str(home)}
    for name in ("CURATION_API_KEY", "OPENAI_API_KEY", "CURATION_BACKEND", "CURATION_BASE_URL"):
        env.pop(name, None)
    return [sys.executable, "-c", "from curation.cli import main; main()", *args], env


def curate(home: Path, *args: str) -> subprocess.CompletedProcess:
    command, env = curate_command(home, *args)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def error_lines(result) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def test_a_server_killed_mid_batch_fails_in_one_line_and_the_rerun_regenerates(own_model_server, tmp_path):
    home = tmp_path / "home"
    server = own_model_server.start()
    args = ("generate", "prompt", "-n", "3", "--max-new-tokens", "32", "-q",
            "--backend", "openai:smollm2", "--base-url", server.base_url)
    command, env = curate_command(home, *args)
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # Kill the server as soon as it has answered one request of the batch (the others are in flight).
        while '"POST /v1/chat/completions HTTP/1.1" 200' not in server.log():
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        server.stop(kill=True)
        stdout, stderr = run.communicate(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
    first = subprocess.CompletedProcess(command, run.returncode, stdout, stderr)
    assert first.returncode == 1, first.stderr
    [line] = error_lines(first)
    assert "failed" in line and "'ask'" in line and "Connection error" in line, line
    assert "run the same command again" in first.stderr
    assert not (home / "batches").exists() or not any((home / "batches").glob("*/manifest.json"))

    server.start()  # back on the same port
    answered_before = server.log().count('"POST /v1/chat/completions HTTP/1.1" 200')
    again = curate(home, *args)
    assert again.returncode == 0, again.stderr
    [batch] = [p for p in (home / "batches").iterdir() if (p / "manifest.json").exists()]
    import pyarrow.parquet as pq

    rows = pq.read_table(batch / "rows.parquet").to_pylist()
    assert 1 <= len(rows) <= 3 and all(r["instruction"].strip() and r["response"].strip() for r in rows)
    # The failed questions were asked again, not replayed from the cache: the server answered them anew.
    asked_again = server.log().count('"POST /v1/chat/completions HTTP/1.1" 200') - answered_before
    # At least the 3 questions wanted (the `ask` step asks while it needs more), then the answers.
    assert asked_again >= 3 + len(rows), asked_again


def test_a_model_the_server_does_not_serve_is_one_line_listing_those_it_does(model_server, tmp_path):
    result = curate(tmp_path / "home", "generate", "prompt", "-n", "1", "--backend", "vllm:Qwen/Qwen2.5-7B-Instruct",
                    "--base-url", model_server.base_url)
    assert result.returncode == 2, result.stderr
    [line] = error_lines(result)
    assert "does not serve model 'Qwen/Qwen2.5-7B-Instruct'; it serves: smollm2" in line, line
    assert "Hint: --backend vllm:smollm2" in result.stderr
