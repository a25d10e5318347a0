"""`curate report`: how review of a dataset went, in pictures (one self-contained HTML file) and as JSON.

`read` fetches what the report needs from Argilla (through `curation.argilla`), `figures` and
`feedback` turn it into numbers, `batches` looks up the batches behind the records on this
machine, `rounds` follows their lineage back through the datasets of earlier rounds, `svg` draws
the plots and `html` lays the page out.
"""

from __future__ import annotations


def review_report(dataset_name: str, workspace: str | None = None, client=None) -> dict:
    """Every figure of the report for Argilla dataset `dataset_name`, as JSON-ready values."""
    from curation.report.figures import compute_figures
    from curation.report.read import read_dataset
    from curation.report.rounds import rounds_of

    if client is None:
        from curation.argilla.client import connect

        client = connect()
    view = read_dataset(dataset_name, workspace, client=client)
    figures = compute_figures(view)
    figures["parts"] = list(view.parts)  # the dataset and its overlap part (`--overlap-policy adaptive`)
    figures["conflicts"] = _conflicts(client, dataset_name, workspace)
    figures["rounds"] = rounds_of(client, view)
    return figures


def _conflicts(client, dataset_name: str, workspace: str | None) -> dict | None:
    """Conflicts open and resolved (`curate adjudicate`), as `curate status` counts them (over the
    dataset's overlap part too)."""
    from curation.argilla.datasets import require_dataset
    from curation.review.siblings import parts
    from curation.review.status import conflicts_of

    return conflicts_of(client, parts(client, require_dataset(client, dataset_name, workspace)))
