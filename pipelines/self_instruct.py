"""`self-instruct` (arXiv 2212.10560): seed documents/topics → SelfInstruct queries → responses."""

from __future__ import annotations

import math

from distilabel.pipeline import Pipeline

from pipelines.recipe import RecipeContext
from pipelines.sft_common import instructions_then_responses, sft_rows
from pipelines.worked_examples import SelfInstructWithExamples

NUM_INSTRUCTIONS = 5
# Measured with the bundled 135M model: roughly half of its lines survive clean-up.
EXPECTED_YIELD = 0.5


def build(ctx: RecipeContext) -> Pipeline:
    per_seed = NUM_INSTRUCTIONS * EXPECTED_YIELD
    wanted = max(1, math.ceil(ctx.num_rows / per_seed))
    data = [{"input": s["input"]} for s in ctx.seed_rows(max(wanted, 1))]
    return instructions_then_responses(
        ctx, "curation-self-instruct", data, column="instructions",
        write_instructions=lambda: SelfInstructWithExamples(
            name="self_instruct", llm=ctx.llm(), num_instructions=NUM_INSTRUCTIONS, input_batch_size=8,
            system_prompt=ctx.questions_system_prompt,
        ),
    )

def to_rows(rows: list[dict], ctx: RecipeContext) -> list[dict]:
    return sft_rows(rows, ctx, extra_columns=("input",))
