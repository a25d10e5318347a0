"""`prompt`: basic prompting — ask the model for one question per topic, then answer it."""

from __future__ import annotations

import itertools

from distilabel.pipeline import Pipeline

from pipelines.recipe import RecipeContext
from pipelines.sft_common import instructions_then_responses, sft_rows
from pipelines.steps import AskUntilEnough

DEFAULT_TOPICS = [
    "cooking", "personal finance", "python programming", "world history", "astronomy",
    "gardening", "physics", "travel planning", "writing emails", "mathematics",
    "health and fitness", "climate science",
]
TEMPLATE = (
    "Write one clear, self-contained question that a user might ask an AI assistant about "
    "{{ topic }}. Reply with the question only."
)
# Small models drop or repeat questions: room for a few more than needed, asked only while needed.
OVERSAMPLE = 2


def build(ctx: RecipeContext) -> Pipeline:
    topics = [row["topic"] for row in ctx.seeds] or DEFAULT_TOPICS
    wanted = max(1, round(ctx.num_rows * OVERSAMPLE))
    data = [{"topic": t} for t in itertools.islice(itertools.cycle(topics), wanted)]
    return instructions_then_responses(
        ctx, "curation-prompt", data, column="question", source="topics",
        write_instructions=lambda: AskUntilEnough(
            name="ask",
            enough=ctx.num_rows,
            llm=ctx.llm(max_new_tokens=64),
            template=TEMPLATE,
            columns=["topic"],
            input_batch_size=16,
            output_mappings={"generation": "question"},
            system_prompt=ctx.questions_system_prompt,
        ),
    )

def to_rows(rows: list[dict], ctx: RecipeContext) -> list[dict]:
    return sft_rows(rows, ctx, extra_columns=("topic",))
