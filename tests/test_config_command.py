"""`curate config` lists every variable settings.py names, and never a secret's value."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from curation.cli import main
from curation.settings import VARIABLES


def test_config_lists_every_variable_without_secret_values():
    secret = "sk-sentinel-do-not-print"
    result = CliRunner().invoke(main, ["config", "--json"], env={"OPENAI_API_KEY": secret, "CURATION_HOME": "/tmp/h"})
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert list(rows) == [v.name for v in VARIABLES]
    assert rows["OPENAI_API_KEY"]["value"] == "(set)" and rows["CURATION_HOME"]["value"] == "/tmp/h"
    assert secret not in result.output


def test_only_settings_reads_the_environment():
    """Configuration is read in one place: no other module of the package reads os.environ."""
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted((root / "curation").rglob("*.py")) + sorted((root / "pipelines").rglob("*.py")):
        if path.name == "settings.py" and path.parent.name == "curation":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"os\.environ\.get|os\.environ\[|os\.getenv", line):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []


def click_envvars(command, path=("curate",)):
    """(command path, option, env var) for every option of `command` and its subcommands that reads one."""
    import click

    found = []
    for param in command.params:
        names = param.envvar if isinstance(param.envvar, (list, tuple)) else [param.envvar] if param.envvar else []
        found.extend((" ".join(path), param.name, name) for name in names)
    if isinstance(command, click.Group):  # get_command: the CLI loads its commands lazily
        context = click.Context(command)
        for name in command.list_commands(context):
            found.extend(click_envvars(command.get_command(context, name), (*path, name)))
    return found


def test_every_option_envvar_is_a_named_variable():
    """An option's `envvar=` is configuration too: `curate config` must list it (settings.VARIABLES)."""
    named = {v.name for v in VARIABLES}
    found = click_envvars(main)
    assert len(found) > 5  # the premise: the CLI reads variables through its options
    assert [f"{path} --{option}: {name}" for path, option, name in found if name not in named] == []
