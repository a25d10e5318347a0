"""Push a batch to an Argilla dataset for review, idempotently.

Records get ids from (batch id, row index). Before sending, push reads the ids already in
the dataset (one paginated listing, without responses or suggestions) and sends only the
missing records, so a re-push, or a re-run after a push was killed, adds exactly what is
missing and never touches a record annotators may be working on. (argilla-server's bulk
upsert would keep their responses but overwrite suggestions, metadata and fields.)

With `--overlap-policy adaptive` the records whose review priority is at or above a threshold go
to the dataset's overlap sibling instead (curation/review/siblings.py), which needs more annotators
per record. The ids already in either dataset are read first, so a re-push, whatever its policy or
threshold, leaves every record in the dataset it first went to.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from curation.argilla import datasets, records
from curation.argilla.client import review_url
from curation.argilla.errors import argilla_errors, translate
from curation.batch import Batch, load_batch
from curation.contract import COL_GENERATIONS, COL_SOURCE_RECORD_ID, META_OVERLAP_OF, rating_question
from curation.errors import BadInput, ConfigError
from curation.review import priority as review_priority
from curation.review import siblings
from curation.review.config import ReviewConfig, default_config_path, load_config
from curation.review.records import (InvalidRow, RecordMapper, derived_id, derived_prefix, id_prefix, record_id,
                                     unreviewable)

CHUNK = records.CHUNK
# Our question types as argilla-server names them.
_SERVER_TYPES = {"label": "label_selection", "multi_label": "multi_label_selection"}


@dataclass(frozen=True)
class OverlapPlan:
    """An adaptive push's rule: new records with review_priority >= `threshold` go to the sibling."""

    threshold: float
    min_submitted: int | None  # the sibling's overlap as asked (None: its own, or the main's + 1)


@dataclass
class OverlapPart:
    """What an adaptive push sent to the overlap sibling (its `sent` are also in the report's)."""

    dataset: str
    min_submitted: int
    threshold: float
    sent: int
    created_dataset: bool
    url: str | None = None


@dataclass
class PushReport:
    """What a push did."""

    dataset: str
    workspace: str
    batch_id: str
    rows: int
    sent: int
    already_present: int
    created_dataset: bool
    seconds: float
    invalid: list[str] = field(default_factory=list)
    url: str | None = None
    priority: str = review_priority.NONE  # how the records' review_priority was scored
    min_submitted: int | None = None  # the dataset's overlap (annotators per record)
    overlap_part: OverlapPart | None = None  # --overlap-policy adaptive: the sibling's share

    @property
    def records_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def push_batch(
    batch: Batch | str | Path,
    dataset_name: str,
    *,
    workspace: str | None = None,
    config_path: str | Path | None = None,
    client=None,
    show_progress: bool = True,
    vectors: bool = False,
    priority: str | None = None,
    against: str | None = None,
    overlap: int | None = None,
    overlap_policy: str | None = None,
    adaptive_overlap: int | None = None,
    adaptive_threshold: float | None = None,
    by_source: bool = False,
) -> PushReport:
    """Send the batch's rows that the dataset lacks; create the dataset from the config if needed.

    `vectors` sends the batch's embedding columns (`curate embed`) as record vectors; a new
    dataset gets a vector field for each, with the batch's dimensions. Vectors the config
    declares under `vectors:` are sent whenever the batch has a column of that name.

    Each record's metadata `review_priority` is scored by `priority` (curation/review/priority.py;
    None: by the batch's kind), with the config's weights; `against` names a dataset whose
    discarded records make near-duplicates of them review first (`deita`).

    `overlap` (how many annotators each record needs: the distribution's `min_submitted`) replaces
    the config's when the dataset is created; an existing dataset must already have it.

    `by_source` (`curate watch`): each row's record id is `derived_id(recipe, its source_record_id)`,
    so what a recipe made from one source record is one record, whichever batch made it; a row that
    names no source record is not sent (reported as invalid).

    `overlap_policy` adaptive (see `check_overlap_policy`): new records whose priority is at or above
    `adaptive_threshold` go to the sibling dataset (`siblings.sibling_name`), created with
    `min_submitted` `adaptive_overlap`; everything is checked before either dataset is created.
    """
    if overlap is not None and overlap < 1:
        raise BadInput(f"--overlap must be 1 or more, got {overlap}", hint="pass --overlap 2 or more to measure agreement")
    plan = check_overlap_policy(overlap_policy, adaptive_overlap, adaptive_threshold)
    started = time.perf_counter()
    batch = batch if isinstance(batch, Batch) else load_batch(batch)
    rows = batch.rows()
    config = load_config(
        config_path or default_config_path(batch.kind),
        num_responses=_responses_per_row(rows) if batch.kind == "preference" else None,
    )
    if config.kind != batch.kind:
        raise ConfigError(f"{config.display}: kind: is {config.kind!r} but batch {batch.id} is {batch.kind!r}")
    config, vector_dims = _with_vectors(config, batch, rows, vectors)
    if overlap is not None:
        config = dataclasses.replace(config, min_submitted=overlap)
    mode = review_priority.choose_mode(priority, batch.kind, rows, against)
    if plan is not None and mode == review_priority.NONE:
        raise BadInput(f"--overlap-policy adaptive sends records by their review_priority, and batch {batch.id} "
                       f"({batch.kind}) is scored with --priority none",
                       hint="score it (judge-uncertainty for preference; deita for sft with Deita scores or "
                       "--against), or leave out --overlap-policy; nothing was pushed")
    problems = [unreviewable(batch.kind, config, i, row) for i, row in enumerate(rows)]
    if rows and all(problems):
        raise BadInput(
            f"batch {batch.id} has no row that can be reviewed ({len(rows)} rows; first: {problems[0]})",
            hint="regenerate the batch; nothing was created or sent",
        )
    if client is None:
        from curation.argilla.client import connect

        client = connect()
    rejected = review_priority.rejected_texts(client, against, workspace) if against else None
    priorities = _priorities(mode, batch, rows, config, rejected)
    ids, prefix = _record_ids(batch, rows, by_source)
    with argilla_errors(f"pushing to dataset {dataset_name!r}"):
        if plan is None:
            dataset, created = _dataset(client, dataset_name, workspace, config, overlap)
            if not created:
                _check_not_a_part(client, dataset)
            sibling = None if created else siblings.find_sibling(client, dataset)
            sibling_created = False
        else:
            dataset, created, sibling, sibling_created = _pair(client, dataset_name, workspace, config, overlap, plan)
        present = set() if created else records.external_ids(client, dataset.id, prefix)
        # A record already in the sibling stays there: it is never sent to the main dataset too.
        in_sibling = set() if sibling is None or sibling_created else records.external_ids(client, sibling.id, prefix)
    _check_vector_fields(dataset, vector_dims, dataset_name)
    if plan is not None:
        _check_vector_fields(sibling, vector_dims, sibling.name)

    held = present | in_sibling
    todo = [i for i in range(len(rows)) if ids[i] not in held]
    up: list[int] = []
    if plan is not None:
        # The score as stored (rounded to 4 places): the one annotators see and sort by.
        up = [i for i in todo if priorities.scores[i] is not None and priorities.scores[i] >= plan.threshold]
        chosen = set(up)
        todo = [i for i in todo if i not in chosen]
    invalid: list[str] = []
    if by_source:
        invalid += [f"row {i}: names no source record" for i in todo if ids[i] is None]
        todo = [i for i in todo if ids[i] is not None]
    sent = _send(client, dataset, RecordMapper(batch, config, dataset, priorities.scores, ids), rows, todo, invalid,
                 show_progress, f"{batch.id} → {dataset_name}", vector_names=list(vector_dims),
                 held_before=len(present), prefix=prefix)
    part = None
    if plan is not None:
        sent_up = _send(client, sibling, RecordMapper(batch, config, sibling, priorities.scores, ids), rows, up,
                        invalid, show_progress, f"{batch.id} → {sibling.name}", vector_names=list(vector_dims),
                        held_before=len(in_sibling), metadata={META_OVERLAP_OF: dataset.name}, prefix=prefix)
        sent += sent_up
        part = OverlapPart(dataset=sibling.name, min_submitted=sibling.settings.distribution.min_submitted,
                           threshold=plan.threshold, sent=sent_up, created_dataset=sibling_created,
                           url=review_priority.annotation_link(review_url(client), sibling))
    return PushReport(
        dataset=dataset_name,
        workspace=dataset.workspace.name,
        batch_id=batch.id,
        rows=len(rows),
        sent=sent,
        already_present=sum(1 for i in ids if i is not None and i in held),
        created_dataset=created,
        seconds=time.perf_counter() - started,
        invalid=invalid,
        url=review_priority.annotation_link(review_url(client), dataset),
        priority=priorities.mode,
        min_submitted=dataset.settings.distribution.min_submitted,
        overlap_part=part,
    )


def _record_ids(batch: Batch, rows: list[dict], by_source: bool) -> tuple[list[str | None], str]:
    """Each row's record id, and the prefix they share (to list the dataset's ids of this push)."""
    if not by_source:
        return [record_id(batch.id, i) for i in range(len(rows))], id_prefix(batch.id)
    sources = [row.get(COL_SOURCE_RECORD_ID) for row in rows]
    return [derived_id(batch.recipe, s) if s else None for s in sources], derived_prefix(batch.recipe)


def check_overlap_policy(policy: str | None, adaptive_overlap: int | None,
                         adaptive_threshold: float | None) -> OverlapPlan | None:
    """The adaptive push's plan, None for the fixed policy (the default); BadInput for an unknown
    policy, an adaptive option without the adaptive policy, M < 1 or a threshold outside [0, 1].
    (M must also exceed the main dataset's overlap: `_pair` checks it, knowing the dataset.)"""
    policy = siblings.FIXED if policy is None else policy
    if policy not in siblings.OVERLAP_POLICIES:
        raise BadInput(f"unknown --overlap-policy {policy!r}",
                       hint=f"choose one of {', '.join(siblings.OVERLAP_POLICIES)}; nothing was pushed")
    given = [name for name, value in (("--adaptive-overlap", adaptive_overlap),
                                      ("--adaptive-threshold", adaptive_threshold)) if value is not None]
    if policy == siblings.FIXED:
        if given:
            raise BadInput(f"{given[0]} applies only with --overlap-policy adaptive",
                           hint="add --overlap-policy adaptive, or leave it out; nothing was pushed")
        return None
    if adaptive_overlap is not None and adaptive_overlap < 1:
        raise BadInput(f"--adaptive-overlap must be 1 or more, got {adaptive_overlap}",
                       hint="pass more annotators than --overlap; nothing was pushed")
    if adaptive_threshold is not None and not 0 <= adaptive_threshold <= 1:
        raise BadInput(f"--adaptive-threshold must lie in [0, 1] (review_priority's range), got {adaptive_threshold}",
                       hint=f"the default, {review_priority.TOP_BAND}, is the queue's top band; nothing was pushed")
    threshold = review_priority.TOP_BAND if adaptive_threshold is None else adaptive_threshold
    return OverlapPlan(threshold=threshold, min_submitted=adaptive_overlap)


def _check_not_a_part(client, dataset) -> None:
    """A sibling gets its records through its main dataset's push (which links them), never directly."""
    if siblings.main_of(client, dataset):
        raise BadInput(f"dataset {dataset.name!r} is the overlap part of another dataset (adaptive overlap)",
                       hint=f"push to {siblings.sibling_name_of(dataset)!r} instead; nothing was pushed")


def _sibling_config(config: ReviewConfig, min_submitted: int) -> ReviewConfig:
    """The main dataset's settings with the sibling's overlap and metadata `overlap_of` (the link)."""
    metadata = config.metadata
    if META_OVERLAP_OF not in {m["name"] for m in metadata}:
        metadata += ({"name": META_OVERLAP_OF, "type": "terms", "title": "Overlap part of"},)
    return dataclasses.replace(config, min_submitted=min_submitted, metadata=metadata)


def _pair(client, name: str, workspace: str | None, config: ReviewConfig, overlap: int | None, plan: OverlapPlan):
    """(main, created, sibling, sibling created) for an adaptive push. Both are checked (settings,
    overlaps, the sibling's link) before either is created: bad input leaves nothing behind."""
    main = _existing(client, name, workspace, config, overlap)
    if main is not None:
        _check_not_a_part(client, main)
    main_overlap = overlap or (main.settings.distribution.min_submitted if main is not None else config.min_submitted)
    sibling_name = siblings.sibling_name(name)
    sibling = siblings.find_sibling(client, main) if main is not None else None
    if sibling is None:
        where = main.workspace if main is not None else datasets.workspace_for_new(client, workspace, create=False)
        sibling = _existing(client, sibling_name, where.name, config, None) if where is not None else None
        if sibling is not None:
            siblings.check_adoptable(client, sibling, main, META_OVERLAP_OF)
    if sibling is not None:
        _check_compatible(sibling, config, sibling.name)
        check_overlap(sibling, plan.min_submitted, sibling.name, "--adaptive-overlap")
        wanted = sibling.settings.distribution.min_submitted
    else:
        wanted = plan.min_submitted if plan.min_submitted is not None else max(main_overlap + 1, 2)
    if wanted <= main_overlap:
        raise BadInput(f"the overlap part's overlap ({wanted}) must be more than dataset {name!r}'s ({main_overlap})",
                       hint=f"pass --adaptive-overlap {main_overlap + 1} or more; nothing was pushed")
    main, created = _dataset(client, name, workspace, config, overlap)
    sibling_created = False
    if sibling is None:
        sibling, sibling_created = _dataset(client, sibling_name, main.workspace.name,
                                            _sibling_config(config, wanted), wanted)
    siblings.link(client, main, sibling)
    return main, created, sibling, sibling_created


def _priorities(mode: str, batch: Batch, rows: list[dict], config: ReviewConfig,
                rejected: list[str] | None) -> review_priority.Priorities:
    """Each row's review priority, scored on the config's rating scale with its weights."""
    scale = (1, 5)
    rating = config.question(rating_question(1))
    if rating is not None:
        scale = (min(rating["values"]), max(rating["values"]))
    return review_priority.score_rows(mode, batch.kind, rows, config.priority_weights(mode),
                                      candidates=config.num_responses, scale=scale, rejected_texts=rejected)


def _with_vectors(config: ReviewConfig, batch: Batch, rows: list[dict], asked: bool) -> tuple[ReviewConfig, dict[str, int]]:
    """(the config with a vector field for each embedding column sent, {vector name: dimensions}).

    Vector names are the batch's column names (`instruction_embedding`, ...)."""
    from curation.embeddings import INSTRUCTION_EMBEDDING, SOURCES, dimensions_of

    declared = {v["name"]: v for v in config.vectors}
    columns = set(rows[0]) if rows else set()
    names = [n for n in declared if n in columns]
    if asked:
        if INSTRUCTION_EMBEDDING not in columns:
            raise BadInput(f"--vectors sends the batch's embeddings, and batch {batch.id} has none",
                           hint=f"embed it first: `curate embed {batch.id}`, then push the batch it writes")
        names += [n for n in SOURCES if n in columns and n not in names]
    dims = {name: dimensions_of(rows, name) for name in names}
    dims = {name: d for name, d in dims.items() if d}
    extra = tuple({"name": name, "title": f"Similar by {name.removesuffix('_embedding')}", "dimensions": d}
                  for name, d in dims.items() if name not in declared)
    return (dataclasses.replace(config, vectors=config.vectors + extra) if extra else config), dims


def _check_vector_fields(dataset, dims: dict[str, int], name: str) -> None:
    """Every vector sent needs a vector field of the same dimensions in the dataset: never a silent drop."""
    have = {v.name: v for v in dataset.settings.vectors}
    for vector, d in dims.items():
        field_ = have.get(vector)
        if field_ is None:
            raise ConfigError(
                f"dataset {name!r} has no vector field {vector!r}, so its records cannot carry the batch's vectors",
                hint="push to a new --dataset (created with --vectors), or push without --vectors",
            )
        if field_.dimensions != d:
            raise ConfigError(
                f"dataset {name!r}'s vector field {vector!r} has {field_.dimensions} dimensions, the batch's vectors {d}",
                hint="push to a new --dataset, or embed the batch with the embedder the dataset was made with",
            )


def _responses_per_row(rows: list[dict]) -> int | None:
    counts = {len(r.get(COL_GENERATIONS) or []) for r in rows}
    return max(counts) if counts else None


def _dataset(client, name: str, workspace: str | None, config: ReviewConfig, overlap: int | None = None):
    """(dataset, created): the existing dataset checked against the config (and `overlap`), or a new one."""
    dataset = _existing(client, name, workspace, config, overlap)
    if dataset is not None:
        return dataset, False
    ws = datasets.workspace_for_new(client, workspace)
    dataset, created = datasets.create_dataset(client, name, ws, config.settings(client))
    if not created:  # another push created it meanwhile
        _check_compatible(dataset, config, name)
        check_overlap(dataset, overlap, name)
    return dataset, created


def _existing(client, name: str, workspace: str | None, config: ReviewConfig, overlap: int | None):
    """Dataset `name` if it exists, checked against the config (and `overlap`); None otherwise."""
    dataset = datasets.find_dataset(client, name, workspace)
    if dataset is None:
        dataset = datasets.settle_draft(client, name, workspace)  # a draft left by a killed push, ...
    if dataset is not None:
        _check_compatible(dataset, config, name)
        check_overlap(dataset, overlap, name)
    return dataset


def check_overlap(dataset, overlap: int | None, name: str, option: str = "--overlap") -> None:
    """An existing dataset keeps the overlap it was created with (argilla-server refuses to change
    it once responses exist); a different --overlap fails instead of being silently ignored."""
    current = dataset.settings.distribution.min_submitted
    if overlap is not None and overlap != current:
        raise BadInput(
            f"dataset {name!r} already exists with overlap {current} (annotators per record); "
            f"{option} {overlap} applies only when a dataset is created",
            hint=f"leave out {option} (or pass {option} {current}), or push to a new --dataset",
        )


def _check_compatible(dataset, config: ReviewConfig, name: str) -> None:
    """The dataset must have every field and question the config declares, of the same kind."""
    fields = {f.name: f for f in dataset.settings.fields}
    questions = {q.name: q for q in dataset.settings.questions}

    def fail(problem: str) -> ConfigError:
        return ConfigError(
            f"dataset {name!r} does not match {config.display}: {problem}",
            hint="push to a new --dataset name, or pass the --config it was created with",
        )

    for spec in config.fields:
        have = fields.get(spec["name"])
        if have is None:
            raise fail(f"it has no field {spec['name']!r}")
        if have.type != spec["type"]:
            raise fail(f"field {spec['name']!r} is {have.type}, the config says {spec['type']}")
    for spec in config.questions:
        have = questions.get(spec["name"])
        expected = _SERVER_TYPES.get(spec["type"], spec["type"])
        if have is None:
            raise fail(f"it has no question {spec['name']!r}")
        if have.type != expected:
            raise fail(f"question {spec['name']!r} is {have.type}, the config says {spec['type']}")
        if spec["type"] in ("rating", "ranking") and sorted(map(str, have.values)) != sorted(map(str, spec["values"])):
            raise fail(f"question {spec['name']!r} has values {list(have.values)}, the config {list(spec['values'])}")


def _send(client, dataset, mapper: RecordMapper, rows: list[dict], todo: list[int], invalid: list[str],
          show_progress: bool, label: str, vector_names: list[str] = (), held_before: int = 0,
          metadata: dict | None = None, prefix: str | None = None) -> int:
    """Send rows `todo` in bulk requests; rows that cannot be records go to `invalid`. Returns how many were sent.
    `metadata` is added to every record (the dataset must declare it).

    If the server fails or goes away, the error says how many new records it holds (see `_stopped_after`);
    `held_before` is how many of the batch's records the dataset held before this push."""
    chunks = [todo[start : start + CHUNK] for start in range(0, len(todo), CHUNK)]

    def payload(indexes: list[int]) -> list:
        models = []
        for index in indexes:
            try:
                mapped = mapper.map(index, rows[index])
                for key, value in (metadata or {}).items():
                    mapped.record.metadata[key] = value
                for name in vector_names:
                    if rows[index].get(name) is not None:
                        mapped.record.vectors[name] = [float(x) for x in rows[index][name]]
                models.append(mapped.api_model())
            except InvalidRow as exc:
                invalid.append(str(exc))
        return models

    sent = in_flight = 0
    prefix = prefix if prefix is not None else id_prefix(mapper.batch.id)
    try:
        with _progress(show_progress, label, len(todo)) as advance, ThreadPoolExecutor(max_workers=1) as pool:
            upcoming = pool.submit(payload, chunks[0]) if chunks else None
            for position, chunk in enumerate(chunks):
                models = upcoming.result()
                if position + 1 < len(chunks):
                    # Build the next request while the server works on this one.
                    upcoming = pool.submit(payload, chunks[position + 1])
                if models:
                    in_flight = len(models)
                    sent += records.add_missing(client, dataset.id, models, prefix)
                    in_flight = 0
                advance(len(chunk))
    except Exception as exc:
        stopped = _stopped_after(exc, client, dataset.id, prefix, sent, in_flight, len(todo), held_before)
        mapped = translate(exc, f"pushing to {dataset.name!r} ({stopped})")
        if mapped is None:
            raise
        raise mapped from None
    return sent


def _stopped_after(exc: BaseException, client, dataset_id, prefix: str, sent: int, in_flight: int, total: int,
                   held_before: int) -> str:
    """How far a failed push got, as the server holds it.

    A request the server took but never answered (it was killed, or failed after its commit) may
    have been stored: the dataset's ids are read back to count what it holds. When it cannot answer,
    the count it confirmed is all that is known, and the message says the last request may be there
    too. A request that never reached it (connection refused) stored nothing.
    """
    if not in_flight or _never_sent(exc):
        return f"stopped after {sent} of {total} new records"
    try:
        held = len(records.external_ids(client, dataset_id, prefix)) - held_before
    except Exception:  # gone: the last request's outcome cannot be known from here
        return (f"stopped after {sent} of {total} new records confirmed; the server may also hold "
                f"the {in_flight} it was sent last")
    return f"stopped after {held} of {total} new records"


def _never_sent(exc: BaseException | None) -> bool:
    """Whether the failure happened before the request left (no connection): nothing was stored."""
    import httpx

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _progress(show: bool, label: str, total: int):
    """A context giving `advance(n)`: a rich progress bar on stderr, or nothing."""
    if not show or total == 0:
        return nullcontext(lambda n: None)
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextmanager
    def bar():
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rec/s"),
            TimeRemainingColumn(),
        )
        started = time.perf_counter()
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            # The label holds the dataset's name, and the column reads it as markup: escaped.
            task = progress.add_task(escape(label), total=total, rate="-")

            def advance(n: int) -> None:
                done = progress.tasks[0].completed + n
                rate = f"{done / max(time.perf_counter() - started, 1e-9):,.0f}"
                progress.update(task, advance=n, rate=rate)

            yield advance

    return bar()
