"""`curate config`: every environment variable curation reads, its default and meaning."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def config(as_json: bool) -> None:
    """List the environment variables curation reads, with their defaults and current values.

    Secret values (API keys, tokens, passwords) are never shown: only whether they are set.
    """
    import json

    from curation.settings import VARIABLES, value_of

    def current(var) -> str:
        value = value_of(var.name)
        if not value:
            return "(unset)"
        return "(set)" if var.secret else value

    if as_json:
        click.echo(json.dumps([{"name": v.name, "default": v.default, "meaning": v.meaning, "value": current(v)}
                               for v in VARIABLES], indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Environment variables")
    for column in ("variable", "now", "default", "meaning"):
        table.add_column(column)
    for var in VARIABLES:
        # Text, not markup: a value ("[...]" in a path or URL) would otherwise be parsed as markup.
        table.add_row(var.name, Text(current(var)), Text(str(var.default)), Text(var.meaning))
    Console().print(table)
