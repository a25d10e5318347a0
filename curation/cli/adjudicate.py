"""`curate adjudicate`: a thin command over `curation.review.adjudicate`."""

from __future__ import annotations

import click

from curation.export.select import AGREEMENTS


@click.command()
@click.argument("dataset")
@click.option("--workspace", "-w", envvar="ARGILLA_WORKSPACE", show_envvar=True,
              help="Argilla workspace holding DATASET (default: the one that does).")
@click.option("--reviewers", default="", metavar="NAME,NAME",
              help="Usernames of the reviewers who settle the conflicts (comma-separated): they join the "
              "adjudication workspace. Owners and admins see it without being listed.")
@click.option("--into", metavar="NAME", help="Adjudication dataset to add the conflicts to. Default: DATASET-adjudication.")
@click.option("--agreement", type=click.Choice(AGREEMENTS), default="majority", show_default=True,
              help="The export rule whose disagreements are conflicts (use the one you export with).")
def adjudicate(dataset: str, workspace: str | None, reviewers: str, into: str | None, agreement: str) -> None:
    """Send the records of DATASET whose annotators disagree to reviewers for a final answer.

    A conflict is a record `curate export` would drop as a disagreement (a different chosen
    response or ranking top for preference data, a different corrected response for sft data),
    or one whose submitted ratings lie 2 or more apart. Each goes to the adjudication dataset,
    in workspace WORKSPACE-adjudication, showing the record and every annotator's answer (who and
    what), with the same questions for the reviewer's final answer. `curate export` then takes
    the reviewer's answer in place of the annotators'.

    Re-running adds only conflicts not yet there.

    \b
    Example:
      curate adjudicate prefs --reviewers alice,bob
    """
    from curation.review.adjudicate import adjudicate as run

    names = [name.strip() for name in reviewers.split(",")] if reviewers.strip() else []
    report = run(dataset, workspace=workspace, reviewers=names, into=into, agreement=agreement)
    created = " (created)" if report.created_dataset else ""
    click.echo(
        f"{report.conflicts} record(s) of {report.source!r} in conflict; added {report.added} to dataset "
        f"{report.dataset!r}{created} in workspace {report.workspace!r}; "
        f"{report.conflicts - report.added} were already there."
    )
    if report.reviewers:
        click.echo(f"Reviewers: {', '.join(report.reviewers)}")
    if report.url:
        click.echo(f"Adjudicate at {report.url}")
