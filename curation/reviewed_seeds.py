"""A reviewed Argilla dataset as seeds (`--seeds argilla:DATASET`): the next round starts from
what humans validated.

The records are selected and resolved by the export's own code (`admit`, `build_row`: the same
policy, options and defaults as `curate export`), so a round's seeds are exactly what
`curate export` of that dataset would write, corrections applied:

- an sft dataset gives `instruction` + `response` (the annotators' corrected text);
- a preference dataset gives `instruction` + `generations` = [chosen, rejected], in the order
  the annotators ranked them (so `evol-quality` and `ultrafeedback` chain on them).

Each seed row keeps the record it came from (`source_record_id`). The new batch's manifest names
the dataset as its `parent` (see `dataset_entry`); `curation.batch.lineage` walks through it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from curation import contract as c
from curation.errors import BadInput

PREFIX = "argilla:"
# The kind of rows a reviewed dataset gives (the batch kinds), by the export format it passes.
_KIND_OF_FORMAT = {"sft": "sft", "dpo": "preference"}
_COLUMNS = {"sft": (c.COL_INSTRUCTION, c.COL_RESPONSE), "preference": (c.COL_INSTRUCTION, c.COL_GENERATIONS)}


def is_reviewed_source(value) -> bool:
    """Whether a `--seeds` value names an Argilla dataset (`argilla:DATASET`)."""
    return value is not None and str(value).startswith(PREFIX)


@dataclass(frozen=True)
class ReviewedSeeds:
    """The seed rows and the manifest's `parent` entry naming the dataset."""

    rows: list[dict]
    parent: dict


@dataclass(frozen=True)
class Reviewed:
    """What the export policy admits of a reviewed dataset, read one way for `--seeds`, `--examples`
    and `--judge-examples`: (record, export row) of every admitted record, over the
    dataset and its overlap part (`curate push --overlap-policy adaptive`), each record against
    its own part's `min_submitted` and adjudications, as `curate export` reads them."""

    name: str
    client: object
    dataset: object
    fmt: object
    kind: str
    agreement: str
    min_submitted: int  # the policy's (the dataset's own unless --min-submitted gave one)
    counts: object
    admitted: list  # [(record, row)] in the dataset's order, then its overlap part's


def read_reviewed(name: str, *, workspace: str | None = None, agreement: str = "majority",
                  min_submitted: int | None = None, client=None, use: str = "seed from", check=None) -> Reviewed:
    """The admitted records of dataset `name`, with the humans' corrections applied.

    Unknown dataset or workspace, or a dataset not made by `curate push`: a one-line BadInput (exit
    2). `check(kind)`, when given, may refuse the dataset's kind before any record is read.
    """
    from curation.export.run import admitted_in_parts, export_parts
    from curation.export.select import Counts, check_policy, default_min_submitted

    check_policy(agreement, min_submitted)
    if client is None:
        from curation.argilla.client import connect

        client = connect()
    from curation.argilla.datasets import require_dataset

    dataset = require_dataset(client, name, workspace)
    fmt, kind = reviewed_format(name, dataset.settings, use=use)
    if check is not None:
        check(kind)
    counts = Counts()
    admitted = list(admitted_in_parts(client, export_parts(client, dataset, min_submitted), fmt, agreement, counts,
                                      usernames=lambda user_id: user_id))  # rows here name no annotator
    return Reviewed(name, client, dataset, fmt, kind, agreement,
                    min_submitted or default_min_submitted(dataset.settings), counts, admitted)


def load_reviewed_seeds(value, *, recipe: str, columns: tuple[str, ...], candidates: bool,
                        workspace: str | None = None, agreement: str = "majority",
                        min_submitted: int | None = None, client=None) -> ReviewedSeeds:
    """The admitted records of dataset `argilla:NAME` as seed rows for `recipe`.

    Unknown dataset or workspace, a dataset the recipe cannot take, or no admitted record:
    a one-line BadInput (exit 2), raised before anything is generated or written.
    """
    name = str(value)[len(PREFIX):]
    if not name.strip():
        raise BadInput("--seeds argilla: needs a dataset name", hint="--seeds argilla:DATASET")
    reviewed = read_reviewed(name, workspace=workspace, agreement=agreement, min_submitted=min_submitted,
                             client=client,
                             check=lambda kind: check_recipe_takes(kind, name, recipe, columns, candidates))
    rows = [seed_row(reviewed.kind, row) for _, row in reviewed.admitted]
    batches = sorted({row[c.META_BATCH_ID] for _, row in reviewed.admitted if row[c.META_BATCH_ID]})
    counts = reviewed.counts
    if not rows:
        dropped = ", ".join(f"{k}={v}" for k, v in counts.dropped().items() if v)
        raise BadInput(
            f"no record of {name!r} passes the policy ({counts.seen} seen; dropped: {dropped or 'none'}); "
            "nothing to seed from",
            hint="review more records in Argilla, or relax --agreement / --min-submitted",
        )
    from curation.seed_values import check_rows

    check_rows(rows, f"dataset {name}")
    return ReviewedSeeds(rows, dataset_entry(
        name, workspace=_workspace_name(reviewed.dataset), server=public_url(reviewed.client.api_url),
        kind=reviewed.kind, rows=rows, batches=batches, agreement=agreement, min_submitted=reviewed.min_submitted,
        counts=counts,
    ))


def reviewed_format(name: str, settings, use: str = "seed from") -> tuple:
    """(export format, batch kind) of a dataset reviewed with curate's sft or preference settings, else BadInput."""
    from curation.export.formats import FORMATS, check_dataset

    fields, questions = {f.name for f in settings.fields}, {q.name for q in settings.questions}
    for candidate in FORMATS.values():
        try:
            check_dataset(candidate, name, fields, questions)
        except BadInput:
            continue
        return candidate, _KIND_OF_FORMAT[candidate.name]
    raise BadInput(f"dataset {name!r} was not reviewed with curate's sft or preference settings",
                   hint=f"{use} a dataset `curate push` made")


def check_recipe_takes(kind: str, name: str, recipe: str, columns: tuple[str, ...], candidates: bool) -> None:
    """Refuse a dataset whose rows the recipe cannot use, before reading its records."""
    given = _COLUMNS[kind]
    if not columns:
        raise BadInput(f"recipe {recipe!r} takes no seeds; it cannot start from dataset {name!r}")
    if candidates and kind == "sft" and c.COL_RESPONSE not in columns:
        # A recipe that rates candidates (ultrafeedback) would drop an sft dataset's corrected
        # responses and start over from its instructions: the humans' work would not reach it.
        needs = f"a preference dataset ({c.COL_INSTRUCTION} + {c.COL_GENERATIONS}): it rates candidate responses"
    elif all(col in given for col in columns) or (candidates and c.COL_GENERATIONS in given):
        return
    else:
        needs = " + ".join(columns)
    raise BadInput(
        f"dataset {name!r} holds {kind} records ({' + '.join(given)}); recipe {recipe!r} needs {needs}",
        hint="an sft dataset seeds evol-instruct, responses or evol-quality; "
             "a preference dataset seeds evol-instruct, responses, evol-quality or ultrafeedback",
    )


def seed_row(kind: str, row: dict) -> dict:
    """An export row (TRL messages) as a seed row of the batch columns."""
    if kind == "sft":
        user, assistant = row["messages"]
        seed = {c.COL_INSTRUCTION: user["content"], c.COL_RESPONSE: assistant["content"]}
    else:
        seed = {c.COL_INSTRUCTION: row["prompt"][0]["content"],
                c.COL_GENERATIONS: [row["chosen"][0]["content"], row["rejected"][0]["content"]]}
    return {**seed, c.COL_SOURCE_RECORD_ID: row[c.EXPORT_RECORD_ID]}


def record_ids_sha256(record_ids) -> str:
    """sha256 of the sorted record ids, one a line (`sort ids.txt | sha256sum` gives the same)."""
    return hashlib.sha256("".join(f"{rid}\n" for rid in sorted(record_ids)).encode("utf-8")).hexdigest()


def dataset_entry(name: str, *, workspace: str, server: str, kind: str, rows: list[dict], batches: list[str],
                  agreement: str, min_submitted: int, counts) -> dict:
    """The manifest's `parent` for a batch seeded from dataset `name`: where it is, which records
    (their ids' hash), by which policy, what was dropped, and the batches behind the records."""
    return {
        "dataset": name,
        "workspace": workspace,
        "server": server,
        "kind": kind,
        "record_ids_sha256": record_ids_sha256(r[c.COL_SOURCE_RECORD_ID] for r in rows),
        "policy": {"agreement": agreement, "min_submitted": min_submitted},
        "seen": counts.seen,
        "admitted": len(rows),
        "dropped": counts.dropped(),
        "batches": sorted(batches),
    }


def public_url(url: str) -> str:
    """`url` without user name or password: what a manifest may record of a server."""
    parts = urlsplit(str(url).rstrip("/"))
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _workspace_name(dataset) -> str:
    from curation.argilla.errors import argilla_errors

    with argilla_errors("reading the dataset's workspace"):
        return dataset.workspace.name
