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
