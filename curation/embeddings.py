"""Embeddings of a batch's instructions (and responses), offline by default.

The default embedder is the bundled SmolLM2 GGUF through distilabel's `LlamaCppEmbeddings`
in llama.cpp's embedding mode, mean-pooled over the tokens (no download). SmolLM2 is a chat
model, not an embedding model: `bench/embeddings.py` measures what its vectors are worth on
tests/data/paraphrases.jsonl. `--embedder openai:MODEL --base-url URL` asks any server that
answers the OpenAI embeddings API (llama-cpp-python's server started with `--embedding true`,
vLLM, OpenAI) instead.

Embeddings are batch columns (`instruction_embedding`, `response_embedding`: lists of floats)
written into a child batch by `embed_batch` (`curate embed BATCH`), or into the batch itself
by `curate generate --embed`; `curate push --vectors` sends them as record vectors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from curation.batch import Batch, load_batch, write_child_batch
from curation.contract import COL_INSTRUCTION, COL_INSTRUCTION_EMBEDDING, COL_RESPONSE, COL_RESPONSE_EMBEDDING
from curation.errors import BadInput, BackendUnavailable, UnknownBackend

if TYPE_CHECKING:
    from pathlib import Path

INSTRUCTION_EMBEDDING = COL_INSTRUCTION_EMBEDDING  # the shorter names push and Deita selection import
RESPONSE_EMBEDDING = COL_RESPONSE_EMBEDDING
# The column each embedding is made from.
SOURCES = {INSTRUCTION_EMBEDDING: COL_INSTRUCTION, RESPONSE_EMBEDDING: COL_RESPONSE}
DEFAULT_EMBEDDER = "llamacpp"
EMBEDDERS = ("llamacpp", "openai")
CHUNK = 32  # texts per encode call: bounded memory, a steady pace


def _mean_pooled_class():
    from distilabel.models.embeddings import LlamaCppEmbeddings

    class MeanPooledLlamaCppEmbeddings(LlamaCppEmbeddings):
        """distilabel's LlamaCppEmbeddings with llama.cpp's mean pooling and a thread count.

        A GGUF chat model declares no pooling, and llama.cpp then returns one vector per token;
        distilabel 1.5.3 passes `extra_kwargs` to `Llama` as one argument named `kwargs`, which
        `Llama` ignores, so the pooling is set here.
        """

        n_threads: int = 2

        def load(self) -> None:
            from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

            from distilabel.models.embeddings import Embeddings

            Embeddings.load(self)
            self._model = Llama(
                model_path=os.path.join(self.model_path, self.model), n_gpu_layers=0, seed=self.seed,
                n_ctx=self.n_ctx, n_batch=self.n_batch, n_threads=self.n_threads, verbose=self.verbose,
                embedding=True, pooling_type=LLAMA_POOLING_TYPE_MEAN,
            )

        def unload(self) -> None:
            self._model.close()

    return MeanPooledLlamaCppEmbeddings


def _openai_class():
    from distilabel.models.embeddings import Embeddings
    from pydantic import Field, PrivateAttr, SecretStr

    class OpenAIEmbeddings(Embeddings):
        """Embeddings from a server answering the OpenAI embeddings API (POST /v1/embeddings)."""

        model: str
        base_url: str
        api_key: SecretStr | None = Field(default=None, exclude=True)
        _client: object = PrivateAttr(None)

        def load(self) -> None:
            from openai import OpenAI

            super().load()
            key = self.api_key.get_secret_value() if self.api_key else "EMPTY"
            self._client = OpenAI(base_url=self.base_url, api_key=key, max_retries=2, timeout=120)

        @property
        def model_name(self) -> str:
            return self.model

        def encode(self, inputs: list[str]) -> list[list[float]]:
            response = self._client.embeddings.create(model=self.model, input=inputs)
            return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    return OpenAIEmbeddings


@dataclass(frozen=True)
class EmbedderSpec:
    """A parsed `--embedder NAME[:MODEL]` (+ server options)."""

    name: str
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None

    @property
    def label(self) -> str:
        """What the manifest names as the embedding model (as a backend of that name and model is named)."""
        from curation.backends import BackendSpec

        return BackendSpec(self.name, self.model).model_label


def parse_embedder(value: str | None, *, base_url: str | None = None, api_key: str | None = None) -> EmbedderSpec:
    """`llamacpp[:FILE.gguf]` (default) or `openai:MODEL` → EmbedderSpec; anything else is bad input."""
    name, _, model = (value or DEFAULT_EMBEDDER).partition(":")
    name = name.strip().lower()
    if name not in EMBEDDERS:
        raise UnknownBackend(f"unknown embedder {name!r}; choose one of: {', '.join(EMBEDDERS)}",
                             hint="--embedder llamacpp (the bundled model, offline) or --embedder openai:MODEL --base-url URL")
    if name == "openai" and not model:
        raise UnknownBackend("embedder 'openai' needs a model: --embedder openai:MODEL")
    return EmbedderSpec(name, model or None, base_url, api_key)


def build_embedder(spec: EmbedderSpec):
    """A distilabel `Embeddings` for `spec`, not yet loaded."""
    from pathlib import Path

    if spec.name == "llamacpp":
        from curation.backends import BackendSpec, model_path

        path = model_path(BackendSpec("llamacpp", spec.model))
        if not path.is_file():
            raise UnknownBackend(f"model file not found: {path}", hint="--embedder llamacpp:PATH/TO/MODEL.gguf")
        return _mean_pooled_class()(model=path.name, model_path=str(Path(path).parent),
                                    n_threads=min(os.cpu_count() or 2, 8), normalize_embeddings=True)
    from curation import settings
    from curation.backends import DEFAULT_BASE_URLS

    base_url = spec.base_url or settings.openai_base_url() or DEFAULT_BASE_URLS["openai"]
    return _openai_class()(model=spec.model, base_url=base_url, api_key=spec.api_key or settings.openai_api_key())


def _unit(vector) -> list[float]:
    """One unit-length vector; per-token vectors (a server running a model without pooling, such as
    llama-cpp-python's with a chat GGUF) are mean-pooled first, as llama.cpp's mean pooling does."""
    import numpy as np

    values = np.asarray(vector, dtype=np.float64)
    if values.ndim == 2:
        values = values.mean(axis=0)
    norm = float(np.linalg.norm(values))
    return (values / norm if norm else values).tolist()


def encode(embedder, texts: list[str]) -> list[list[float]]:
    """Embed `texts` with a loaded embedder, CHUNK at a time, as unit vectors; a server failure is one line (exit 1)."""
    out: list[list[float]] = []
    for start in range(0, len(texts), CHUNK):
        try:
            out.extend(_unit(vector) for vector in embedder.encode(texts[start:start + CHUNK]))
        except (OSError, ConnectionError) as exc:
            raise BackendUnavailable(f"the embedder failed: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # the openai client's errors
            if type(exc).__module__.startswith(("openai", "httpx")):
                raise BackendUnavailable(f"the embedder failed: {type(exc).__name__}: {exc}") from None
            raise
    return out


def embed_texts(texts: list[str], spec: EmbedderSpec | None = None) -> list[list[float]]:
    """Embed `texts` with `spec` (default: the bundled model): load, encode, unload."""
    embedder = build_embedder(spec or parse_embedder(None))
    embedder.load()
    try:
        return encode(embedder, texts)
    finally:
        embedder.unload()


def embed_rows(rows: list[dict], spec: EmbedderSpec | None = None, *, responses: bool = False) -> tuple[list[dict], dict]:
    """Rows with `instruction_embedding` (and `response_embedding` when `responses`), and what was done:
    {"model", "dimensions", "columns"}. A row without the text gets None."""
    spec = spec or parse_embedder(None)
    columns = [INSTRUCTION_EMBEDDING] + ([RESPONSE_EMBEDDING] if responses else [])
    if responses and not any(isinstance(r.get(COL_RESPONSE), str) for r in rows):
        raise BadInput("--responses embeds the `response` column, and these rows have none (a preference batch?)")
    embedder = build_embedder(spec)
    embedder.load()
    try:
        out = [dict(r) for r in rows]
        dimensions = None
        for column in columns:
            source = SOURCES[column]
            todo = [i for i, r in enumerate(rows) if isinstance(r.get(source), str) and r[source].strip()]
            vectors = encode(embedder, [rows[i][source] for i in todo])
            for row in out:
                row[column] = None
            for i, vector in zip(todo, vectors):
                out[i][column] = vector
            dimensions = dimensions or (len(vectors[0]) if vectors else None)
    finally:
        embedder.unload()
    return out, {"model": spec.label, "embedder": spec.name, "dimensions": dimensions, "columns": columns}


def dimensions_of(rows: list[dict], column: str = INSTRUCTION_EMBEDDING) -> int | None:
    """The length of the vectors in `column` (all must agree), None when no row has one."""
    lengths = {len(r[column]) for r in rows if r.get(column) is not None}
    if len(lengths) > 1:
        raise BadInput(f"the batch's {column} vectors have different lengths {sorted(lengths)}",
                       hint="embed the batch again with one embedder (`curate embed`)")
    return lengths.pop() if lengths else None


def embed_batch(batch: Batch | str, spec: EmbedderSpec | None = None, *, responses: bool = False,
                out: "Path | None" = None) -> Batch:
    """A child batch of `batch` with embedding columns; its manifest's `embed` says the model and dimensions."""
    batch = batch if isinstance(batch, Batch) else load_batch(batch)
    rows, details = embed_rows(batch.rows(), spec, responses=responses)
    return write_child_batch(batch, rows, derived_by="embed", details=details, out=out)
