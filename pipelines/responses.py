"""`responses`: N candidate responses per instruction, optionally from several backends."""

from __future__ import annotations

from distilabel.pipeline import Pipeline

from pipelines.preference_common import generate_candidates, load_instructions, preference_rows
from pipelines.recipe import RecipeContext


def build(ctx: RecipeContext) -> Pipeline:
    with ctx.pipeline("curation-responses") as pipeline:
        generate_candidates(ctx, load_instructions(ctx))
    return pipeline


to_rows = preference_rows
