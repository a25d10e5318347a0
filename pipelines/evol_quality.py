"""`evol-quality` (Deita, arXiv 2312.15685): EvolQuality rewrites a response to be better; the pair is a candidate preference."""

from __future__ import annotations

import itertools

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import EvolQuality

from pipelines.recipe import RecipeContext, raw_output
from pipelines.steps import DropEmpty

SEED_MODEL = "seed"


def build(ctx: RecipeContext) -> Pipeline:
    seeds = itertools.islice(itertools.cycle(ctx.seeds), ctx.num_rows)
    data = [{"instruction": s["instruction"], "response": s["response"], "seed_model": s.get("model_name") or SEED_MODEL} for s in seeds]
    with ctx.pipeline("curation-evol-quality") as pipeline:
        load = LoadDataFromDicts(name="seeds", data=data)
        evolve = EvolQuality(name="evol_quality", llm=ctx.llm(), num_evolutions=1, input_batch_size=8)
        drop_empty = DropEmpty(name="drop_empty_rewrites", columns=["evolved_response"])
        load >> evolve >> drop_empty
    return pipeline


def to_rows(rows: list[dict], ctx: RecipeContext) -> list[dict]:
    """Original response first, the EvolQuality rewrite second (the proposed improvement)."""
    return [
        {
            "instruction": row["instruction"],
            "generations": [row["response"], row["evolved_response"]],
            "generation_models": [row["seed_model"], f"evol-quality:{ctx.backends[0].model_label}"],
            "raw_output": raw_output(row),
        }
        for row in rows[: ctx.num_rows]
        if row["evolved_response"].strip() != row["response"].strip()
    ]
