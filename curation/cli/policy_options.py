"""The export policy's options: `curate export`, and `generate`/`run` for `--seeds`/`--examples`
argilla:DATASET, which take the records an export would. A light module: importing it loads no
export machinery (datasets, huggingface_hub), so every command's `--help` stays quick."""

from __future__ import annotations

import click

from curation.export.select import AGREEMENTS

AGREEMENT_OPTION = click.option(
    "--agreement", type=click.Choice(AGREEMENTS), default="majority", show_default=True,
    help="How annotators' disagreements are resolved.")
MIN_SUBMITTED_OPTION = click.option(
    "--min-submitted", type=click.IntRange(min=1),
    help="Submitted reviews a record needs (default: the dataset's task distribution).")
