"""`evol-quality` (Deita, arXiv 2312.15685): EvolQuality rewrites each response to be better; originals are kept.

Seeds are either pairs (`instruction` + `response`, e.g. an sft batch) or rows that already
carry candidates (`instruction` + `generations`, e.g. a `responses` batch). Every response is
evolved once; a row keeps its N originals first, then the rewrites that differ from their
original, with `candidate_origin` ("original"/"evolved") and `evolved_from` (the index of the
original a rewrite came from; None for originals) parallel to `generations`.
"""

from __future__ import annotations

import json
from collections import defaultdict

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import EvolQuality

from curation import contract as c
from curation.seeds import has_candidates
from pipelines.recipe import RecipeContext, raw_output
from pipelines.steps import DropEmpty

SEED_MODEL = "seed"
ORIGINAL, EVOLVED = "original", "evolved"


def originals(seed: dict) -> list[tuple[str, str, str]]:
    """(text, model, origin) of each candidate a seed row brings: its `generations`, else its `response`."""
    if has_candidates(seed):
        gens = list(seed[c.COL_GENERATIONS])
        models = list(seed.get(c.COL_GENERATION_MODELS) or [])
        origins = list(seed.get(c.COL_CANDIDATE_ORIGIN) or [])
        return [
            (text, str(models[i]) if i < len(models) and models[i] else SEED_MODEL,
             origins[i] if i < len(origins) and origins[i] else ORIGINAL)
            for i, text in enumerate(gens) if isinstance(text, str) and text.strip()
        ]
    return [(seed[c.COL_RESPONSE], seed.get(c.COL_MODEL_NAME) or SEED_MODEL, ORIGINAL)]


def build(ctx: RecipeContext) -> Pipeline:
    data = [
        {c.COL_INSTRUCTION: seed[c.COL_INSTRUCTION], c.COL_RESPONSE: text, "row_id": row_id, "candidate": j}
        for row_id, seed in enumerate(ctx.seed_rows(ctx.num_rows))
        for j, (text, _, _) in enumerate(originals(seed))
    ]
    with ctx.pipeline("curation-evol-quality") as pipeline:
        load = LoadDataFromDicts(name="seeds", data=data)
        evolve = EvolQuality(name="evol_quality", llm=ctx.llm(), num_evolutions=1, input_batch_size=8)
        drop_empty = DropEmpty(name="drop_empty_rewrites", columns=["evolved_response"])
        load >> evolve >> drop_empty
    return pipeline


def to_rows(rows: list[dict], ctx: RecipeContext) -> list[dict]:
    """One row per seed row: its originals, then each rewrite that differs from its original.

    A seed row none of whose responses got a usable rewrite is dropped.
    """
    rewrites: dict[int, dict[int, dict]] = defaultdict(dict)
    for row in rows:
        if row["evolved_response"].strip() != row[c.COL_RESPONSE].strip():
            rewrites[row["row_id"]].setdefault(row["candidate"], row)
    evolver = f"evol-quality:{ctx.backends[0].model_label}"
    out = []
    for row_id, seed in enumerate(ctx.seed_rows(ctx.num_rows)):
        done = rewrites.get(row_id)
        if not done:
            continue
        base = originals(seed)
        order = sorted(done)
        out.append({
            c.COL_INSTRUCTION: seed[c.COL_INSTRUCTION],
            c.COL_GENERATIONS: [text for text, _, _ in base] + [done[j]["evolved_response"] for j in order],
            c.COL_GENERATION_MODELS: [model for _, model, _ in base] + [evolver] * len(order),
            c.COL_CANDIDATE_ORIGIN: [origin for _, _, origin in base] + [EVOLVED] * len(order),
            c.COL_EVOLVED_FROM: [None] * len(base) + order,
            c.COL_RAW_OUTPUT: json.dumps([json.loads(raw_output(done[j])) for j in order], ensure_ascii=False),
        })
    return out[: ctx.num_rows]
