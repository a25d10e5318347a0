"""`ultrafeedback` (arXiv 2310.01377): candidate responses rated by an LLM judge → chosen/rejected."""

from __future__ import annotations

from distilabel.pipeline import Pipeline

from pipelines.preference_common import generate_candidates, load_instructions, preference_row, usable_indexes
from pipelines.recipe import RecipeContext
from pipelines.steps import JudgeUltraFeedback, ultrafeedback_schema


def build(ctx: RecipeContext) -> Pipeline:
    with ctx.pipeline("curation-ultrafeedback") as pipeline:
        candidates = generate_candidates(ctx, load_instructions(ctx))
        judge = JudgeUltraFeedback(
            name="ultrafeedback",
            llm=ctx.judge_llm(schema=ultrafeedback_schema(ctx.total_generations)),
            aspect="overall-rating",
            input_batch_size=8,
            output_mappings={"model_name": "judge_model_name"},
        )
        candidates >> judge
    return pipeline


def chosen_rejected(ratings: list) -> tuple[int | None, int | None]:
    """Indexes of the best and worst rated responses; None when ratings are missing or all tie."""
    scored = [(r, i) for i, r in enumerate(ratings or []) if isinstance(r, (int, float))]
    if len(scored) < 2:
        return None, None
    best, worst = max(scored), min(scored)
    if best[0] == worst[0] or sum(1 for r, _ in scored if r == best[0]) > 1:
        return None, None  # a tie for first place is not a preference
    return best[1], worst[1]


def to_rows(rows: list[dict], ctx: RecipeContext) -> list[dict]:
    judge = (ctx.judge or ctx.backends[0]).model_label
    out = []
    for row in rows:
        keep = usable_indexes(row)
        if len(keep) < 2:
            continue
        ratings, rationales = row.get("ratings") or [], row.get("rationales") or []
        ratings = [_as_rating(ratings[i]) if i < len(ratings) else None for i in keep]
        rationales = [(rationales[i] if i < len(rationales) else None) or "" for i in keep]
        chosen, rejected = chosen_rejected(ratings)
        out.append(
            {
                **preference_row(row, keep, ctx),
                "ratings": ratings,
                "rationales": rationales,
                "judge_model": judge,
                "chosen_index": chosen,
                "rejected_index": rejected,
            }
        )
    return out[: ctx.num_rows]


def _as_rating(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None
