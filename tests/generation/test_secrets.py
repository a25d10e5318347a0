"""No secret in any output or log file, through every failure path of `curate generate` (issue #10).

Each path runs the real `curate` in a subprocess, as a user would, with three sentinel keys
in play: the backend's key (`--api-key`), a wrong key, and `OPENAI_API_KEY` in the
environment. stdout, stderr and every file written under CURATION_HOME (the batch folder's
generation.log, distilabel's pipeline.log and pipeline.yaml in its cache) are scanned.

Failure paths (exit code per curation.errors):
  1. seed file missing                                   2
  2. seed file nested 100,000 levels deep (the repro:
     a RecursionError shown as a rich traceback with locals)  2
  3. backend server unreachable                          1
  4. the server refuses the key (HTTP 401)               2
  5. the server does not serve the model                 2
  6. every request fails inside the pipeline (HTTP 400:
     prompt longer than the server's context)            1
  7. a step fails to load (junk GGUF) while the judge,
     holding the key, is part of the pipeline            1
  8. an unexpected exception after distilabel's import: a plain traceback, no locals
  9. clean-up keeps none of the generated instructions (it stops the pipeline;
     distilabel 1.5.3 would wait forever on the empty batch)  1
And the run that succeeds through the same server: its batch, logs and cache hold no key either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WRONG_KEY = "sk-WRONG-KEY-SENTINEL-93f2d1c4"
ENV_KEY = "sk-ENV-KEY-SENTINEL-0a7e66b2"


def curate(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CURATION_HOME": str(home), "OPENAI_API_KEY": ENV_KEY}
    env.pop("CURATION_API_KEY", None)
    return subprocess.run([sys.executable, "-c", "from curation.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=900)


def assert_no_secret(result: subprocess.CompletedProcess, home: Path, secrets: list[str]) -> list[Path]:
    """No secret in stdout, stderr or any file under `home`; returns the files scanned."""
    scanned = [p for p in home.rglob("*") if p.is_file()]
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr, (secret, result.stdout, result.stderr)
        for path in scanned:
            assert secret.encode() not in path.read_bytes(), f"{secret} written to {path}"
    return scanned


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def test_no_secret_before_the_pipeline(home, tmp_path, openai_server):
    base_url, server_key = openai_server
    secrets = [server_key, WRONG_KEY, ENV_KEY]
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    hosted = ["--backend", "openai:smollm2", "--base-url", base_url, "--api-key", server_key]
    cases = [
        # name, arguments, exit code, words of the error line
        ("missing seeds", ["self-instruct", "--seeds", str(tmp_path / "absent.jsonl"), *hosted], 2,
         "seed file not found"),
        ("deep JSON seeds", ["self-instruct", "--seeds", str(deep), "--backend", "openai:gpt-4o-mini",
                             "--base-url", "http://127.0.0.1:9/v1", "--api-key", server_key], 2,
         "nested too deeply"),
        ("unreachable server", ["prompt", "--backend", "openai:gpt-4o-mini", "--base-url", "http://127.0.0.1:9/v1",
                                "--api-key", server_key], 1, "unreachable"),
        ("key refused", ["prompt", "--backend", "openai:smollm2", "--base-url", base_url, "--api-key", WRONG_KEY], 2,
         "refused the API key (HTTP 401)"),
        ("model not served", ["prompt", "--backend", "openai:gpt-4o-mini", "--base-url", base_url,
                              "--api-key", server_key], 2, "does not serve model 'gpt-4o-mini'"),
    ]
    for name, args, code, words in cases:
        result = curate(home, "generate", *args)
        assert result.returncode == code, (name, result.stderr)
        assert words in error_line(result), name
        assert_no_secret(result, home, secrets)


def test_no_secret_when_the_pipeline_fails(home, tmp_path, openai_server, seed_data):
    base_url, server_key = openai_server
    secrets = [server_key, WRONG_KEY, ENV_KEY]

    # 6. The server answers HTTP 400 to every request: distilabel logs each failure, no row survives.
    long_seeds = tmp_path / "long.jsonl"
    long_seeds.write_text(json.dumps({"instruction": "Summarise this: " + "word " * 400}) + "\n")
    result = curate(home, "generate", "responses", "--seeds", str(long_seeds), "-n", "1", "--max-new-tokens", "8",
                    "--backend", "openai:smollm2", "--base-url", base_url, "--api-key", server_key)
    assert result.returncode == 1, result.stderr
    assert "produced no usable rows" in error_line(result)
    scanned = assert_no_secret(result, home, secrets)
    logs = {p.name for p in scanned}
    assert {"generation.log", "pipeline.log", "pipeline.yaml"} <= logs, logs
    generation_log = next(p for p in scanned if p.name == "generation.log").read_text()
    assert "context" in generation_log  # the server's refusal is in the log: the scan read a real log

    # 7. A step fails to load while the judge (holding the key) is part of the pipeline.
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file" * 100)
    result = curate(home, "generate", "ultrafeedback", "--seeds", str(seed_data / "instructions.jsonl"), "-n", "1",
                    "--max-new-tokens", "8", "--backend", f"llamacpp:{junk}", "--judge", "openai:smollm2",
                    "--base-url", base_url, "--api-key", server_key)
    assert result.returncode == 1, result.stderr
    assert "the generation pipeline failed" in error_line(result)
    assert_no_secret(result, home, secrets)


def test_no_secret_when_clean_up_keeps_nothing(home, openai_server):
    base_url, server_key = openai_server
    # At temperature 0 the bundled model answers the prompt recipe's request with a preamble
    # ("I'm ready to assist. What's your question?") that clean-up drops: no instruction survives.
    result = curate(home, "generate", "prompt", "-n", "1", "--max-new-tokens", "16", "--temperature", "0",
                    "--backend", "openai:smollm2", "--base-url", base_url, "--api-key", server_key)
    assert result.returncode == 1, result.stderr
    assert "produced no usable rows (clean-up kept none of the generated instructions)" in error_line(result)
    assert_no_secret(result, home, [server_key, WRONG_KEY, ENV_KEY])


def test_no_secret_when_the_generation_succeeds(home, openai_server, seed_data):
    base_url, server_key = openai_server
    # llama.cpp's server answers one choice per request (no `n`): two backends make the two responses
    # a preference row needs. At temperature 0 both are the same non-empty text every run.
    result = curate(home, "generate", "responses", "--seeds", str(seed_data / "instructions.jsonl"), "-n", "1",
                    "--max-new-tokens", "8", "--temperature", "0", "--backend", "openai:smollm2",
                    "--backend", "openai:smollm2", "--base-url", base_url, "--api-key", server_key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Batch responses-")
    scanned = assert_no_secret(result, home, [server_key, WRONG_KEY, ENV_KEY])
    assert {"rows.parquet", "manifest.json", "generation.log", "pipeline.log", "pipeline.yaml"} <= {p.name for p in scanned}


def test_an_unexpected_error_prints_no_locals_and_no_secret(tmp_path):
    """distilabel's import installs rich tracebacks with locals; `secrets.protect` puts a plain, redacted one back."""
    script = (
        "import distilabel\n"
        "from curation import secrets\n"
        f"secrets.protect([{WRONG_KEY!r}])\n"
        "def call_backend(api_key):\n"
        "    raise RuntimeError('backend said no to ' + api_key)\n"
        f"call_backend({WRONG_KEY!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CURATION_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "RuntimeError: backend said no to [redacted]" in result.stderr
    assert WRONG_KEY not in result.stderr + result.stdout
    assert "locals" not in result.stderr.lower() and "api_key = " not in result.stderr
