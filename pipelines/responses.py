"""`responses`: N candidate responses per instruction, optionally from several backends."""

from __future__ import annotations

from distilabel.pipeline import Pipeline

from pipelines.preference_common import generate_candidates, load_instructions, preference_rows
from pipelines.recipe import Recipe, RecipeContext


def build(ctx: RecipeContext) -> Pipeline:
    with ctx.pipeline("curation-responses") as pipeline:
        generate_candidates(ctx, load_instructions(ctx))
    return pipeline


RECIPE = Recipe(
    name="responses",
    kind="preference",
    summary="several candidate responses per instruction (one or more backends)",
    build=build,
    to_rows=preference_rows,
    seed_columns=("instruction",),
    seeds_required=True,
    seed_help="required; column `instruction`",
)
