"""`curate export` and `curate pull`: thin commands over `curation.export`."""

from __future__ import annotations

from pathlib import Path

import click

from curation.cli.policy_options import AGREEMENT_OPTION, MIN_SUBMITTED_OPTION
from curation.cli.secret_options import secret_option
from curation.export.formats import FORMATS


@click.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), required=True, help="sft: messages; dpo: prompt/chosen/rejected.")
@click.option("--workspace", envvar="ARGILLA_WORKSPACE", show_envvar=True,
              help="Argilla workspace (default: the one holding NAME).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write the Hub layout to this folder.")
@click.option("--repo-id", help="Push to this Hub dataset repo, ORG/NAME.")
@click.option("--private", is_flag=True, help="Make the Hub repo private (also an existing one).")
@AGREEMENT_OPTION
@MIN_SUBMITTED_OPTION
@click.option("--decontaminate", "benchmarks", metavar="FILE_OR_DATASET", multiple=True,
              help="Leave out rows sharing a run of --ngram words with this benchmark (a .jsonl/.parquet/.csv file, "
                   "a saved `datasets` folder or a dataset name, as `curate decontaminate --against`). Repeatable.")
@click.option("--ngram", type=int, default=None,
              help="Words a row must share with a benchmark to be left out (default 13; with --decontaminate).")
@secret_option("--token", envvar="HF_TOKEN", what="Hub token",
               help="Hub token with write access; a bare --token asks for it (hidden). Default: "
               "huggingface_hub's own lookup (HF_TOKEN, then the token saved by `hf auth login`). Never printed.")
def export(name, fmt, workspace, out, repo_id, private, agreement, min_submitted, benchmarks, ngram, token):
    """Export the human-validated records of Argilla dataset NAME for training with TRL.

    Only submitted, agreed-on records leave; annotators' corrections are applied. Writes
    data/train-*.parquet and a dataset card to --out and/or pushes them to --repo-id.
    A dataset pushed with --overlap-policy adaptive exports with its overlap part NAME-overlap,
    each record against its own dataset's min_submitted (--min-submitted, given, applies to both).
    --decontaminate checks every exported row (instruction and responses, corrections applied)
    against benchmarks with `curate decontaminate`'s rule; the card lists each benchmark, its
    hash or fingerprint, the rows dropped for it and the words they share.
    """
    from curation.errors import BadInput
    from curation.export import export_dataset

    if ngram is not None and not benchmarks:
        raise BadInput("--ngram sets the n-gram size of --decontaminate", hint="add --decontaminate BENCHMARK")
    loaded = None
    if benchmarks:  # read before anything is exported: a bad benchmark is one line and nothing written
        from curation.decontaminate import DEFAULT_NGRAM, check_ngram, load_benchmark

        ngram = check_ngram(DEFAULT_NGRAM if ngram is None else ngram)
        loaded = [load_benchmark(source) for source in benchmarks]

    report = export_dataset(
        name,
        format=fmt,
        workspace=workspace,
        out=out,
        repo_id=repo_id,
        private=private,
        agreement=agreement,
        min_submitted=min_submitted,
        token=token,
        benchmarks=loaded,
        ngram=ngram,
    )
    counts = report.counts
    dropped = ", ".join(f"{rule} {n}" for rule, n in counts.dropped().items() if n) or "none"
    needs = str(report.min_submitted)
    if len(report.parts) > 1:  # the dataset and its overlap part (`curate push --overlap-policy adaptive`)
        needs = ", ".join(f"{n} in {part!r}" for part, n in report.parts)
    click.echo(f"Exported {counts.exported} of {counts.seen} records as {report.format} "
               f"(agreement {report.agreement}, min submitted {needs}); dropped: {dropped}")
    if report.contamination is not None:
        per = ", ".join(f"{b.name} {n}" for b, n in zip(report.contamination.benchmarks, report.contamination.dropped))
        click.echo(f"Checked {report.contamination.checked} rows against {len(report.contamination.benchmarks)} "
                   f"benchmark(s) ({report.contamination.n}-grams): {report.contamination.removed} left out ({per})")
    if counts.adjudicated:
        click.echo(f"{counts.adjudicated} of them settled by adjudication (the reviewer's answer)")
    if report.out is not None:
        click.echo(f"Wrote {report.out} ({len(report.files)} data file(s) + README.md)")
    if report.commit_url:
        click.echo(f"Pushed {report.repo_id}: {report.commit_url}")


@click.command()
@click.argument("repo_or_dir")
@click.option("--split", default="train", show_default=True)
@secret_option("--token", envvar="HF_TOKEN", what="Hub token",
               help="Hub token, for private repos; a bare --token asks for it (hidden). Default: HF_TOKEN, "
               "then `hf auth login`'s.")
@click.option("--head", default=0, show_default=True, type=click.IntRange(min=0), help="Print the first N rows as JSON.")
def pull(repo_or_dir, split, token, head):
    """Load an export (Hub repo ORG/NAME or folder) as a datasets.Dataset and summarize it.

    \b
    Equivalent to:  from datasets import load_dataset; load_dataset("REPO_OR_DIR", split="train")
    """
    import json

    from curation.export import pull as load

    dataset = load(repo_or_dir, split=split, token=token)
    click.echo(f"{dataset.num_rows} rows in split {split!r}; columns: {', '.join(dataset.column_names)}")
    for row in dataset.select(range(min(head, dataset.num_rows))):
        click.echo(json.dumps(row, ensure_ascii=False))
