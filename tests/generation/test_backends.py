"""Backend specs map to the right distilabel LLMs with the right settings (no server needed)."""

from __future__ import annotations

import pytest

from curation.backends import base_url_for, build_llm, parse_backend
from curation.errors import UnknownBackend
from curation.options import GenerationOptions
from pipelines.recipe import RecipeContext
from pipelines.ultrafeedback import chosen_rejected


def test_parse_backend_names_and_models():
    spec = parse_backend("openai:gpt-4o-mini", base_url="http://127.0.0.1:8000/v1", api_key="sk-x")
    assert (spec.name, spec.model, spec.model_label) == ("openai", "gpt-4o-mini", "openai:gpt-4o-mini")
    assert "sk-x" not in repr(spec) and "api_key" not in spec.describe()
    assert parse_backend("llamacpp").model_label == "SmolLM2-135M-Instruct-Q4_1"
    with pytest.raises(UnknownBackend, match="needs a model"):
        parse_backend("vllm")


def test_one_base_url_per_backend_for_probe_and_client(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    vllm = parse_backend("vllm:Qwen/Qwen2.5-1.5B-Instruct")
    assert base_url_for(vllm) == "http://localhost:8000/v1"
    assert build_llm(vllm).base_url == base_url_for(vllm)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1")
    assert base_url_for(parse_backend("openai:m")) == "http://127.0.0.1:9999/v1"
    assert base_url_for(vllm) == "http://localhost:8000/v1"


def test_ollama_gets_its_own_option_names():
    llm = build_llm(parse_backend("ollama:llama3.2"), generation_kwargs={"max_new_tokens": 64, "temperature": 0.2})
    assert llm.generation_kwargs == {"options": {"num_predict": 64, "temperature": 0.2}}
    assert llm.host == "http://localhost:11434"


def test_llamacpp_default_is_the_bundled_gguf(bundled_model):
    llm = build_llm(parse_backend("llamacpp"), generation_kwargs={"max_new_tokens": 8})
    assert str(llm.model_path) == str(bundled_model)
    assert llm.generation_kwargs == {"max_new_tokens": 8}


@pytest.mark.parametrize("num,backends,expected", [(2, 1, [2]), (3, 2, [2, 1]), (2, 3, [1, 1, 1]), (4, 2, [2, 2])])
def test_generations_are_spread_over_backends(num, backends, expected):
    options = GenerationOptions("responses", num_rows=1, num_generations=num)
    ctx = RecipeContext(options=options, seeds=[], backends=[parse_backend("llamacpp")] * backends)
    assert ctx.generations_per_backend() == expected
    assert ctx.total_generations == sum(expected)


@pytest.mark.parametrize("ratings,expected", [
    ([1, 4, 2], (1, 0)),
    ([3, 3], (None, None)),        # a tie is not a preference
    ([5, 5, 1], (None, None)),     # a tie for first place neither
    ([None, 4], (None, None)),     # a missing rating is not guessed
    ([2, None, 4], (2, 0)),
])
def test_chosen_and_rejected_from_ratings(ratings, expected):
    assert chosen_rejected(ratings) == expected
