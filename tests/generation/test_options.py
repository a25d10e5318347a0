"""GenerationOptions is the one description of the generation options: CLI, manifest and cache key follow its fields."""

from __future__ import annotations

import dataclasses

from curation.backends import parse_backend
from curation.cli.generate import generate
from curation.options import GenerationOptions
from pipelines import RECIPES
from pipelines.recipe import RecipeContext


def _context(**changes) -> RecipeContext:
    options = GenerationOptions("responses", **changes)
    return RecipeContext(options=options, seeds=[{"instruction": "Say hi."}], backends=[parse_backend("llamacpp")])


def test_every_field_is_a_cli_option_of_generate():
    params = {p.name for p in generate.params}
    fields = {f.name for f in dataclasses.fields(GenerationOptions)}
    assert fields <= params  # recipe is the argument, the rest are options
    assert {"out", "quiet", "verbose"} == params - fields


def test_the_data_fields_are_the_manifest_parameters_and_the_cache_key():
    options = GenerationOptions("responses", num_rows=3, temperature=0.2, api_key="sk-not-recorded", fresh=True)
    assert options.parameters() == {"num_rows": 3, "num_generations": 2, "max_new_tokens": 256,
                                    "temperature": 0.2, "deita": False}
    assert "sk-not-recorded" not in repr(options) and options.secrets() == ["sk-not-recorded"]

    base = _context().fingerprint()
    for name, value in options.parameters().items():
        default = GenerationOptions.__dataclass_fields__[name].default
        changed = not value if isinstance(value, bool) else (default + 1 if value == default else value)
        assert _context(**{name: changed}).fingerprint() != base, name
    # How to run and which key to send do not change what is generated: the cache is reused.
    assert _context(fresh=True, api_key="sk-other").fingerprint() == base


def test_the_help_lists_every_registered_recipe_with_its_seeds():
    help_text = generate.help
    for info in RECIPES.values():
        assert f"{info.name:<14} {info.summary}" in help_text
        assert f"seeds: {info.seed_help}" in help_text
