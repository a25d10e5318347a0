"""`curate push`, `curate run` and `curate status`: the review loop's commands."""

from __future__ import annotations

import json
from pathlib import Path

import click

from curation.cli.generate import child_summary, filter_chain, generate_options, run_generation
from curation.review.priority import TOP_BAND
from curation.review.siblings import OVERLAP_POLICIES

DATASET_OPTION = click.option(
    "--dataset", "-d", "dataset", required=True, envvar="CURATION_DATASET", show_envvar=True,
    help="Argilla dataset to push to; created from the settings file if it does not exist.",
)
WORKSPACE_OPTION = click.option(
    "--workspace", "-w", envvar="ARGILLA_WORKSPACE", show_envvar=True,
    help="Argilla workspace. Default: the workspace already holding the dataset; for a new "
    "dataset, the server's only workspace (a new one named 'curation' on a server that has "
    "none). With several workspaces a new dataset needs this option.",
)
CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    envvar="CURATION_REVIEW_CONFIG", show_envvar=True,
    help="Dataset settings file (fields, questions, guidelines, metadata). "
    "Default: argilla_configs/sft.yaml or argilla_configs/preference.yaml, by the batch's kind.",
)
PRIORITY_OPTION = click.option(
    "--priority", envvar="CURATION_PRIORITY", show_envvar=True, metavar="judge-uncertainty|deita|none",
    help="How each record's metadata review_priority (0-1, higher = review first; the printed link and the "
    "queue serve high first) is scored: judge-uncertainty (preference: the judge barely separates the "
    "responses), deita (sft: low Deita scores, near --against's discarded records), none. Weights: the "
    "settings file's `priority:`. Default: judge-uncertainty for preference, deita for sft with Deita scores.",
)
AGAINST_OPTION = click.option(
    "--against", metavar="DATASET",
    help="With --priority deita: records close (MinHash) to one an annotator discarded in Argilla dataset "
    "DATASET review first.",
)
OVERLAP_OPTION = click.option(
    "--overlap", type=click.IntRange(min=1), metavar="N",
    help="How many annotators must submit each record before it counts as complete (Argilla's "
    "distribution min_submitted), set when the dataset is created; 2 or more gives an agreement figure. "
    "Default: the settings file's `distribution:`. An existing dataset keeps its own: a different N is refused.",
)
OVERLAP_POLICY_OPTION = click.option(
    "--overlap-policy", type=click.Choice(OVERLAP_POLICIES),
    help="fixed (the default): every record needs --overlap annotators. adaptive: new records whose "
    "review_priority is at or above --adaptive-threshold go to the sibling dataset DATASET-overlap (same "
    "settings and workspace, metadata overlap_of naming DATASET), which needs --adaptive-overlap annotators "
    "per record; `curate status`, `report` and `export` read the pair as one dataset. A re-push leaves every "
    "record where it went.",
)
ADAPTIVE_OVERLAP_OPTION = click.option(
    "--adaptive-overlap", type=click.IntRange(min=1), metavar="M",
    help="With --overlap-policy adaptive: annotators per record in DATASET-overlap, more than the overlap "
    "of DATASET. Default: that overlap + 1 (at least 2); an existing DATASET-overlap keeps its own.",
)
ADAPTIVE_THRESHOLD_OPTION = click.option(
    "--adaptive-threshold", type=click.FloatRange(0, 1), metavar="T",
    help="With --overlap-policy adaptive: the review_priority from which a record goes to DATASET-overlap. "
    f"Default: {TOP_BAND:g}, where the review queue's top band starts.",
)
PROGRESS_OPTION = click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr."
)


def _push_and_report(batch, dataset: str, workspace, config_path, progress: bool, client=None,
                     vectors: bool = False, priority: str | None = None, against: str | None = None,
                     overlap: int | None = None, overlap_policy: str | None = None,
                     adaptive_overlap: int | None = None, adaptive_threshold: float | None = None) -> None:
    from curation.review.push import push_batch

    _check_names(dataset, workspace)
    report = push_batch(batch, dataset, workspace=workspace, config_path=config_path, client=client,
                        show_progress=progress, vectors=vectors, priority=priority, against=against,
                        overlap=overlap, overlap_policy=overlap_policy, adaptive_overlap=adaptive_overlap,
                        adaptive_threshold=adaptive_threshold)
    created = " (created)" if report.created_dataset else ""
    click.echo(
        f"Pushed {report.sent} new record(s) of batch {report.batch_id} to dataset {report.dataset!r}{created} "
        f"in workspace {report.workspace!r} in {report.seconds:.1f} s ({report.records_per_second:,.0f} records/s); "
        f"{report.already_present} were already there."
    )
    part = report.overlap_part
    if part is not None:
        created = " (created)" if part.created_dataset else ""
        click.echo(
            f"Adaptive overlap: {part.sent} of them (review_priority >= {part.threshold:g}) went to dataset "
            f"{part.dataset!r}{created}, {part.min_submitted} annotators per record; the other "
            f"{report.sent - part.sent} need {report.min_submitted}."
        )
    if report.invalid:
        click.secho(f"Skipped {len(report.invalid)} row(s) that cannot be reviewed; first: {report.invalid[0]}",
                    err=True, fg="yellow")
    if report.url:
        click.echo(f"Review it at {report.url}")
    if part is not None and part.url:
        click.echo(f"Review its overlap part at {part.url}")


def _check_names(dataset: str, workspace: str | None) -> None:
    from curation.errors import BadInput

    if not dataset.strip():
        raise BadInput("the dataset name is empty", hint="pass --dataset NAME")
    if workspace is not None and not workspace.strip():
        raise BadInput("the workspace name is empty", hint="leave out --workspace or name one")


@click.command()
@click.argument("batch")
@DATASET_OPTION
@WORKSPACE_OPTION
@CONFIG_OPTION
@PROGRESS_OPTION
@PRIORITY_OPTION
@AGAINST_OPTION
@OVERLAP_OPTION
@OVERLAP_POLICY_OPTION
@ADAPTIVE_OVERLAP_OPTION
@ADAPTIVE_THRESHOLD_OPTION
@click.option("--vectors", is_flag=True,
              help="Attach the batch's embeddings (`curate embed`) as record vectors, so the Argilla UI "
                   "can find similar records. A new dataset gets the vector field; an existing one must have it.")
def push(batch: str, dataset: str, workspace: str | None, config_path: Path | None, progress: bool,
         vectors: bool, priority: str | None, against: str | None, overlap: int | None, overlap_policy: str | None,
         adaptive_overlap: int | None, adaptive_threshold: float | None) -> None:
    """Send batch BATCH (a batch id or folder) to Argilla for human review.

    Each row becomes one record: sft rows show the instruction and the generated response,
    with the response pre-filled as an editable suggestion; preference rows show the
    instruction and every candidate response, with the AI judge's ratings, ranking and
    rationale as suggestions. Metadata (batch, recipe, models, lengths, scores) lets
    reviewers filter.

    Pushing is idempotent: record ids come from the batch id and the row index, and only
    records missing from the dataset are sent. Re-run the same command after an
    interruption, or push again at any time: nothing is duplicated, and records that
    annotators are working on are never changed.

    \b
    Examples:
      curate push self-instruct-20250101T120000-ab12cd --dataset instructions
      curate push ./batches/my-batch -d prefs -w team --config my_settings.yaml
      curate push BATCH -d prefs --overlap 2 --overlap-policy adaptive   # uncertain ones: 3 annotators
    """
    _push_and_report(batch, dataset, workspace, config_path, progress, vectors=vectors, priority=priority,
                     against=against, overlap=overlap, overlap_policy=overlap_policy,
                     adaptive_overlap=adaptive_overlap, adaptive_threshold=adaptive_threshold)


@click.command()
@generate_options
@DATASET_OPTION
@WORKSPACE_OPTION
@CONFIG_OPTION
@PRIORITY_OPTION
@AGAINST_OPTION
@OVERLAP_OPTION
@OVERLAP_POLICY_OPTION
@ADAPTIVE_OVERLAP_OPTION
@ADAPTIVE_THRESHOLD_OPTION
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Folder of the batch pushed (default: $CURATION_HOME/batches/<batch id>). With --dedup or "
                   "--decontaminate, DIR holds the last child batch (the one pushed), DIR-generated the generated "
                   "one and, with both, DIR-deduped the dedup child.")
@click.option("-q", "--quiet", is_flag=True, help="No progress displays; only the summary lines.")
def run(dataset: str, workspace: str | None, config_path: Path | None, priority: str | None,
        against: str | None, overlap: int | None, overlap_policy: str | None, adaptive_overlap: int | None,
        adaptive_threshold: float | None, out: Path | None, quiet: bool, **generate_opts) -> None:
    """Generate a batch with RECIPE, then push it to Argilla dataset --dataset for review.

    Takes every option of `curate generate` (recipes: see `curate generate --help`) plus
    --dataset, --workspace, --config, --priority, --against, --overlap and --overlap-policy (with
    --adaptive-overlap and --adaptive-threshold) of `curate push`. The same as `curate generate`
    followed by `curate push BATCH`; if the push is interrupted, `curate push` with the
    printed batch id finishes it without duplicates. With --seeds or --examples argilla:DATASET,
    --workspace also names the workspace of that dataset (a new round beside the last one).

    \b
    Examples:
      curate run self-instruct --seeds docs.jsonl -n 50 --dataset instructions
      curate run evol-instruct --seeds argilla:instructions -n 50 --dataset instructions-r2
    """
    from curation.argilla.client import connect
    from curation.argilla.datasets import check_target

    from curation.review.priority import check_fits_kind, check_mode
    from pipelines import RECIPES

    _check_names(dataset, workspace)
    check_mode(priority)  # a wrong value fails before generating
    check_fits_kind(priority, RECIPES[generate_opts["recipe"]].kind, against)  # ... or one its batch won't fit
    _check_adaptive_before_generating(overlap_policy, adaptive_overlap, adaptive_threshold, priority)
    client = connect()  # fail before generating, not after, when Argilla is unreachable
    check_target(client, dataset, workspace)  # ... or when the push could not tell where to go
    if overlap is not None:
        from curation.argilla.datasets import find_dataset
        from curation.review.push import check_overlap

        existing = find_dataset(client, dataset, workspace)
        if existing is not None:
            check_overlap(existing, overlap, dataset)  # ... or when the dataset has another overlap
    if against:
        from curation.review.priority import against_dataset

        against_dataset(client, against, workspace)  # ... or when --against names no dataset
    batch = run_generation(**generate_opts, seeds_workspace=workspace, out=out, quiet=quiet)
    *children, generated = filter_chain(batch)
    if generated.manifest.get("stopped") == "budget":  # the rows that finished every step go on to review
        from curation.cost import stopped_line

        click.echo(stopped_line(generated))
    else:
        click.echo(f"Generated batch {generated.id} → {generated.path}")
    for child in reversed(children):  # --dedup, --decontaminate: the last child is the batch pushed
        click.echo(child_summary(child))
    _push_and_report(batch, dataset, workspace, config_path, not quiet, client=client, priority=priority,
                     against=against, overlap=overlap, overlap_policy=overlap_policy,
                     adaptive_overlap=adaptive_overlap, adaptive_threshold=adaptive_threshold)


def _check_adaptive_before_generating(policy: str | None, adaptive_overlap: int | None,
                                      adaptive_threshold: float | None, priority: str | None) -> None:
    """What `curate run` can refuse of the overlap policy before it generates (push checks the rest)."""
    from curation.errors import BadInput
    from curation.review.priority import NONE
    from curation.review.push import check_overlap_policy

    if check_overlap_policy(policy, adaptive_overlap, adaptive_threshold) is not None and priority == NONE:
        raise BadInput("--overlap-policy adaptive sends records by their review_priority, and --priority none "
                       "gives none", hint="leave out --priority none, or --overlap-policy; nothing was generated")


@click.command()
@click.argument("name")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON instead of tables.")
def status(name: str, workspace: str | None, as_json: bool) -> None:
    """Show how far review of Argilla dataset NAME has got.

    Prints the overlap and how many records are complete and pending against it (a record
    is complete once that many annotators submitted it; at overlap 1 a warning says agreement
    cannot be measured), what each annotator submitted,
    discarded or left as draft, and the inter-annotator agreement of every rating, label
    and ranking question: Krippendorff's alpha over the records two or more annotators
    submitted, ordinal for ratings, nominal for labels and for the ranking's first place.
    Alpha is 1 for perfect agreement, 0 for chance level; n/a when nothing overlaps yet.
    A dataset pushed with --overlap-policy adaptive is shown with its overlap part NAME-overlap:
    the total, then each part against its own overlap; annotators and agreement over both.
    A dataset fed by `curate watch` also shows what its watcher did: source records received,
    pushed, pending, failed and not admitted, and the deliveries (duplicate, refused).
    """
    from curation.review.status import render_status, review_status
    from curation.watch.state import watch_status

    report = review_status(name, workspace=workspace)
    watcher = watch_status(name)
    if as_json:
        click.echo(json.dumps({**report, "watch": watcher}, indent=2, sort_keys=True))
        return
    render_status(report)
    if watcher is not None:
        click.echo(watcher_line(watcher))


def watcher_line(w: dict) -> str:
    """`curate status`'s account of the `curate watch` that feeds the dataset."""
    run = f"running (pid {w['pid']}, listening on {w['listen']})" if w["running"] else "not running"
    line = (f"Watcher ({w['source']!r} → {w['recipe']}): {run}; {w['received']} source record(s): "
            f"{w['pushed']} pushed, {w['pending'] + w['generated']} pending, {w['failed']} failed, "
            f"{w['skipped']} not admitted; deliveries {w['deliveries']} ({w['duplicates']} duplicate, "
            f"{w['refused']} refused)")
    return line + (f"; last error: {w['last_error']}" if w["last_error"] else "")
