"""Generation recipes, one module each, built from distilabel's own tasks."""

from __future__ import annotations

import importlib

from curation.errors import UnknownRecipe

# recipe name -> module; imported on use so `curate --help` stays fast.
RECIPE_MODULES = {
    "prompt": "pipelines.prompt",
    "self-instruct": "pipelines.self_instruct",
    "magpie": "pipelines.magpie",
    "evol-instruct": "pipelines.evol_instruct",
    "responses": "pipelines.responses",
    "evol-quality": "pipelines.evol_quality",
    "ultrafeedback": "pipelines.ultrafeedback",
}


def get_recipe(name: str):
    """The Recipe registered under `name`."""
    if name not in RECIPE_MODULES:
        raise UnknownRecipe(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPE_MODULES)}")
    return importlib.import_module(RECIPE_MODULES[name]).RECIPE
