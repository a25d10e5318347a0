"""Generation recipes, one module each, built from distilabel's own tasks.

The registry below is the one description of every recipe: the CLI's help and its
choices are rendered from it, and `get_recipe` joins it with the module's `build` and
`to_rows` (modules are imported on use, so `curate --help` does not import distilabel).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from curation.contract import COL_INSTRUCTION, COL_RESPONSE
from curation.errors import UnknownRecipe


@dataclass(frozen=True)
class RecipeInfo:
    """What a recipe makes and needs; its module provides `build(ctx)` and `to_rows(rows, ctx)`."""

    name: str
    kind: str  # "sft" | "preference"
    summary: str
    module: str
    seed_columns: tuple[str, ...] = ()  # the first is a `.txt` seed file's column
    seeds_required: bool = False
    seed_help: str = "no seeds"
    rows_help: str = ""  # the rows it writes, for --help
    candidates: bool = False  # seed rows may carry candidates instead: `instruction` + `generations`
    examples: str = ""  # the prompts `--examples` steers ("" = none: the recipe takes no examples)
    judge: bool = False  # an UltraFeedback judge rates its rows: `--judge-examples` can correct it


RECIPES: dict[str, RecipeInfo] = {
    info.name: info
    for info in (
        RecipeInfo("prompt", "sft", "one question per topic, then its answer", "pipelines.prompt",
                   ("topic",), False, "optional: `topic` (default: built-in topics)",
                   "instruction, response, model_name, topic", examples="question writing and answering"),
        RecipeInfo("self-instruct", "sft", "Self-Instruct queries from seed documents or topics, then answered",
                   "pipelines.self_instruct", ("input",), True, "`input` (a document, passage or topic)",
                   "instruction, response, model_name, input", examples="question writing and answering"),
        RecipeInfo("magpie", "sft", "Magpie: the model writes the user turn from its chat template",
                   "pipelines.magpie", rows_help="instruction, response, model_name"),
        RecipeInfo("evol-instruct", "sft", "Evol-Instruct: seed instructions rewritten to be harder, then answered",
                   "pipelines.evol_instruct", (COL_INSTRUCTION,), True, "`instruction`",
                   "instruction (evolved), response, model_name, seed_instruction",
                   examples="question writing and answering"),
        RecipeInfo("responses", "preference", "--num-generations responses per instruction (one or more backends)",
                   "pipelines.responses", (COL_INSTRUCTION,), True,
                   "`instruction` (an evol-instruct or other sft batch works)",
                   "instruction, generations [N], generation_models [N]", examples="answering"),
        RecipeInfo("evol-quality", "preference", "EvolQuality: each response rewritten to be better, originals kept",
                   "pipelines.evol_quality", (COL_INSTRUCTION, COL_RESPONSE), True,
                   "`instruction` + `response` (an sft batch), or `instruction` + `generations` (a responses batch)",
                   "instruction, generations = N originals then their N rewrites, generation_models, "
                   "candidate_origin ['original'.., 'evolved'..]", candidates=True),
        RecipeInfo("ultrafeedback", "preference", "responses rated 1-5 by an LLM judge -> chosen/rejected",
                   "pipelines.ultrafeedback", (COL_INSTRUCTION,), True,
                   "`instruction` (responses generated here), or rows with `generations` (a responses or "
                   "evol-quality batch: all of them rated, none generated)",
                   "instruction, generations, generation_models, [candidate_origin], ratings, rationales, "
                   "judge_model, chosen_index, rejected_index", candidates=True,
                   examples="answering (the responses it generates)", judge=True),
    )
}
KIND_TITLES = {"sft": "Instruction recipes (kind sft)", "preference": "Preference recipes (kind preference)"}


def recipe_help() -> str:
    """The recipe table for `--help` (click's \\b keeps its lines as they are)."""
    lines = []
    for kind, title in KIND_TITLES.items():
        lines += ["\b", f"{title}:"]
        for info in (i for i in RECIPES.values() if i.kind == kind):
            lines.append(f"  {info.name:<14} {info.summary}")
            lines.append(f"  {'':<14}   seeds: {info.seed_help}")
            if info.rows_help:
                lines.append(f"  {'':<14}   rows:  {info.rows_help}")
        lines.append("")
    return "\n".join(lines)


def get_recipe(name: str):
    """The Recipe registered under `name` (its module imported now)."""
    from pipelines.recipe import Recipe

    if name not in RECIPES:
        raise UnknownRecipe(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    info = RECIPES[name]
    module = importlib.import_module(info.module)
    return Recipe(info=info, build=module.build, to_rows=module.to_rows)
