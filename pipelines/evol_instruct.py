"""`evol-instruct` (arXiv 2304.12244): seed instructions → EvolInstruct rewrites → responses."""

from __future__ import annotations


from distilabel.pipeline import Pipeline

from curation.contract import COL_INSTRUCTION, COL_SEED_INSTRUCTION
from pipelines.recipe import RecipeContext
from pipelines.sft_common import instructions_then_responses, sft_rows
from pipelines.worked_examples import EvolInstructWithExamples

OVERSAMPLE = 1.5


def build(ctx: RecipeContext) -> Pipeline:
    wanted = max(1, round(ctx.num_rows * OVERSAMPLE))
    data = [{COL_SEED_INSTRUCTION: s[COL_INSTRUCTION]} for s in ctx.seed_rows(wanted)]
    return instructions_then_responses(
        ctx, "curation-evol-instruct", data, column="evolved_instruction",
        write_instructions=lambda: EvolInstructWithExamples(
            name="evol_instruct",
            system_prompt=ctx.questions_system_prompt,
            llm=ctx.llm(),
            num_evolutions=1,
            input_batch_size=8,
            input_mappings={"instruction": COL_SEED_INSTRUCTION},
        ),
    )

def to_rows(rows: list[dict], ctx: RecipeContext) -> list[dict]:
    return sft_rows(rows, ctx, extra_columns=(COL_SEED_INSTRUCTION,))
