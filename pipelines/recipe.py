"""What a recipe is: a distilabel pipeline builder plus the mapping of its output to batch rows."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curation.backends import BackendSpec, build_llm
from curation.options import GenerationOptions
from pipelines import RecipeInfo


# The judge's answer budget per rated response: a rationale of its longest (160 characters, see
# pipelines/ultrafeedback.py `_judge_schema`) at one token a character, which a degenerate
# rationale ("1.1.1.1...") is, plus its rating and the JSON around them. At 96 such an answer was
# cut off and its row lost every rating; a normal answer ends long before the budget.
JUDGE_TOKENS_PER_RESPONSE = 176


@dataclass
class RecipeContext:
    """Everything a recipe needs to build its pipeline: the options, the seed rows, the parsed backends."""

    options: GenerationOptions
    seeds: list[dict]
    backends: list[BackendSpec]
    judge: BackendSpec | None = None
    cache_dir: str | None = None
    examples: Any = None  # curation.examples.Examples (`--examples`): worked examples for the prompts
    judge_examples: Any = None  # curation.judge_examples.JudgeExamples (`--judge-examples`): for the judge's prompt

    def __getattr__(self, name: str) -> Any:
        # ctx.num_rows, ctx.max_new_tokens, ctx.deita, ...: the options' fields, read through the context.
        if name != "options" and name in GenerationOptions.__dataclass_fields__:
            return getattr(self.options, name)
        raise AttributeError(name)

    def fingerprint(self) -> str:
        """A short hash of everything that shapes the generated data (the options' `data` fields among it)."""
        config = {
            "seeds": self.seeds, "backends": [b.describe() for b in self.backends],
            "judge": self.judge.describe() if self.judge else None, **self.options.parameters(),
        }
        if self.examples is not None:  # other examples, other prompts: never the same cache
            config["examples"] = self.examples.rows
        if self.judge_examples is not None:
            config["judge_examples"] = self.judge_examples.examples
        return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def pipeline(self, name: str):
        """A distilabel Pipeline caching under our data folder, so a re-run resumes.

        The name carries the options' fingerprint: each configuration gets its own cache.
        distilabel 1.5.3 hangs when a run reuses some cached steps of an earlier, different
        configuration (a load stage whose steps are all cached never reports loaded), and a
        re-run of the same configuration still resumes. The class is distilabel's local
        Pipeline, without its 2.5 s wait per load stage (`pipelines.local_pipeline`).
        """
        from pipelines.local_pipeline import Pipeline

        return Pipeline(name=f"{name}-{self.fingerprint()}", cache_dir=self.cache_dir)

    def seed_rows(self, count: int) -> list[dict]:
        """`count` seed rows: a seed file's rows cycled; a parent batch's rows each used once, in order."""
        if getattr(self.seeds, "from_batch", False):
            return list(self.seeds[:count])
        return list(itertools.islice(itertools.cycle(self.seeds), count)) if self.seeds else []

    @property
    def questions_system_prompt(self) -> str | None:
        """The question-writing step's system prompt: the accepted examples' instructions (None without)."""
        from pipelines.worked_examples import questions_prompt

        return questions_prompt(self.examples.pairs()) if self.examples is not None else None

    @property
    def answers_system_prompt(self) -> str | None:
        """The answering step's system prompt: the accepted examples' instructions and answers (None without)."""
        from pipelines.worked_examples import answers_prompt

        return answers_prompt(self.examples.pairs()) if self.examples is not None else None

    def generations_per_backend(self) -> list[int]:
        """`num_generations` spread over the backends, at least one each (the remainder goes first)."""
        n = len(self.backends)
        return [max(1, self.num_generations // n + (1 if i < self.num_generations % n else 0)) for i in range(n)]

    @property
    def total_generations(self) -> int:
        return sum(self.generations_per_backend())

    @property
    def generation_kwargs(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature}

    def llm(self, spec: BackendSpec | None = None, *, magpie: bool = False, **overrides):
        """A fresh distilabel LLM (each step needs its own instance)."""
        return build_llm(
            spec or self.backends[0], magpie=magpie, generation_kwargs={**self.generation_kwargs, **overrides}
        )

    def judge_llm(self, schema: dict | None = None, responses: int | None = None):
        """A deterministic judge LLM; on llama.cpp its answer is held to `schema` by a JSON grammar.

        `responses`: the most candidates one answer rates (default: those this recipe generates).
        """
        spec = self.judge or self.backends[0]
        budget = JUDGE_TOKENS_PER_RESPONSE * (responses or self.total_generations)
        settings = {"temperature": 0.0, "max_new_tokens": max(self.max_new_tokens, budget)}
        if schema is not None and spec.name == "llamacpp":
            settings["extra_generation_kwargs"] = {"response_format": {"type": "json_object", "schema": schema}}
        return self.llm(spec, **settings)


@dataclass(frozen=True)
class Recipe:
    """A registered recipe (`pipelines.RECIPES`) with its module's `build(ctx)` and `to_rows(rows, ctx)`."""

    info: RecipeInfo
    build: Callable[[RecipeContext], Any]
    to_rows: Callable[[list[dict], RecipeContext], list[dict]]

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> str:
        return self.info.kind


def step_metadata(row: dict) -> list[dict]:
    """The distilabel metadata of every LLM step behind a row (GroupColumns makes lists of them)."""
    metas = []
    for key in ("instruction_metadata", "generation_metadata", "distilabel_metadata"):
        meta = row.get(key) or {}
        metas.extend(m for m in (meta if isinstance(meta, list) else [meta]) if isinstance(m, dict))
    return metas


def raw_output(row: dict) -> str:
    """What the model returned, before cleaning, as JSON (kept in the batch for audit)."""
    raw = {k: v for m in step_metadata(row) for k, v in m.items() if k.startswith("raw_output_")}
    if row.get("raw_instruction") is not None:
        raw["raw_instruction"] = row["raw_instruction"]
    return json.dumps(raw, ensure_ascii=False, default=str)
