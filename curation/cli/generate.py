"""`curate generate` and `curate batches`: run a recipe into a batch folder, list and show batches."""

from __future__ import annotations

import json
from pathlib import Path

import click

from curation.contract import COL_RAW_OUTPUT
from curation.options import cli_fields
from pipelines import RECIPES, recipe_help


def generate_options(func):
    """The recipe argument and every GenerationOptions field as an option, plus -v (shared by `generate` and `run`)."""
    params = [click.argument("recipe", type=click.Choice(list(RECIPES)), metavar="RECIPE"), *option_params()]
    params.append(click.option("-v", "--verbose", is_flag=True,
                               help="Show distilabel's full log instead of the progress display."))
    for param in reversed(params):
        func = param(func)
    return func


def option_params(leave_out=()) -> list:
    """GenerationOptions' fields as click options (less `leave_out`), then the export policy's options
    (--seeds argilla:DATASET takes the records `curate export` would)."""
    from dataclasses import fields

    from curation.cli.policy_options import AGREEMENT_OPTION, MIN_SUBMITTED_OPTION
    from curation.cli.secret_options import secret_option_kwargs
    from curation.options import GenerationOptions

    secrets = {f.name for f in fields(GenerationOptions) if f.metadata.get("role") == "secret"}
    params = []
    for name, decls, kwargs, default in cli_fields():
        if name in leave_out:
            continue
        if not kwargs.get("is_flag"):
            kwargs.setdefault("show_default", default is not None)
        if name in secrets:  # from the environment or a hidden prompt; a warning if typed
            kwargs.update(secret_option_kwargs(decls[0], envvar=kwargs.get("envvar"), what="API key"),
                          help=f"{kwargs['help']} A bare {decls[0]} asks for it (hidden).")
        params.append(click.option(*decls, name, default=default, **kwargs))
    return params + [AGREEMENT_OPTION, MIN_SUBMITTED_OPTION]


def run_generation(out: Path | None = None, quiet: bool = False, verbose: bool = False, **fields):
    """Generate a batch from the CLI's values (GenerationOptions fields); returns the Batch."""
    from curation.generate import generate_batch
    from curation.options import GenerationOptions

    display = "log" if verbose else "quiet" if quiet else "progress"
    return generate_batch(GenerationOptions(**fields), out=out, display=display)


GENERATE_HELP = f"""Generate a batch of instruction (SFT) or preference data with a recipe.

{recipe_help()}
The batch folder holds rows.parquet, manifest.json and generation.log (distilabel's full
log). Runs offline on the bundled SmolLM2-135M by default. A re-run with the same options
resumes from distilabel's cache; --fresh starts over.

--seeds takes a seed file, or a batch (its id or folder): its rows feed this recipe, each
used once, and the new batch's manifest names it as `parent`, so recipes chain and
`curate batches show` prints the chain back to the seed file. A .txt seed file holds one
seed a line, read into the recipe's first seed column.

--seeds argilla:DATASET starts a new round from a reviewed Argilla dataset: the records
`curate export` would take (same --agreement and --min-submitted), the annotators'
corrections applied, each used once. An sft dataset gives instruction + response (the
corrected text); a preference dataset gives instruction + generations = [chosen, rejected].
The manifest's `parent` names the dataset, and through its records the batches behind it.

--examples argilla:DATASET[:K] puts K (default 4) of those accepted records, chosen for
diversity (farthest-first over the records' vectors, else over MinHash signatures of their
instructions), into the prompts as worked examples: the question-writing step of prompt,
self-instruct and evol-instruct, and the answering step. The manifest's `examples` names
their record ids; they never become rows (a generated copy of one is dropped by clean-up).

--judge-examples argilla:DATASET[:K] (ultrafeedback) puts K (default 4) records of a reviewed
preference dataset where the humans chose another response than the judge into the judge's
prompt, with the humans' ranking as ratings (first 5, last 1), chosen for diversity as above.
The manifest's `judge_examples` names them; `curate report` leaves them out of its judge-human
agreement figures.

Examples:

\b
    curate generate self-instruct --seeds docs.jsonl -n 20
    curate generate responses --seeds questions.txt -n 10
    curate generate evol-quality --seeds <responses batch id>
    curate generate ultrafeedback --seeds <evol-quality batch id>
    curate generate evol-instruct --seeds argilla:instructions --workspace team
    curate generate prompt --examples argilla:instructions:4 -n 20
    curate generate ultrafeedback --seeds questions.txt --judge-examples argilla:prefs:4
"""


@click.command(help=GENERATE_HELP)
@generate_options
@click.option("--workspace", "seeds_workspace", envvar="ARGILLA_WORKSPACE", show_envvar=True,
              help="Argilla workspace of --seeds / --examples / --judge-examples argilla:DATASET "
                   "(default: the one holding it).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Folder of the batch the command makes (default: $CURATION_HOME/batches/<batch id>). With "
                   "--dedup or --decontaminate, DIR holds the last child batch and DIR-generated, beside it, the "
                   "generated one (and DIR-deduped the dedup child when both are given).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display; only the summary line.")
def generate(out, quiet, **options):
    batch = run_generation(**options, out=out, quiet=quiet)
    *children, generated = filter_chain(batch)
    click.echo(_generated(generated))
    for child in reversed(children):  # --dedup, --decontaminate: each child batch, in the order made
        click.echo(child_summary(child))


def filter_chain(batch) -> list:
    """`batch` and, while it is a child made by --dedup or --decontaminate, the batches before it
    (newest first, the generated batch last)."""
    from curation.batch import load_batch

    chain = [batch]
    while chain[-1].manifest.get("derived_by") in FILTER_SUMMARIES:
        chain.append(load_batch(chain[-1].manifest["parent"]["path"]))
    return chain


def child_summary(child) -> str:
    """The one line `curate dedup` or `curate decontaminate` prints for a child batch."""
    import importlib

    return importlib.import_module(FILTER_SUMMARIES[child.manifest["derived_by"]]).summary(child)


# A child batch's `derived_by` -> the command module whose `summary` line describes it.
FILTER_SUMMARIES = {"dedup": "curation.cli.dedup", "decontamination": "curation.cli.decontaminate"}


def _generated(batch) -> str:
    rows, selection = batch.manifest["rows"], batch.manifest.get("selection")
    if batch.manifest.get("stopped") == "budget":  # --budget spent: a complete, smaller batch (exit 0)
        from curation.cost import stopped_line

        return stopped_line(batch)
    if selection:  # --deita-select: clean-up, then the selection, dropped rows
        dropped = rows["generated"] - selection["of"]
        return (f"Batch {batch.id}: kept {selection['kept']} of {selection['of']} rows by Deita selection "
                f"(threshold {selection['threshold']}; {dropped} dropped by clean-up) → {batch.path}")
    return f"Batch {batch.id}: {rows['kept']} rows ({rows['dropped']} dropped by clean-up) → {batch.path}"


@click.group()
def batches():
    """List and inspect generated batches."""


@batches.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json):
    """List complete batches under $CURATION_HOME/batches, oldest first, and folders that cannot be read."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from curation.batch import list_batches

    listing = list_batches()
    if as_json:
        click.echo(json.dumps(
            [{"batch_id": b.id, "path": str(b.path), **_summary(b)} for b in listing.batches]
            + [{"batch_id": None, "path": str(path), "unreadable": reason} for path, reason in listing.unreadable],
            indent=2,
        ))
        return
    console = Console()
    if not listing.batches and not listing.unreadable:
        console.print("No batches yet: run `curate generate RECIPE`.")
        return
    table = Table("batch id", "recipe", "kind", "model", "rows", "started")
    for b in listing.batches:
        s = _summary(b)
        # Text cells, not markup: folder names and manifests may hold "[...]" (a model path, say).
        table.add_row(*(Text(str(value)) for value in (b.id, s["recipe"], s["kind"], s["model"], s["rows"],
                                                       s["started_at"])))
    for path, reason in listing.unreadable:
        table.add_row(Text(path.name), Text(f"unreadable: {reason}", style="red"), "", "", "", "")
    console.print(table)


@batches.command("show")
@click.argument("batch_id")
@click.option("--rows", "num_rows", type=int, default=3, show_default=True, help="Sample rows to print.")
def show_cmd(batch_id, num_rows):
    """Print a batch's manifest and its first rows (BATCH_ID: an id or a folder).

    A batch made from another batch first prints its chain, from the seed file to this batch.
    """
    from curation.batch import lineage, load_batch

    batch = load_batch(batch_id)
    rows = batch.rows()[:num_rows]  # read before printing: a damaged file is one error line, not half a report
    steps = lineage(batch)
    if len(steps) > 1:
        for line in chain_lines(steps):
            click.echo(line)
    click.echo(json.dumps(batch.manifest, indent=2, sort_keys=True))
    for row in rows:
        click.echo(json.dumps({k: v for k, v in row.items() if k != COL_RAW_OUTPUT}, ensure_ascii=False, default=str))


def _summary(batch) -> dict:
    m = batch.manifest
    return {"recipe": m["recipe"], "kind": m["kind"], "model": m.get("model", ""),
            "rows": m["rows"]["kept"], "started_at": m.get("started_at", "")}


def chain_lines(steps: list[dict]) -> list[str]:
    """`curate batches show`'s lineage: the root's seed file, then one line per step, root first.

    A reviewed dataset (`--seeds argilla:`) is a step of its own; several batches behind it each
    start a branch, and each branch's root names its seed file.
    """
    from curation.batch import chain_text, step_label

    lines = ["Chain: " + chain_text(steps)]
    roots = [s for s in steps if s["starts_branch"]]
    for root in roots:
        if root.get("dataset") is not None:
            lines.append(f"  seeds: the records of Argilla dataset {root['dataset']!r} (none names its batch)")
        elif root["found"]:
            seed = (f"{root['seed_file']} (sha256 {root['seed_sha256'][:12]})" if root.get("seed_file")
                    else "no seed file")
            lines.append(f"  seeds of {root['batch_id']}: {seed}" if len(roots) > 1 else f"  seeds: {seed}")
    for number, step in enumerate(steps, start=1):
        if step.get("dataset") is not None:
            lines.append(f"  {number}. {_dataset_line(step)}")
            continue
        what = step_label(step)
        if not step["found"]:
            note = f"not on this machine (rows sha256 {str(step['rows_sha256'])[:12]})"
        elif step["changed"]:
            note = f"{step['rows']} rows, CHANGED since its child was made"
        else:
            note = f"{step['rows']} rows"
        lines.append(f"  {number}. {step['batch_id']}  {what}  {note}")
    return lines


def _dataset_line(step: dict) -> str:
    """A reviewed dataset's step: where it is, what its review admitted and by which policy."""
    policy = step.get("policy") or {}
    dropped = ", ".join(f"{rule} {n}" for rule, n in (step.get("dropped") or {}).items() if n) or "none"
    return (f"Argilla dataset {step['dataset']!r} (workspace {step.get('workspace')!r} at {step.get('server')})  "
            f"{step['rows']} of {step.get('seen')} records admitted (agreement {policy.get('agreement')}, "
            f"min submitted {policy.get('min_submitted')}; dropped: {dropped}); "
            f"record ids sha256 {str(step.get('record_ids_sha256'))[:12]}")
