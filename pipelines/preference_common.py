"""Pieces shared by the preference recipes: several responses per instruction, row mapping."""

from __future__ import annotations

from pathlib import Path

from distilabel.steps import GroupColumns, LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

from curation import contract as c
from curation.backends import model_path
from pipelines.recipe import RecipeContext, raw_output
from pipelines.steps import FlattenGenerations


def load_instructions(ctx: RecipeContext):
    """The seed instructions, cycled to `num_rows` rows."""
    rows = ctx.seed_rows(ctx.num_rows)
    return LoadDataFromDicts(name="seeds", data=[{c.COL_INSTRUCTION: s[c.COL_INSTRUCTION]} for s in rows])


def generate_candidates(ctx: RecipeContext, upstream):
    """`num_generations` responses per instruction spread over the backends, flattened into `generations`."""
    writers = [
        TextGeneration(
            name=f"respond_{i}",
            llm=ctx.llm(spec),
            num_generations=count,
            group_generations=True,
            input_batch_size=16,
            system_prompt=ctx.answers_system_prompt,
        )
        for i, (spec, count) in enumerate(zip(ctx.backends, ctx.generations_per_backend()))
    ]
    group = GroupColumns(name="group_responses", columns=["generation", "model_name"])
    flatten = FlattenGenerations(name="flatten_responses")
    for writer in writers:
        upstream >> writer >> group
    group >> flatten
    return flatten


def usable_indexes(row: dict) -> list[int]:
    """Indexes of the non-empty responses of a distilabel row."""
    return [i for i, g in enumerate(row[c.COL_GENERATIONS]) if g]


def preference_row(row: dict, keep: list[int], ctx: RecipeContext) -> dict:
    """One distilabel row → a batch row of kind `preference`, keeping responses at `keep`."""
    return {
        c.COL_INSTRUCTION: row[c.COL_INSTRUCTION],
        c.COL_GENERATIONS: [row[c.COL_GENERATIONS][i] for i in keep],
        c.COL_GENERATION_MODELS: [_label(row[c.COL_GENERATION_MODELS][i], ctx) for i in keep],
        c.COL_RAW_OUTPUT: raw_output(row),
    }


def preference_rows(rows: list[dict], ctx: RecipeContext) -> list[dict]:
    """Batch rows of kind `preference`; rows with fewer than 2 usable responses are dropped."""
    out = [preference_row(row, keep, ctx) for row in rows if len(keep := usable_indexes(row)) >= 2]
    return out[: ctx.num_rows]


def _label(model_name: str, ctx: RecipeContext) -> str:
    """distilabel reports a GGUF's full path as its model name; show the backend's label instead."""
    for spec in ctx.backends:
        if spec.name == "llamacpp" and Path(str(model_name)) == model_path(spec):
            return spec.model_label
        if spec.name != "llamacpp" and spec.model == model_name:
            return spec.model_label
    return str(model_name)
