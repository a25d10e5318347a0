"""distilabel steps shared by the recipes: deterministic clean-up and column shaping.

No `from __future__ import annotations` here: distilabel reads the `StepInput` hint at run time.
"""


import math
from typing import TYPE_CHECKING

from distilabel.steps import GlobalStep, Step, StepInput
from distilabel.steps.tasks import ComplexityScorer, QualityScorer, TextGeneration, UltraFeedback
from pydantic import PrivateAttr

from curation.cleaning import clean_instructions, clean_response, normalize
from curation.contract import COL_GENERATION_MODELS, COL_GENERATIONS, COL_INSTRUCTION, COL_RESPONSE
from curation.logs import PROGRESS_ATTR
from pipelines.recipe import step_metadata

if TYPE_CHECKING:
    from distilabel.typing import StepOutput


class NoUsableInstructions(Exception):
    """Every generated instruction was dropped by clean-up."""


class CleanInstructions(GlobalStep):
    """Explode `column` (a string or list of lines) into one clean, de-duplicated `instruction` per row.

    A global step so duplicates are caught across the whole batch and `limit` caps the rows
    before any response is generated for them. The uncleaned text is kept in `raw_instruction`
    and the upstream step's distilabel metadata in `instruction_metadata` (the next task
    replaces `distilabel_metadata` with its own).
    """

    column: str = "instructions"
    limit: int | None = None
    exclude: list[str] = []  # instructions never kept (`--examples`: a copy of an example is no new row)

    @property
    def inputs(self) -> list[str]:
        return [self.column]

    @property
    def outputs(self) -> list[str]:
        return [COL_INSTRUCTION, "raw_instruction", "instruction_metadata"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        seen: set[str] = {normalize(line) for line in self.exclude}
        rows = []
        for row in inputs:
            raw = row.get(self.column)
            for instruction in clean_instructions(raw, seen):
                if self.limit is not None and len(rows) >= self.limit:
                    break
                out = {k: v for k, v in row.items() if k not in (self.column, COL_INSTRUCTION, "distilabel_metadata")}
                rows.append({**out, COL_INSTRUCTION: instruction, "raw_instruction": raw,
                             "instruction_metadata": row.get("distilabel_metadata") or {}})
        if not rows:
            # distilabel 1.5.3 waits forever on an empty batch sent to the next step; a global
            # step's error stops the pipeline instead, and the message lands in the log.
            raise NoUsableInstructions(f"clean-up kept none of the {len(inputs)} generated instruction(s)")
        yield rows


class AskUntilEnough(TextGeneration):
    """A TextGeneration writing instructions that stops calling the model once it has `enough` usable ones.

    Recipes ask for more instructions than rows (small models answer with nothing usable or a
    repeat about one time in five), and the surplus used to be generated, then cut by
    clean-up's `limit`. This step counts the clean, distinct instructions its answers hold (the
    same `clean_instructions` rule as `CleanInstructions`), asks in each batch only as many rows
    as the remaining need at `expected_yield` (the rest of the batch still goes at once, in one
    call, on backends that send requests together), and sends the rows it no longer needs on
    with no generation, in distilabel's own failure shape, which clean-up drops. Counted per
    replica: with several, each stops on its own count.
    """

    enough: int
    expected_yield: float = 0.8  # usable instructions per answer, measured on the bundled SmolLM2 (77 of 96)

    _usable: int = PrivateAttr(0)
    _seen: set = PrivateAttr(default_factory=set)

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        done, start = [], 0
        while start < len(inputs) and self._usable < self.enough:
            size = max(1, math.ceil((self.enough - self._usable) / self.expected_yield))
            chunk = inputs[start:start + size]
            for rows in super().process(chunk):
                self._usable += sum(len(clean_instructions(row.get("generation"), self._seen)) for row in rows)
                done.extend(rows)
            start += len(chunk)
        skipped = [{**row, **self._output_on_failure(None, row)} for row in inputs[start:]]
        yield done + skipped


class DropEmpty(Step):
    """Drop rows whose `columns` are empty after stripping (a failed or blank generation)."""

    columns: list[str] = ["generation"]

    @property
    def inputs(self) -> list[str]:
        return list(self.columns)

    @property
    def outputs(self) -> list[str]:
        return list(self.columns)

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        kept = []
        for row in inputs:
            values = [row.get(c) for c in self.columns]
            if all(isinstance(v, str) and clean_response(v) for v in values):
                kept.append({**row, **{c: clean_response(row[c]) for c in self.columns}})
        yield kept


class FlattenGenerations(Step):
    """Turn grouped per-backend generations (lists of lists) into flat `generations` + `generation_models`.

    The writers' distilabel metadata moves to `generation_metadata`, since a judge task after
    this step replaces `distilabel_metadata` with its own.
    """

    @property
    def inputs(self) -> list[str]:
        return ["grouped_generation", "grouped_model_name"]

    @property
    def outputs(self) -> list[str]:
        return [COL_GENERATIONS, COL_GENERATION_MODELS, "generation_metadata"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        for row in inputs:
            generations, models = [], []
            for gens, model in zip(row.pop("grouped_generation"), row.pop("grouped_model_name")):
                for text in gens if isinstance(gens, list) else [gens]:
                    generations.append(clean_response(text))
                    models.append(model)
            row[COL_GENERATIONS], row[COL_GENERATION_MODELS] = generations, models
            row["generation_metadata"] = row.pop("distilabel_metadata", None) or []
        yield inputs


class WrapForDeita(Step):
    """Deita's scorers take lists: expose `instructions=[instruction]`, `responses=[response]`."""

    @property
    def inputs(self) -> list[str]:
        return [COL_INSTRUCTION, COL_RESPONSE]

    @property
    def outputs(self) -> list[str]:
        return ["instructions", "responses"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        for row in inputs:
            row["instructions"] = [row[COL_INSTRUCTION]]
            row["responses"] = [row[COL_RESPONSE]]
        yield inputs


class JSONAnswerMixin:
    """A judge that answers in JSON under a schema wherever the backend can hold it to one.

    A 135M model does not follow the free-text formats of these tasks, but under a JSON schema
    it always answers in a parseable shape. On llama.cpp in process the schema is a grammar set
    on the LLM (`RecipeContext.judge_llm`); on server backends (OpenAI, vLLM, llama.cpp's server,
    Inference Endpoints) each request carries the schema for its own row (`answer_schema`).
    Text answers from other backends go to the task's usual parser.
    """

    def answer_schema(self, input: dict) -> dict:
        raise NotImplementedError

    def _format_inputs(self, inputs):  # type: ignore[override]
        formatted = super()._format_inputs(inputs)
        if not _takes_schema_per_request(self.llm):
            return formatted
        return [(messages, {"format": "json", "schema": self.answer_schema(row)})
                for messages, row in zip(formatted, inputs)]

    def format_output(self, output, input=None):  # type: ignore[override]
        if output and output.lstrip().startswith("{"):
            return self._format_structured_output(output, input)
        return super().format_output(output, input)


def _takes_schema_per_request(llm) -> bool:
    from distilabel.models.llms import InferenceEndpointsLLM

    from curation.server_llm import OpenAIServerLLM

    return isinstance(llm, (OpenAIServerLLM, InferenceEndpointsLLM))


class JudgeUltraFeedback(JSONAnswerMixin, UltraFeedback):
    """UltraFeedback whose answer may be {"ratings": [...], "rationales": [...]}.

    Short or missing lists are aligned with the responses by the recipe's `to_rows`.
    """

    def answer_schema(self, input: dict) -> dict:
        return ultrafeedback_schema(len(input[COL_GENERATIONS]))


class JudgeComplexityScorer(JSONAnswerMixin, ComplexityScorer):
    """Deita's ComplexityScorer whose answer may be {"scores": [...]}."""

    def answer_schema(self, input: dict) -> dict:
        return deita_scores_schema(len(input["instructions"]))


class JudgeQualityScorer(JSONAnswerMixin, QualityScorer):
    """Deita's QualityScorer whose answer may be {"scores": [...]}."""

    def answer_schema(self, input: dict) -> dict:
        return deita_scores_schema(len(input["responses"]))


class ReportProgress(Step):
    """Pass finished rows through unchanged, reporting how many arrived and the completion tokens behind them.

    The report is a log record: distilabel forwards every worker's records to the main
    process, where `curation.logs` turns them into the progress display.
    """

    @property
    def inputs(self) -> list[str]:
        return []

    @property
    def outputs(self) -> list[str]:
        return []

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        tokens = sum(completion_tokens(row) for row in inputs)
        self._logger.info(
            "%d row(s) finished (%d completion tokens)", len(inputs), tokens,
            extra={PROGRESS_ATTR: {"rows": len(inputs), "tokens": tokens}},
        )
        yield inputs


def completion_tokens(row: dict) -> int:
    """Completion tokens of every LLM call behind a row, from distilabel's statistics."""
    total = 0
    for meta in step_metadata(row):
        for key, stats in meta.items():
            if key.startswith("statistics_") and isinstance(stats, dict):
                counts = stats.get("output_tokens")
                total += sum(c for c in (counts if isinstance(counts, list) else [counts]) if isinstance(c, int))
    return total


def report_progress(pipeline) -> None:
    """Append a ReportProgress step to every leaf of a built pipeline (it changes no row)."""
    from distilabel.constants import STEP_ATTR_NAME

    # Not `dag.leaf_steps`: a cached property, it would keep the old leaves once read.
    leaves = sorted(name for name in pipeline.dag if not list(pipeline.dag.get_step_successors(name)))
    for index, leaf in enumerate(leaves):
        step = pipeline.dag.get_step(leaf)[STEP_ATTR_NAME]
        step.connect(ReportProgress(name=f"report_progress_{index}", pipeline=pipeline))


def ultrafeedback_schema(num_responses: int) -> dict:
    """Exactly one 1-5 rating and one short rationale per response."""
    return {
        "type": "object",
        "properties": {
            "ratings": {"type": "array", "items": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
                        "minItems": num_responses, "maxItems": num_responses},
            "rationales": {"type": "array", "items": {"type": "string", "maxLength": 160},
                           "minItems": num_responses, "maxItems": num_responses},
        },
        "required": ["ratings", "rationales"],
    }


def deita_scores_schema(num_items: int = 1) -> dict:
    """Deita scorers rate each item 1-6."""
    return {
        "type": "object",
        "properties": {"scores": {"type": "array", "items": {"type": "integer", "enum": [1, 2, 3, 4, 5, 6]},
                                  "minItems": num_items, "maxItems": num_items}},
        "required": ["scores"],
    }
