"""`curate report`: how review of a dataset went, in pictures (one self-contained HTML file) and as JSON.

`read` fetches what the report needs from Argilla (through `curation.argilla`), `figures` and
`feedback` turn it into numbers, `batches` looks up the batches behind the records on this
machine, `rounds` follows their lineage back through the datasets of earlier rounds, `svg` draws
the plots and `html` lays the page out.
"""

from __future__ import annotations


def review_report(dataset_name: str, workspace: str | None = None, client=None) -> dict:
    """Every figure of the report for Argilla dataset `dataset_name`, as JSON-ready values.

    The dataset (and its overlap part) is read once, streamed past every tally: the figures', the
    conflicts' and its round's; the walk back through earlier rounds reads each of those once too."""
    from curation.report.cost import cost_figures
    from curation.report.figures import FigureTally
    from curation.report.rounds import rounds_of, scan_round
    from curation.review.adjudicate import ConflictTally

    if client is None:
        from curation.argilla.client import connect

        client = connect()
    tallies: dict = {}

    def report_tallies(view, parts):
        figures = tallies["figures"] = FigureTally(view.questions, view.kind)
        conflicts = tallies["conflicts"] = ConflictTally(client, parts)
        tallies["view"] = view

        def visit(record, reviewed, part):
            figures.add(record)
            conflicts.add(reviewed, part)
        return visit

    last = scan_round(client, dataset_name, workspace, also=report_tallies)
    view = tallies["view"]
    figures = tallies["figures"].figures(view)
    figures["parts"] = list(view.parts)  # the dataset and its overlap part (`--overlap-policy adaptive`)
    figures["conflicts"] = tallies["conflicts"].result()
    figures["rounds"] = rounds_of(client, last)
    figures["cost"] = cost_figures(figures["annotators"], [b["batch_id"] for b in figures["batches"] if b["batch_id"]],
                                   figures["rounds"][-1]["admitted"])
    return figures
