"""Calls a backend reports no usage for: counted with the model's tokenizer, or stopping a budget.

The server is llama-cpp-python's own OpenAI-compatible server on the bundled model (the session's
`model_server`), reached once directly (it reports `usage`) and once through a stand-in for a
server that does not: a loopback proxy that forwards every request to it and drops `usage` from
the answers (as many OpenAI-compatible servers do). distilabel then records 0 tokens for each call.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main
from curation.model import gguf_tokenizer_dir
from tests.fixtures.model import LlamaServer

pytestmark = pytest.mark.slow

QUESTIONS = ["What is rain?", "Name a primary color."]


@contextmanager
def usageless(base_url: str):
    """The base URL of a proxy to the server at `base_url` whose answers carry no `usage`."""
    upstream = base_url.removesuffix("/v1")

    class Handler(BaseHTTPRequestHandler):
        def _forward(self, method: str):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
            answer = httpx.request(method, upstream + self.path, content=body, headers=headers, timeout=300)
            content = answer.content
            if answer.headers.get("content-type", "").startswith("application/json"):
                data = answer.json()
                if isinstance(data, dict):
                    data.pop("usage", None)
                content = json.dumps(data).encode()
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self):
            self._forward("GET")

        def do_POST(self):
            self._forward("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tokenizer_named(bundled_model, tmp_path_factory):
    """The bundled model served under the name of its tokenizer (a folder rebuilt from the GGUF), as
    vLLM serves a Hub id whose tokenizer the client can load."""
    folder = gguf_tokenizer_dir(bundled_model, tmp_path_factory.mktemp("tokenizers"))
    server = LlamaServer(bundled_model, tmp_path_factory.mktemp("named-server"), alias=str(folder)).start()
    try:
        yield server.base_url, str(folder)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    path = tmp_path_factory.mktemp("seeds") / "questions.txt"
    path.write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    return path


def _generate(seeds, backend: str, base_url: str, *extra, rows: int = 2):
    result = CliRunner().invoke(main, ["generate", "responses", "--seeds", str(seeds), "-n", str(rows),
                                       "--backend", backend, "--base-url", base_url, "--max-new-tokens", "8",
                                       "--temperature", "0", "--fresh", "-q", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.strip(), load_batch(result.output.strip().rsplit("→ ", 1)[-1].split("; ", 1)[0])


def test_calls_without_usage_are_counted_with_the_models_tokenizer(seeds, tokenizer_named, curation_home):
    base_url, folder = tokenizer_named
    _, reported = _generate(seeds, f"vllm:{folder}", base_url)
    with usageless(base_url) as proxy:
        _, counted = _generate(seeds, f"vllm:{folder}", proxy)
    same_answers = [r["generations"] for r in counted.rows()] == [r["generations"] for r in reported.rows()]
    by_server = reported.manifest["cost"]["steps"]["respond_0"]
    by_tokenizer = counted.manifest["cost"]["steps"]["respond_0"]
    assert by_server["counted"] == "backend usage" and by_server["input_tokens"] > 0
    assert by_tokenizer["counted"] == "tokenizer" and by_tokenizer["tokenizer_rows"] == 2
    # The same prompts: the tokenizer counts what the server reported for them.
    assert (by_tokenizer["input_tokens"], by_tokenizer["calls"]) == (by_server["input_tokens"], by_server["calls"])
    # The answers too, when the server wrote the same ones both times (greedy, but its prompt cache may
    # differ between the runs); else each is at most the 8 tokens asked for.
    if same_answers:
        assert by_tokenizer["output_tokens"] == by_server["output_tokens"]
    else:
        assert 0 < by_tokenizer["output_tokens"] <= 8 * by_tokenizer["calls"] + by_tokenizer["calls"]
    assert "counted with" in counted.manifest["cost"]["source"]


def test_a_budget_over_calls_nothing_can_count_stops_and_says_why(model_server, curation_home, monkeypatch, tmp_path):
    """`responses` sends 16 rows a batch: 33 rows make three. The first comes back uncounted, so the
    budget cannot be kept: the batch the step already took up finishes, the third never starts."""
    # `smollm2` names no tokenizer on this machine, and the Hub is not asked (huggingface_hub reads
    # HF_HUB_OFFLINE once, at import): nothing can count its calls.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    seeds = tmp_path / "questions.txt"
    seeds.write_text("".join(f"What is {n} plus {n}?\n" for n in range(33)), encoding="utf-8")
    with usageless(model_server.base_url) as proxy:
        line, batch = _generate(seeds, "openai:smollm2", proxy, "--budget", "1000000", rows=33)
    assert "\n" not in line and "reported no token usage" in line and "cannot be kept" in line, batch.manifest["cost"]
    assert "Traceback" not in line
    cost = batch.manifest["cost"]
    assert batch.manifest["stopped"] == "budget" and cost["budget"]["uncounted"] is True
    assert batch.manifest["rows"]["kept"] < 33
    assert cost["steps"]["respond_0"]["counted"] == "unavailable" and cost["total"]["usd"] is None
