"""`curate dedup`: a child batch without the near-duplicates, before the rows reach annotators."""

from __future__ import annotations

from pathlib import Path

import click

from curation.dedup import DEFAULT_THRESHOLD, DROPPED_FILE, SHINGLE_CHARS


DEDUP_HELP = f"""Write a child batch of BATCH (an id or a folder) without its near-duplicate rows.

Rows are compared by MinHash over character {SHINGLE_CHARS}-grams of the casefolded text
(punctuation and spacing ignored). In batch order, a row is dropped when it is at least
--threshold similar to an earlier kept row, or (--against) to a record of the dataset;
the first occurrence is kept. BATCH is left as it is (record ids are row positions): the
new batch names it as its parent, keeps the dropped rows in {DROPPED_FILE} with the row
or record each duplicates and the similarity, and counts them in its manifest (`dedup`).

--engine datatrove runs Hugging Face datatrove's four MinHash stages (signatures, buckets,
clusters, filter) with its local executor instead (pip install 'curation[datatrove]'): word
2-grams, no similarity check after LSH (similarity is empty in {DROPPED_FILE}), the earliest
row of each cluster kept, no --against. To run the same stages past one machine, use datatrove's
SlurmPipelineExecutor or RayPipelineExecutor with the MinhashConfig the manifest records
(`dedup.datatrove`); see curation/dedup_datatrove.py.

\b
Examples:
  curate dedup self-instruct-20250101T120000-ab12cd
  curate dedup ./batches/my-batch --threshold 0.9 --against instructions -w team
  curate dedup my-batch --engine datatrove
"""


@click.command(help=DEDUP_HELP)
@click.argument("batch_id", metavar="BATCH")
@click.option("--threshold", "-t", type=float, default=DEFAULT_THRESHOLD, show_default=True,
              help="Estimated Jaccard similarity (above 0, at most 1) at or above which a row is a near-duplicate.")
@click.option("--against", "dataset", metavar="DATASET",
              help="Also drop rows near-duplicating a record already in this Argilla dataset.")
@click.option("--workspace", "-w", envvar="ARGILLA_WORKSPACE", show_envvar=True,
              help="Workspace of the --against dataset (needed when several hold one of that name).")
@click.option("--include-response", is_flag=True,
              help="Compare instruction and response(s) together, not the instruction alone.")
@click.option("--engine", type=click.Choice(["curation", "datatrove"]), default="curation", show_default=True,
              help="curation: our numpy MinHash; datatrove: Hugging Face datatrove's MinHash stages "
                   "(the `datatrove` extra; no --against).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of the new batch (default: $CURATION_HOME/batches/<new batch id>).")
def dedup(batch_id: str, threshold: float, dataset: str | None, workspace: str | None, include_response: bool,
          engine: str, out: Path | None) -> None:
    from curation.batch import load_batch
    from curation.dedup import check_threshold, dedup_batch

    check_threshold(threshold)
    if engine == "datatrove":
        from curation.dedup_datatrove import dedup_batch_datatrove, refuse_against, require_datatrove

        refuse_against(dataset)  # both before the batch is read
        require_datatrove()
        child = dedup_batch_datatrove(load_batch(batch_id), threshold=threshold, include_response=include_response,
                                      out=out)
        click.echo(summary(child))
        return
    batch = load_batch(batch_id)
    client = None
    if dataset:
        from curation.argilla.client import connect

        client = connect()
    child = dedup_batch(batch, threshold=threshold, against=dataset, workspace=workspace,
                        include_response=include_response, out=out, client=client)
    click.echo(summary(child))


def summary(child) -> str:
    """One line: what a dedup child batch kept and dropped, and where it is."""
    d = child.manifest["dedup"]
    against = f", {d['against_dataset']} already in dataset {d['against']['dataset']!r}" if d.get("against") else ""
    return (f"Batch {child.id}: {child.manifest['rows']['kept']} rows kept, {d['removed']} near-duplicate(s) dropped "
            f"({d['within_batch']} within the batch{against}; threshold {d['threshold']}) → {child.path}")
