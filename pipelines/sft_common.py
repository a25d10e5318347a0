"""Pieces shared by the instruction (SFT) recipes: respond to instructions, optional Deita scores."""

from __future__ import annotations

from collections.abc import Callable

from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

from curation import contract as c
from pipelines.recipe import RecipeContext, raw_output
from pipelines.steps import (
    CleanInstructions, DropEmpty, JudgeComplexityScorer, JudgeQualityScorer, WrapForDeita, deita_scores_schema,
)


def instructions_then_responses(ctx: RecipeContext, name: str, data: list[dict], write_instructions: Callable,
                                column: str, source: str = "seeds"):
    """The seeded sft shape: `data` → `write_instructions()` (a distilabel task) → clean `column` → responses."""
    with ctx.pipeline(name) as pipeline:
        load = LoadDataFromDicts(name=source, data=data)
        task = write_instructions()  # made inside the pipeline's context, as distilabel requires
        # A model that copies an example verbatim made no new row: clean-up drops the copy.
        copies = [instruction for instruction, _ in ctx.examples.pairs()] if ctx.examples is not None else []
        clean = CleanInstructions(name="clean_instructions", column=column, limit=ctx.num_rows, exclude=copies)
        load >> task >> clean
        respond(ctx, clean)
    return pipeline


def respond(ctx: RecipeContext, upstream):
    """instruction → response (+ Deita complexity/quality scores when asked); returns the last step."""
    answer = TextGeneration(
        name="respond", llm=ctx.llm(), input_batch_size=16, output_mappings={"generation": c.COL_RESPONSE},
        system_prompt=ctx.answers_system_prompt,
    )
    drop_empty = DropEmpty(name="drop_empty_responses", columns=[c.COL_RESPONSE])
    upstream >> answer >> drop_empty
    if not ctx.deita:
        return drop_empty
    wrap = WrapForDeita(name="wrap_for_deita")
    complexity = JudgeComplexityScorer(
        name="complexity", llm=ctx.judge_llm(schema=deita_scores_schema()),
        output_mappings={"scores": "complexity_scores", "model_name": "scorer_model"},
    )
    quality = JudgeQualityScorer(
        name="quality", llm=ctx.judge_llm(schema=deita_scores_schema()),
        output_mappings={"scores": "quality_scores", "model_name": "scorer_model"},
    )
    drop_empty >> wrap >> complexity >> quality
    return quality


def _first_score(value) -> float | None:
    if isinstance(value, list) and value and isinstance(value[0], (int, float)):
        return float(value[0])
    return None


def sft_rows(rows: list[dict], ctx: RecipeContext, extra_columns: tuple[str, ...] = ()) -> list[dict]:
    """Distilabel output → batch rows of kind `sft` (see curation.batch), capped at num_rows."""
    out = []
    for row in rows[: ctx.num_rows]:
        item = {
            c.COL_INSTRUCTION: row[c.COL_INSTRUCTION],
            c.COL_RESPONSE: row[c.COL_RESPONSE],
            c.COL_MODEL_NAME: ctx.backends[0].model_label,
            c.COL_RAW_OUTPUT: raw_output(row),
        }
        if ctx.deita:
            item[c.COL_COMPLEXITY_SCORE] = _first_score(row.get("complexity_scores"))
            item[c.COL_QUALITY_SCORE] = _first_score(row.get("quality_scores"))
        for column in extra_columns:
            item[column] = row.get(column)
        out.append(item)
    return out
