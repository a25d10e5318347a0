"""`ultrafeedback` (arXiv 2310.01377): candidate responses rated by an LLM judge → chosen/rejected.

Seeds are instructions (candidates are generated here, `--num-generations` of them) or rows
that already carry candidates (`instruction` + `generations`, e.g. a `responses` or
`evol-quality` batch): then nothing is generated, the judge rates every candidate, and
`candidate_origin`/`evolved_from` travel with the candidates they describe.
"""

from __future__ import annotations

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts

from curation import contract as c
from curation.seeds import has_candidates
from pipelines.preference_common import generate_candidates, load_instructions, preference_row, usable_indexes
from pipelines.recipe import RecipeContext
from pipelines.steps import ultrafeedback_schema
from pipelines.worked_examples import JudgeUltraFeedbackWithExamples, judge_prompt

CARRIED = (c.COL_CANDIDATE_ORIGIN, c.COL_EVOLVED_FROM)  # lists parallel to `generations`, kept through the judge


def seeded_candidates(ctx: RecipeContext) -> list[dict]:
    """The seed rows that carry candidates, as the judge's input ([] when the seeds are instructions)."""
    rows = [s for s in ctx.seed_rows(ctx.num_rows) if has_candidates(s)]
    out = []
    for seed in rows:
        gens = list(seed[c.COL_GENERATIONS])
        models = list(seed.get(c.COL_GENERATION_MODELS) or [])
        row = {
            c.COL_INSTRUCTION: seed[c.COL_INSTRUCTION],
            c.COL_GENERATIONS: [g if isinstance(g, str) else "" for g in gens],
            c.COL_GENERATION_MODELS: [str(m) if m else "seed" for m in models + [None] * (len(gens) - len(models))],
            c.COL_CANDIDATE_ORIGIN: list(seed.get(c.COL_CANDIDATE_ORIGIN) or ["original"] * len(gens)),
        }
        if seed.get(c.COL_EVOLVED_FROM) is not None:
            row[c.COL_EVOLVED_FROM] = list(seed[c.COL_EVOLVED_FROM])
        out.append(row)
    return out


RATIONALE_CHARS = 320  # all rationales of one answer together, at most


def _judge_schema(low: int, high: int) -> dict:
    """UltraFeedback's answer schema for rows of `low` to `high` candidates.

    Rationales share RATIONALE_CHARS, so the whole answer fits the judge's token budget
    (JUDGE_TOKENS_PER_RESPONSE each, sized for a rationale of one token a character): a cut-off
    answer loses every rating of its row, and under a grammar a 135M judge writes rationales to
    their longest.
    """
    schema = ultrafeedback_schema(high)
    for key in ("ratings", "rationales"):
        schema["properties"][key]["minItems"] = low
    items = schema["properties"]["rationales"]["items"]
    items["maxLength"] = min(items.get("maxLength", RATIONALE_CHARS), max(48, RATIONALE_CHARS // high))
    return schema


def build(ctx: RecipeContext) -> Pipeline:
    seeded = seeded_candidates(ctx)
    counts = [len(r[c.COL_GENERATIONS]) for r in seeded] or [ctx.total_generations]
    with ctx.pipeline("curation-ultrafeedback") as pipeline:
        if seeded:
            candidates = LoadDataFromDicts(name="candidates", data=seeded)
        else:
            candidates = generate_candidates(ctx, load_instructions(ctx))
        judge = JudgeUltraFeedbackWithExamples(
            name="ultrafeedback",
            llm=ctx.judge_llm(schema=_judge_schema(min(counts), max(counts)), responses=max(counts)),
            aspect="overall-rating",
            # --judge-examples: the humans' corrections of an earlier judge, after its system prompt
            worked_examples=judge_prompt(ctx.judge_examples.examples) if ctx.judge_examples is not None else None,
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
        ratings, rationales = row.get(c.COL_RATINGS) or [], row.get(c.COL_RATIONALES) or []
        ratings = [_as_rating(ratings[i]) if i < len(ratings) else None for i in keep]
        rationales = [(rationales[i] if i < len(rationales) else None) or "" for i in keep]
        chosen, rejected = chosen_rejected(ratings)
        carried = {}
        if row.get(c.COL_CANDIDATE_ORIGIN) is not None:
            origins = list(row[c.COL_CANDIDATE_ORIGIN])
            carried[c.COL_CANDIDATE_ORIGIN] = [origins[i] if i < len(origins) else None for i in keep]
        if row.get(c.COL_EVOLVED_FROM) is not None:
            sources = list(row[c.COL_EVOLVED_FROM])
            carried[c.COL_EVOLVED_FROM] = [keep.index(sources[i]) if i < len(sources) and sources[i] in keep else None
                                       for i in keep]
        out.append(
            {
                **preference_row(row, keep, ctx),
                **carried,
                c.COL_RATINGS: ratings,
                c.COL_RATIONALES: rationales,
                c.COL_JUDGE_MODEL: judge,
                c.COL_CHOSEN_INDEX: chosen,
                "rejected_index": rejected,
            }
        )
    return out[: ctx.num_rows]


def _as_rating(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None
