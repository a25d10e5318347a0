"""The README's recipe table and its two set-up commands stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines import RECIPES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_recipe_table_lists_the_registry():
    rows = re.findall(r"^\| `([a-z-]+)` \| (sft|preference) \|", README, re.M)
    assert rows == [(info.name, info.kind) for info in RECIPES.values()]


def test_exactly_two_setup_commands():
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", setup, re.S)
    assert [b.strip() for b in blocks] == [
        "bash scripts/setup.sh && .venv/bin/curate generate self-instruct --seeds tests/data/topics.jsonl --num-rows 4",
        "bash scripts/test.sh",
    ]
    assert "bash scripts/test.sh" in (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
