"""`curate decontaminate`: a child batch without the rows that share words with an evaluation set."""

from __future__ import annotations

from pathlib import Path

import click

from curation.decontaminate import DEFAULT_NGRAM, DROPPED_FILE

DECONTAMINATE_HELP = f"""Write a child batch of BATCH (an id or a folder) without the rows that
share a run of --ngram words with a benchmark.

Each row's instruction and responses (sft: `response`; preference: every candidate) are
lowercased, stripped of punctuation and split into words; a row is contaminated when one of
its texts shares --ngram consecutive words with a text of a benchmark (a text shorter than
that is compared whole: contaminated when a benchmark text contains it). BATCH is left as it
is: the new batch names it as its parent, keeps the dropped rows in {DROPPED_FILE} with the
benchmark, its row and the shared words, and records in its manifest (`decontamination`)
each benchmark's source, sha256 (or `datasets` fingerprint) and the rows dropped for it.

--against takes a .jsonl, .parquet or .csv file (every string column, unless --columns names
them), a folder written by `datasets`' save_to_disk, or a name `datasets.load_dataset` loads
(NAME or NAME:CONFIG; from the Hub when online, else from its cache). Repeat it for several.

\b
Examples:
  curate decontaminate self-instruct-20250101T120000-ab12cd --against gsm8k_test.jsonl
  curate decontaminate ./batches/my-batch --against mmlu.parquet --against ./saved-arc --columns question
  curate decontaminate BATCH --against openai/gsm8k:main --ngram 8
"""


def _columns(ctx, param, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise click.BadParameter("name at least one column, e.g. --columns question,answer")
    return names


@click.command(help=DECONTAMINATE_HELP)
@click.argument("batch_id", metavar="BATCH")
@click.option("--against", "sources", metavar="FILE_OR_DATASET", multiple=True, required=True,
              help="A benchmark: a .jsonl/.parquet/.csv file, a saved `datasets` folder or a dataset name. Repeatable.")
@click.option("--columns", callback=_columns, metavar="A,B",
              help="Compare only these benchmark columns (every benchmark must have them); default: every text column.")
@click.option("--ngram", "-n", type=int, default=DEFAULT_NGRAM, show_default=True,
              help="Words in a run a row must share with a benchmark to be dropped (at least 1).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of the new batch (default: $CURATION_HOME/batches/<new batch id>).")
def decontaminate(batch_id: str, sources: tuple[str, ...], columns: list[str] | None, ngram: int,
                  out: Path | None) -> None:
    from curation.batch import ensure_no_batch, load_batch
    from curation.decontaminate import check_ngram, decontaminate_batch, load_benchmark

    # every input is checked before anything is written
    check_ngram(ngram)
    batch = load_batch(batch_id)
    if out is not None:
        ensure_no_batch(out)
    benchmarks = [load_benchmark(source, columns) for source in sources]
    child = decontaminate_batch(batch, benchmarks, n=ngram, out=out)
    click.echo(summary(child))


def summary(child) -> str:
    """One line: what a decontamination child batch kept and dropped, per benchmark, and where it is."""
    d = child.manifest["decontamination"]
    per = ", ".join(f"{b['name']}: {b['rows_dropped']}" for b in d["benchmarks"])
    return (f"Batch {child.id}: {child.manifest['rows']['kept']} rows kept, {d['removed']} contaminated row(s) "
            f"dropped ({per}; {d['ngram']}-grams) → {child.path}")
