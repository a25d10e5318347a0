"""The one place that maps a backend spec (`NAME[:MODEL]` + options) to a distilabel LLM.

Hosted backends are configuration, not code forks:

    llamacpp                 the bundled SmolLM2-135M GGUF, offline (default)
    llamacpp:/path/x.gguf    any local GGUF
    openai:MODEL             any OpenAI-compatible server (--base-url, OPENAI_API_KEY)
    vllm:MODEL               a vLLM server's OpenAI chat API (--base-url); Magpie through its
                             /v1/completions with MODEL's Hub tokenizer (distilabel's ClientvLLM)
    ollama:MODEL             an Ollama server (--base-url, default http://localhost:11434)
    hf:MODEL_ID              Hugging Face Inference Endpoints / serverless (HF_TOKEN, --base-url)
    transformers:MODEL_ID    local Transformers (needs torch; not installed by default)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from curation import settings
from curation.errors import AccessRefused, BackendUnavailable, ModelNotServed, UnknownBackend
from curation.model import BUNDLED_NAME, CHATML_PRE_QUERY, bundled_model_path, gguf_tokenizer_dir

BACKENDS = ("llamacpp", "openai", "vllm", "ollama", "hf", "transformers")
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "vllm": "http://localhost:8000/v1",
    "ollama": "http://localhost:11434",
}
_NEEDS_MODEL = ("openai", "vllm", "ollama", "hf", "transformers")


@dataclass(frozen=True)
class BackendSpec:
    """A parsed `--backend` value plus the options shared by every backend."""

    name: str
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never shown
    n_ctx: int = 2048
    n_threads: int | None = None

    @property
    def model_label(self) -> str:
        """What the manifest and Argilla suggestions name as the model (the agent)."""
        if self.name == "llamacpp":
            return BUNDLED_NAME if self.model is None else Path(self.model).stem
        return f"{self.name}:{self.model}"

    def describe(self) -> dict:
        """Manifest-safe description (no secrets)."""
        return {"backend": self.name, "model": self.model_label, "base_url": self.base_url}


def parse_backend(value: str, *, base_url: str | None = None, api_key: str | None = None) -> BackendSpec:
    """`NAME[:MODEL]` → BackendSpec; unknown names and missing models are bad input."""
    name, _, model = value.partition(":")
    name = name.strip().lower()
    if name not in BACKENDS:
        raise UnknownBackend(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    if name in _NEEDS_MODEL and not model:
        raise UnknownBackend(f"backend {name!r} needs a model: --backend {name}:MODEL")
    return BackendSpec(name=name, model=model or None, base_url=base_url, api_key=api_key)


def model_path(spec: BackendSpec) -> Path:
    """The GGUF file a llamacpp backend loads."""
    return Path(spec.model) if spec.model else bundled_model_path()


def check_reachable(spec: BackendSpec, timeout: float = 5.0) -> None:
    """Fail fast, before generating, when a backend cannot answer.

    A missing model file or torch is the command's fault (exit 2, UnknownBackend); a server
    that cannot be reached or fails is a service failure (exit 1, BackendUnavailable); one
    that refuses the key (AccessRefused) or does not serve the model (ModelNotServed) is exit 2.
    """
    if spec.name == "llamacpp":
        path = model_path(spec)
        if not path.is_file():
            raise UnknownBackend(f"model file not found: {path}", hint="--backend llamacpp:PATH/TO/MODEL.gguf")
        return
    if spec.name == "transformers":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise UnknownBackend(
                "the transformers backend needs torch, which is not installed",
                hint="pip install torch==2.13.0 (the CPU build) into .venv",
            )
        return
    url = _probe_url(spec)
    if url is None:
        return
    import httpx

    key = api_key_for(spec)
    try:
        response = httpx.get(url, timeout=timeout, headers={"Authorization": f"Bearer {key}"} if key else None)
    except httpx.HTTPError as exc:
        raise BackendUnavailable(f"backend {spec.name} unreachable at {url}: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise AccessRefused(f"backend {spec.name} at {url} refused the API key (HTTP {response.status_code})",
                            hint="pass another --api-key (or set OPENAI_API_KEY / HF_TOKEN)")
    if response.status_code >= 500:
        raise BackendUnavailable(f"backend {spec.name} at {url} failed (HTTP {response.status_code})")
    served = _served_models(spec, response)
    if served is not None and spec.model not in served:
        listed = ", ".join(sorted(served)) or "nothing"
        raise ModelNotServed(
            f"backend {spec.name} at {base_url_for(spec)} does not serve model {spec.model!r}; it serves: {listed}",
            hint=f"--backend {spec.name}:{sorted(served)[0]}" if served else None,
        )


def _served_models(spec: BackendSpec, response) -> set[str] | None:
    """The model names a server lists, or None when its answer does not list any we can read."""
    if response.status_code != 200 or spec.name not in ("openai", "vllm", "ollama"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    key, name_field = ("models", "name") if spec.name == "ollama" else ("data", "id")
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    names = {m.get(name_field) for m in items if isinstance(m, dict)}
    # Ollama answers to "llama3.2" for "llama3.2:latest".
    return {n for name in names if isinstance(name, str) for n in (name, name.removesuffix(":latest"))}


def api_key_for(spec: BackendSpec) -> str | None:
    """The key a hosted backend sends: --api-key, else OPENAI_API_KEY (openai) or the Hugging Face token (hf)."""
    if spec.api_key:
        return spec.api_key
    if spec.name == "openai":
        return settings.openai_api_key()
    if spec.name == "hf":
        return settings.hf_token()
    return None


def base_url_for(spec: BackendSpec) -> str | None:
    """The server a backend talks to: --base-url, else (openai) OPENAI_BASE_URL, else its default."""
    if spec.base_url:
        return spec.base_url
    if spec.name == "openai" and settings.openai_base_url():
        return settings.openai_base_url()
    return DEFAULT_BASE_URLS.get(spec.name)


def _probe_url(spec: BackendSpec) -> str | None:
    if spec.name == "ollama":
        return base_url_for(spec).rstrip("/") + "/api/tags"
    if spec.name in ("openai", "vllm"):
        return base_url_for(spec).rstrip("/") + "/models"
    if spec.name == "hf" and spec.base_url:
        return spec.base_url
    return None


def build_llm(spec: BackendSpec, *, magpie: bool = False, generation_kwargs: dict | None = None):
    """A distilabel LLM for `spec`; `magpie=True` sets up the pre-query template.

    `openai` and `vllm` get `OpenAIServerLLM` (the chat API; judges' answers held to a JSON
    schema, `num_generations` honoured by every server); Magpie on `vllm` needs raw-prompt
    completion and the model's chat template: distilabel's ClientvLLM with the Hub tokenizer.
    """
    kwargs = {"generation_kwargs": generation_kwargs or {}}
    if spec.name == "llamacpp":
        from distilabel.models.llms import LlamaCppLLM

        path = model_path(spec)
        if magpie:
            kwargs.update(tokenizer_id=str(gguf_tokenizer_dir(path)), magpie_pre_query_template=CHATML_PRE_QUERY)
        return LlamaCppLLM(
            model_path=str(path),
            n_ctx=spec.n_ctx,
            extra_kwargs={"n_threads": spec.n_threads or min(os.cpu_count() or 2, 8)},
            **kwargs,
        )
    if magpie and spec.name not in ("vllm", "ollama", "hf", "transformers"):
        raise UnknownBackend(f"backend {spec.name!r} cannot run Magpie (it needs raw-prompt completion)")
    if magpie:
        kwargs.update(tokenizer_id=spec.model, magpie_pre_query_template=CHATML_PRE_QUERY)
    if spec.name == "vllm" and magpie:
        from distilabel.models.llms import ClientvLLM

        return ClientvLLM(model=spec.model, base_url=base_url_for(spec), **kwargs)
    if spec.name in ("openai", "vllm"):
        from curation.server_llm import OpenAIServerLLM

        # A self-hosted server takes any key unless started with one; the client library insists on one.
        self_hosted = base_url_for(spec) != DEFAULT_BASE_URLS["openai"]
        key = api_key_for(spec) or ("EMPTY" if self_hosted else None)
        return OpenAIServerLLM(model=spec.model, base_url=base_url_for(spec), api_key=key, **kwargs)
    if spec.name == "ollama":
        from distilabel.models.llms import OllamaLLM

        # Ollama takes its sampling settings as `options`, under its own names.
        gen = kwargs.pop("generation_kwargs")
        options = {"num_predict": gen.get("max_new_tokens"), "temperature": gen.get("temperature")}
        kwargs["generation_kwargs"] = {"options": {k: v for k, v in options.items() if v is not None}}
        return OllamaLLM(model=spec.model, host=base_url_for(spec), **kwargs)
    if spec.name == "hf":
        from distilabel.models.llms import InferenceEndpointsLLM

        return InferenceEndpointsLLM(
            model_id=None if spec.base_url else spec.model,
            base_url=spec.base_url,
            api_key=api_key_for(spec),
            **kwargs,
        )
    from distilabel.models.llms import TransformersLLM

    return TransformersLLM(model=spec.model, device="cpu", **kwargs)
