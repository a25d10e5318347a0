"""`magpie` (arXiv 2406.08464): no seeds — the chat model writes the user turn from its pre-query template."""

from __future__ import annotations

from distilabel.pipeline import Pipeline
from distilabel.steps.tasks import MagpieGenerator

from curation.contract import COL_INSTRUCTION, COL_RESPONSE
from pipelines.recipe import RecipeContext
from pipelines.sft_common import sft_rows
from pipelines.steps import CleanInstructions, DropEmpty

OVERSAMPLE = 2  # many raw Magpie turns are not usable instructions


def build(ctx: RecipeContext) -> Pipeline:
    with ctx.pipeline("curation-magpie") as pipeline:
        magpie = MagpieGenerator(
            name="magpie",
            llm=ctx.llm(magpie=True),
            n_turns=1,
            num_rows=ctx.num_rows * OVERSAMPLE,
            batch_size=8,
        )
        clean = CleanInstructions(name="clean_instructions", column=COL_INSTRUCTION, limit=ctx.num_rows)
        drop_empty = DropEmpty(name="drop_empty_responses", columns=[COL_RESPONSE])
        magpie >> clean >> drop_empty
    return pipeline


to_rows = sft_rows
