"""Every recipe through a real model server: llama-cpp-python's OpenAI-compatible server on the bundled model.

The `openai` backend runs each recipe against it, judges included; `vllm:MODEL --base-url`
speaks the same OpenAI chat API (the llama.cpp server stands in for vLLM's protocol). The
server answers one choice per request whatever `n` asks, and takes a JSON schema only as
`{"type": "json_object", "schema": ...}`: both are what a recipe must cope with.
"""

from __future__ import annotations

import pytest

from curation.batch import load_batch
from curation.generate import generate_batch
from curation.options import GenerationOptions

pytestmark = pytest.mark.slow

CASES = [
    # recipe, seed file, kind, options
    ("prompt", None, "sft", {"deita": True}),
    ("self-instruct", "topics.jsonl", "sft", {}),
    ("evol-instruct", "instructions.jsonl", "sft", {}),
    ("responses", "instructions.jsonl", "preference", {}),
    ("evol-quality", "pairs.jsonl", "preference", {}),
]


def fully_rated(row: dict) -> bool:
    return len(row["ratings"]) == len(row["generations"]) and all(isinstance(r, int) and 1 <= r <= 5
                                                                  for r in row["ratings"])


@pytest.mark.parametrize("recipe,seed_file,kind,extra", CASES, ids=[c[0] for c in CASES])
def test_recipe_runs_through_the_openai_backend(recipe, seed_file, kind, extra, model_server, curation_home, seed_data):
    options = GenerationOptions(recipe, seeds=seed_data / seed_file if seed_file else None, num_rows=2,
                                max_new_tokens=32, backends=("openai:smollm2",), base_url=model_server.base_url,
                                **extra)
    batch = generate_batch(options, display="quiet")

    rows = batch.rows()
    assert 1 <= len(rows) <= 2
    assert batch.manifest["backend"] == {"backend": "openai", "model": "openai:smollm2",
                                         "base_url": model_server.base_url}
    for row in rows:
        assert row["instruction"].strip()
        if kind == "sft":
            assert row["response"].strip() and row["model_name"] == "openai:smollm2"
        else:
            # Two responses per instruction although the server answers one choice per request.
            assert len(row["generations"]) == 2 and all(g.strip() for g in row["generations"])
            assert row["generation_models"][-1].endswith("openai:smollm2")  # evol-quality: the rewrite's model
    if extra.get("deita"):
        # The judge's requests carry the Deita schema: both scores parse, on their 1-6 scale.
        for row in rows:
            for key in ("complexity_score", "quality_score"):
                assert isinstance(row[key], float) and 1 <= row[key] <= 6, row
    assert load_batch(batch.id).manifest == batch.manifest


def test_ultrafeedback_judge_rates_through_the_server(model_server, curation_home, seed_data):
    """The floor: with the bundled model behind the server, at least 80% of the batch's rows fully rated."""
    # Greedy decoding for the candidates too (the judge always is): the floor is checked on a
    # reproducible batch, not on whatever a sampled run happened to write.
    options = GenerationOptions("ultrafeedback", seeds=seed_data / "instructions.jsonl", num_rows=5,
                                max_new_tokens=32, temperature=0.0, backends=("openai:smollm2",),
                                base_url=model_server.base_url)
    batch = generate_batch(options, display="quiet")
    rows = batch.rows()
    assert len(rows) >= 4
    rated = [row for row in rows if fully_rated(row)]
    assert len(rated) >= 0.8 * len(rows), [row["ratings"] for row in rows]
    for row in rated:
        if row["chosen_index"] is not None:
            assert row["ratings"][row["chosen_index"]] > row["ratings"][row["rejected_index"]]
    assert batch.manifest["judge"]["model"] == "openai:smollm2"


def test_vllm_backend_speaks_the_openai_chat_api(model_server, curation_home, seed_data):
    """`vllm:MODEL --base-url`: chat completions (no Hub tokenizer needed), `n` honoured on a server that ignores it."""
    options = GenerationOptions("responses", seeds=seed_data / "instructions.jsonl", num_rows=1,
                                max_new_tokens=16, backends=("vllm:smollm2",), base_url=model_server.base_url)
    batch = generate_batch(options, display="quiet")
    [row] = batch.rows()
    assert row["generation_models"] == ["vllm:smollm2", "vllm:smollm2"] and all(g.strip() for g in row["generations"])
    assert batch.manifest["backend"] == {"backend": "vllm", "model": "vllm:smollm2", "base_url": model_server.base_url}
    # Every request went to the chat API; none to /v1/completions (ClientvLLM's).
    log = model_server.log()
    assert "POST /v1/chat/completions" in log and "POST /v1/completions" not in log


def test_magpie_through_the_chat_api_is_refused_in_one_line(model_server, curation_home):
    """Magpie needs raw completion and the chat template: a chat-API backend cannot run it (exit 2)."""
    from curation.errors import UnknownBackend

    options = GenerationOptions("magpie", num_rows=1, backends=("openai:smollm2",), base_url=model_server.base_url)
    with pytest.raises(UnknownBackend, match="cannot run Magpie") as refused:
        generate_batch(options, display="quiet")
    assert refused.value.exit_code == 2 and "\n" not in str(refused.value)
