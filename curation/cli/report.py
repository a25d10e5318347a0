"""`curate report`: how review of a dataset went, as one HTML page and/or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("dataset")
@click.option("--workspace", "-w", envvar="ARGILLA_WORKSPACE", show_envvar=True,
              help="Argilla workspace (default: the one holding DATASET).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write. Default: report.html, or none with --json.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def report(dataset: str, workspace: str | None, out: Path | None, as_json: bool) -> None:
    """Report on the review of Argilla dataset DATASET: one self-contained HTML page.

    \b
    The page (inline SVG plots, no script, nothing fetched) shows:
      - review progress over time; each annotator's reviews, discards and pace;
      - agreement per question (Krippendorff's alpha, as `curate status`) and the
        distribution of every rating, humans' and the AI judge's;
      - AI feedback vs humans: preference datasets, how often the judge chose the response
        humans chose and a table of judge vs human ratings; sft datasets, how often and
        how much annotators edited the suggested response; each by recipe and model;
      - the batches behind the records, with the row counts of their manifests when the
        batch folder is on this machine;
      - rounds: this dataset and the earlier ones its batches were seeded from
        (--seeds argilla:), each with its acceptance rate, edits and judge agreement,
        also printed one line per round.

    \b
    Examples:
      curate report prefs --out prefs-report.html
      curate report instructions --json > figures.json
    """
    from curation.report import review_report
    from curation.report.html import render_html
    from curation.report.cost import cost_line
    from curation.report.rounds import round_line

    figures = review_report(dataset, workspace=workspace)
    if out is None and not as_json:
        out = Path("report.html")
    if out is not None:
        _write(out, render_html(figures))
        click.echo(f"Wrote the review report of {figures['dataset']!r} to {out}", err=as_json)
    for entry in figures["rounds"]:
        click.echo(round_line(entry), err=as_json)  # stdout stays pure JSON with --json
    click.echo(cost_line(figures["cost"]), err=as_json)
    if as_json:
        click.echo(json.dumps(figures, indent=2, sort_keys=True))


def _write(path: Path, text: str) -> None:
    """Write `text` through a temporary file and a rename, so a reader never sees half a page."""
    from curation.errors import BadInput

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write the report to {path}: {exc.strerror or exc}",
                       hint="pass --out with a file in a folder that exists and you may write") from None
