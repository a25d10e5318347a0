"""`export_dataset`: Argilla dataset -> validated, corrected rows -> folder and/or Hub repo.

A dataset with an overlap sibling (`curate push --overlap-policy adaptive`) exports as one: the
records of both parts, each part's against its own `min_submitted` (curation/review/siblings.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curation import settings as env
from curation.argilla.datasets import require_dataset
from curation.argilla.records import iter_reviewed
from curation.argilla.usernames import Usernames
from curation.errors import BadInput
from curation.export import card, hub
from curation.export.formats import Format, build_row, check_dataset, get_format
from curation.export.select import (
    Counts, NothingToExport, Unusable, adjudicated_answer, admit, check_policy, default_min_submitted,
)
from curation.export.write import check_out, replace_export, staging_dir, write_shards


@dataclass(frozen=True)
class ExportReport:
    """What an export selected, wrote and pushed."""

    dataset: str
    format: str
    agreement: str
    min_submitted: int  # of the dataset itself; `parts` has each part's
    counts: Counts
    files: tuple[str, ...]
    out: Path | None = None
    repo_id: str | None = None
    commit_url: str | None = None
    parts: tuple[tuple[str, int], ...] = ()  # (dataset, min_submitted) of each part read
    contamination: object = None  # the ContaminationGate of --decontaminate: benchmarks, rows dropped for each

    @property
    def exported(self) -> int:
        return self.counts.exported


def export_dataset(
    name: str,
    *,
    format: str,
    workspace: str | None = None,
    out: str | Path | None = None,
    repo_id: str | None = None,
    private: bool = False,
    agreement: str = "majority",
    min_submitted: int | None = None,
    token: str | None = None,
    client=None,
    benchmarks: list | None = None,
    ngram: int | None = None,
) -> ExportReport:
    """Export the human-validated records of Argilla dataset `name` to `out` and/or `repo_id`.

    `benchmarks` (`curation.decontaminate.load_benchmark`, `--decontaminate`): rows sharing a run of
    `ngram` words with one of them are left out, counted as `contaminated` and named on the card."""
    fmt = get_format(format)
    check_policy(agreement, min_submitted)
    if out is None and repo_id is None:
        raise BadInput("nothing to export to: give an output folder (--out) and/or a Hub repo (--repo-id)")
    if repo_id is not None:
        hub.check_repo_id(repo_id)
        token = token or env.hf_token()
        if not token:
            raise BadInput("pushing to the Hub needs a token",
                           hint="set HF_TOKEN, run `hf auth login`, or pass --token")
    target = Path(out).expanduser() if out is not None else None
    if target is not None:
        check_out(target)  # before any work: never write over files that are not an export's
    if client is None:
        from curation.argilla.client import connect

        client = connect()
    dataset = require_dataset(client, name, workspace)
    settings = dataset.settings
    check_dataset(fmt, name, {f.name for f in settings.fields}, {q.name for q in settings.questions})
    # Read before anything is staged: a failure leaves nothing.
    parts = export_parts(client, dataset, min_submitted)
    min_submitted = parts[0].min_submitted

    if target is None:
        target = Path(tempfile.mkdtemp(prefix="curation-export-"))
    try:
        staging = staging_dir(target)
    except OSError as exc:
        raise BadInput(f"cannot write the export to {target}: {exc.strerror or exc}") from None
    policy = card.Policy(agreement, min_submitted, tuple((p.name, p.min_submitted) for p in parts[1:]))
    gate = None
    if benchmarks:
        from curation.decontaminate import DEFAULT_NGRAM
        from curation.export.contamination import ContaminationGate

        gate = ContaminationGate(benchmarks, ngram or DEFAULT_NGRAM)
    try:
        counts, written = _write(client, parts, name, fmt, policy, staging, load_from=repo_id or str(target),
                                 gate=gate)
        replace_export(staging, target)
        commit_url = None
        if repo_id is not None:
            message = f"curate export {name} --format {fmt.name}: {counts.exported} records ({agreement})"
            commit_url = hub.push_folder(target, repo_id, token=token, private=private, message=message)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if out is None:
            shutil.rmtree(target, ignore_errors=True)
        elif not any(target.iterdir()):
            target.rmdir()  # a failed first export leaves no empty folder behind
    return ExportReport(
        dataset=name,
        format=fmt.name,
        agreement=agreement,
        min_submitted=min_submitted,
        counts=counts,
        files=written.files,
        out=target if out is not None else None,
        repo_id=repo_id,
        commit_url=commit_url,
        parts=tuple((p.name, p.min_submitted) for p in parts),
        contamination=gate,
    )


@dataclass(frozen=True)
class Part:
    """One dataset an export reads: the dataset itself or its overlap sibling."""

    name: str
    id: object
    min_submitted: int
    settled: dict  # `adjudications`


def export_parts(client, dataset, min_submitted: int | None = None) -> list[Part]:
    """The parts `dataset` stands for (curation/review/siblings.py), each with the submissions its
    records need (`min_submitted` when given, else the part's own) and its adjudicated answers."""
    from curation.review.siblings import parts

    return [Part(part.name, part.id, min_submitted or default_min_submitted(part.settings), adjudications(client, part))
            for part in parts(client, dataset)]


def admitted_in_parts(client, parts: list[Part], fmt: Format, agreement: str, counts: Counts,
                      usernames=None) -> Iterator[tuple]:
    """`admitted_records` of every part, each against its own min_submitted and adjudications."""
    usernames = usernames or Usernames(client)
    for part in parts:
        yield from admitted_records(client, part.id, fmt, agreement, part.min_submitted, counts, part.settled,
                                    usernames)


def adjudications(client, dataset) -> dict:
    """Record id -> its answered record in the dataset's adjudication dataset (`curate adjudicate`), if any."""
    from curation.review.adjudicate import adjudicated_answers, find_adjudication

    adjudication = find_adjudication(client, dataset)
    return adjudicated_answers(client, adjudication) if adjudication is not None else {}


def admitted_records(client, dataset_id, fmt: Format, agreement: str, min_submitted: int, counts: Counts,
                     settled: dict, usernames=None) -> Iterator[tuple]:
    """(record, row) for every record the export policy admits, its row built with the humans'
    corrections applied, counting every record and the rule that dropped it in `counts`. `settled`
    (from `adjudications`): record id -> its adjudication record; the reviewers' answer comes before
    the agreement rule. What `curate export` writes and `--seeds argilla:` reads (curation/reviewed_seeds.py)."""
    usernames = usernames or Usernames(client)
    # Offset pages over a changing dataset can repeat a record; ids keep it once per split.
    # This set is the one thing that grows with the dataset: one short string per record.
    seen_ids: set[str] = set()
    for record in iter_reviewed(client, dataset_id):
        counts.seen += 1
        if record.id in seen_ids:
            counts.drop("duplicate")
            continue
        seen_ids.add(record.id)
        row = admitted_row(record, fmt, agreement, min_submitted, counts, settled, usernames)
        if row is not None:
            yield record, row


def admitted_row(record, fmt: Format, agreement: str, min_submitted: int, counts: Counts, settled: dict,
                 usernames) -> dict | None:
    """The export row of one record if the policy admits it, else None; counted in `counts` either way
    (`admitted_records` for each record of a dataset; `curate watch` for the records it is told of)."""
    adjudication = settled.get(record.id)
    answer = None if adjudication is None else adjudicated_answer(
        adjudication, [fmt.vote(review, adjudication) for review in adjudication.submitted], agreement)
    if answer is not None:
        row = answer.reason if isinstance(answer, Unusable) else build_row(fmt, record, agreement, usernames, settled=answer)
    else:
        rule = admit(record, agreement=agreement, min_submitted=min_submitted)
        row = build_row(fmt, record, agreement, usernames) if rule is None else rule
    if isinstance(row, str):
        counts.drop(row)
        return None
    counts.exported += 1
    counts.adjudicated += answer is not None  # a discarded one was dropped above
    return row


def _write(client, parts: list[Part], name: str, fmt: Format, policy, staging: Path, load_from: str, gate=None):
    """Stream the selected rows into `staging` and add the card; raises if none was selected."""
    counts, tally = Counts(), card.Tally()
    rows = _rows(client, parts, fmt, policy.agreement, counts, tally, gate)
    written = write_shards(rows, fmt.schema, staging)
    if counts.exported == 0:
        dropped = ", ".join(f"{k}={v}" for k, v in counts.dropped().items() if v)
        raise NothingToExport(
            f"no record of {name!r} passes the policy ({counts.seen} seen; dropped: {dropped or 'none'})",
            hint="review more records in Argilla, or relax --agreement / --min-submitted",
        )
    text = card.render(
        source=name, fmt=fmt, written=written, counts=counts, policy=policy, tally=tally, load_from=load_from,
        contamination=gate,
    )
    (staging / "README.md").write_text(text)
    return counts, written


def _rows(client, parts: list[Part], fmt: Format, agreement: str, counts: Counts, tally, gate=None) -> Iterator:
    """The exported rows (`admitted_records` of every part), past the contamination gate, tallied for the card."""
    rows = (row for _, row in admitted_in_parts(client, parts, fmt, agreement, counts))
    if gate is not None:
        rows = gate.filter(rows, on_drop=lambda: _contaminated(counts))
    for row in rows:
        tally.add(row)
        yield row


def _contaminated(counts: Counts) -> None:
    """An admitted row the gate dropped: counted as contaminated instead of exported."""
    counts.exported -= 1
    counts.drop("contaminated")
