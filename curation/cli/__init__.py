"""The `curate` command line: thin click commands over the library's functions.

Commands are loaded lazily (click's documented LazyGroup pattern) so `curate --help`
does not pay for importing distilabel, argilla and datasets.
"""

from __future__ import annotations

import importlib

import click

from curation.errors import CurationError

# command name -> "module:attribute"; each module holds one area's commands.
COMMANDS = {
    "generate": "curation.cli.generate:generate",
    "batches": "curation.cli.generate:batches",
    "dedup": "curation.cli.dedup:dedup",
    "decontaminate": "curation.cli.decontaminate:decontaminate",
    "embed": "curation.cli.embed:embed",
    "select": "curation.cli.embed:select_cmd",
    "server": "curation.cli.server:server",
    "users": "curation.cli.users:users",
    "push": "curation.cli.review:push",
    "run": "curation.cli.review:run",
    "status": "curation.cli.review:status",
    "adjudicate": "curation.cli.adjudicate:adjudicate",
    "report": "curation.cli.report:report",
    "export": "curation.cli.export:export",
    "pull": "curation.cli.export:pull",
    "config": "curation.cli.config:config",
    "watch": "curation.cli.watch:watch",
}


class CurateGroup(click.Group):
    """Loads commands on first use and turns `CurationError` into one line + exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CurationError as exc:
            report_error(exc)
            ctx.exit(exc.exit_code)


def report_error(exc: CurationError) -> None:
    """Print a user-fixable failure as one line (plus an optional hint line)."""
    message = " ".join(str(exc).split())  # one line, whatever the cause held
    click.secho(f"Error: {message}", err=True, fg="red")
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curation")
def main() -> None:
    """Generate instruction and preference data with distilabel, review it in Argilla,
    and export what humans validated as training-ready datasets.

    Data flows one way: `curate generate` writes a batch folder, `curate push` sends it
    to Argilla for review, `curate export` writes the validated records for training.
    """
