"""The options of one generation: one frozen object whose fields feed the CLI, the manifest and the cache key.

Each field's metadata says what it is for (`role`) and how the command line spells it (`cli`):

- ``data``: shapes the generated rows; recorded in the manifest's ``parameters`` and part of
  distilabel's cache key (a re-run with the same values resumes, any change starts over);
- ``source``: where seeds and models come from; recorded by content (seed hash, backend
  descriptions) in the manifest and the cache key rather than as given;
- ``secret``: never recorded, printed or logged;
- ``run``: how to run, not what to make (``fresh``);
- ``post``: applied to the generated rows after the pipeline (embeddings, Deita selection);
  recorded in the manifest's own sections (``embed``, ``selection``), not in the cache key, so
  adding one to a re-run reuses the cached generation.

Adding an option is one field here (plus its use in a recipe): the CLI, the manifest and
the cache key pick it up from the field.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import click

from curation.dedup import DEFAULT_THRESHOLD as DEFAULT_DEDUP_THRESHOLD, check_threshold
from curation.errors import BadInput

DEFAULT_BACKEND = "llamacpp"


def _option(default: Any, role: str, *decls: str, **click_kwargs) -> Any:
    return field(default=default, repr=role != "secret", metadata={"role": role, "cli": (decls, click_kwargs)})


@dataclass(frozen=True)
class GenerationOptions:
    """What `curate generate RECIPE` was asked for, before seeds and backends are read."""

    recipe: str = field(metadata={"role": "source", "cli": None})
    seeds: Path | None = _option(
        None, "source", "--seeds", type=click.Path(path_type=Path),
        help="Seed file (.jsonl, .json, .csv, .parquet, or .txt: one seed a line) or a batch (id or folder) "
             "whose rows feed this recipe, or argilla:DATASET (the records its review validated, corrections "
             "applied); what columns it needs depends on the recipe.")
    examples: str | None = _option(
        None, "source", "--examples", metavar="argilla:DATASET[:K]",
        help="Put K (default 4) accepted records of a reviewed Argilla dataset into the generating prompts "
             "as worked examples, chosen for diversity (the records --seeds argilla: would take, same "
             "--workspace, --agreement and --min-submitted). They never become rows.")
    judge_examples: str | None = _option(
        None, "source", "--judge-examples", metavar="argilla:DATASET[:K]",
        help="Put K (default 4) records of a reviewed preference dataset where the humans chose another "
             "response than the judge into the UltraFeedback judge's prompt, with the humans' ranking as "
             "ratings (same --workspace, --agreement and --min-submitted). The manifest names them; "
             "`curate report` holds them out of its agreement figures.")
    # With --seeds or --examples argilla:DATASET: which of its records seed the batch, chosen as `curate export`
    # chooses them; the CLI's options are export's own (curation/cli/export.py), and the manifest's
    # `parent` records the policy.
    seeds_workspace: str | None = field(default=None, metadata={"role": "source", "cli": None})
    agreement: str = field(default="majority", metadata={"role": "source", "cli": None})
    min_submitted: int | None = field(default=None, metadata={"role": "source", "cli": None})
    num_rows: int = _option(10, "data", "-n", "--num-rows", type=click.IntRange(min=1), help="Rows to generate.")
    backends: tuple[str, ...] = _option(
        (DEFAULT_BACKEND,), "source", "--backend", multiple=True, envvar="CURATION_BACKEND",
        help="NAME[:MODEL]: llamacpp (bundled SmolLM2, offline), llamacpp:FILE.gguf, openai:M, vllm:M, "
             "ollama:M, hf:M, transformers:M. Repeat for responses from several backends.")
    judge: str | None = _option(
        None, "source", "--judge", envvar="CURATION_JUDGE",
        help="Backend for UltraFeedback ratings and Deita scores (default: the first --backend).")
    base_url: str | None = _option(
        None, "source", "--base-url", envvar="CURATION_BASE_URL",
        help="Server URL for openai/vllm/ollama/hf backends.")
    api_key: str | None = _option(
        None, "secret", "--api-key", envvar="CURATION_API_KEY",
        help="API key for hosted backends (else OPENAI_API_KEY / HF_TOKEN). Never printed or logged.")
    num_generations: int = _option(
        2, "data", "--num-generations", type=click.IntRange(min=2), help="Responses per instruction (preference recipes).")
    max_new_tokens: int = _option(256, "data", "--max-new-tokens", type=click.IntRange(min=1), help="Most tokens per completion.")
    temperature: float = _option(0.7, "data", "--temperature", type=click.FloatRange(min=0), help="Sampling temperature.")
    deita: bool = _option(False, "data", "--deita", is_flag=True,
                          help="Add Deita complexity and quality scores (sft recipes) as metadata.")
    embed: bool = _option(False, "post", "--embed", is_flag=True,
                          help="Add instruction embeddings (column instruction_embedding) for `curate push --vectors`.")
    embedder: str = _option("llamacpp", "post", "--embedder",
                            help="Embeddings from: llamacpp (the bundled model, offline), llamacpp:FILE.gguf, or "
                                 "openai:MODEL (a server with the OpenAI embeddings API at --base-url).")
    deita_select: int | None = _option(
        None, "post", "--deita-select", type=click.IntRange(min=1), metavar="K",
        help="Keep up to K rows by Deita selection: best complexity × quality first (implies --deita), "
             "each farther than --deita-threshold from every row kept before it (embeds the instructions).")
    deita_threshold: float = _option(0.1, "post", "--deita-threshold", type=click.FloatRange(0, 2),
                                     help="Cosine distance for --deita-select.")
    fresh: bool = _option(False, "run", "--fresh", is_flag=True,
                          help="Ignore distilabel's cache and regenerate (default: a re-run resumes).")
    dedup: float | None = _option(
        None, "post", "--dedup", is_flag=False, flag_value=DEFAULT_DEDUP_THRESHOLD, metavar="[THRESHOLD]",
        type=click.FloatRange(0, 1, min_open=True),
        help="Then write a child batch without near-duplicate rows, as `curate dedup` does (MinHash similarity "
             f"of the instructions at least THRESHOLD, default {DEFAULT_DEDUP_THRESHOLD}).")
    decontaminate: tuple[str, ...] = _option(
        (), "post", "--decontaminate", metavar="FILE_OR_DATASET", multiple=True,
        help="Then write a child batch without the rows sharing a run of --ngram words with this benchmark, as "
             "`curate decontaminate --against` does (a .jsonl/.parquet/.csv file, a saved `datasets` folder or a "
             "dataset name; read before anything is generated). Repeatable; after --dedup when both are given.")
    ngram: int | None = _option(
        None, "post", "--ngram", type=int, metavar="N",
        help="Words a row must share with a --decontaminate benchmark to be left out (default 13).")
    budget: int | None = _option(
        None, "run", "--budget", type=click.IntRange(min=1), metavar="TOKENS",
        help="Stop starting new model calls once the run has spent TOKENS tokens (input + output, as the "
             "backends report them): the rows that finished every step become a smaller, complete batch "
             "(manifest `stopped: budget`); a re-run with a larger budget resumes from distilabel's cache.")
    budget_usd: float | None = _option(
        None, "run", "--budget-usd", type=click.FloatRange(min=0, min_open=True), metavar="USD",
        help="As --budget, in dollars at the price table's prices (CURATION_PRICES); every model of "
             "the run needs a price there.")
    ray: str | None = _option(
        None, "run", "--ray", is_flag=False, flag_value="local", metavar="[ADDRESS]",
        help="Run the recipe as distilabel's RayPipeline on the Ray cluster at ADDRESS (host:port), "
             "or on a local Ray instance when no address is given. Needs the `ray` extra.")

    def __post_init__(self):
        # Click hands over lists/tuples; a single name is accepted from Python callers.
        backends = (self.backends,) if isinstance(self.backends, str) else tuple(self.backends or ())
        object.__setattr__(self, "backends", backends or (DEFAULT_BACKEND,))
        if self.seeds is not None:
            object.__setattr__(self, "seeds", Path(self.seeds))
        if self.deita_select is not None:
            object.__setattr__(self, "deita", True)  # selection ranks by the Deita scores
        if self.num_rows < 1:
            raise BadInput(f"--num-rows must be at least 1, got {self.num_rows}")
        if self.dedup is not None:
            check_threshold(self.dedup)
        object.__setattr__(self, "decontaminate", tuple(self.decontaminate or ()))
        if self.ngram is not None:
            if not self.decontaminate:
                raise BadInput("--ngram sets the n-gram size of --decontaminate", hint="add --decontaminate BENCHMARK")
            from curation.decontaminate import check_ngram

            check_ngram(self.ngram)

    def parameters(self) -> dict[str, Any]:
        """The options that shape the generated rows (the manifest's `parameters`, part of the cache key)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["role"] == "data"}

    def secrets(self) -> list[str]:
        """Secret values given as options (to keep out of every output)."""
        return [v for f in fields(self) if f.metadata["role"] == "secret" and (v := getattr(self, f.name))]


def cli_fields() -> list[tuple[str, tuple[str, ...], dict[str, Any], Any]]:
    """(name, option declarations, click keywords, default) of every option the CLI exposes."""
    out = []
    for f in fields(GenerationOptions):
        if f.metadata.get("cli") is None:
            continue
        decls, kwargs = f.metadata["cli"]
        out.append((f.name, decls, dict(kwargs), None if f.default is MISSING else f.default))
    return out
