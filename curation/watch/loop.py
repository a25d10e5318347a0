"""`curate watch`: each source record the annotators complete becomes the next stage's record in TARGET.

How it runs (one process):

1. The source dataset is looked up and the recipe checked against its kind, before anything starts.
2. The listener (curation/watch/listener.py) starts, and a webhook for `record.completed` is
   registered on the Argilla server with the listener's URL (an earlier one of this watcher is
   reused, so its secret still verifies deliveries queued before a restart).
3. Catch-up: the source's admitted records not yet in TARGET are queued (deliveries missed while
   the watcher was down, records given up on earlier).
4. The main loop takes queued records in micro-batches: it waits up to `window` seconds after the
   first one for others, `max_batch` at most, then reads the source's admitted records (the
   export's policy and code, `reviewed_seeds.read_reviewed`, corrections applied), generates a
   batch from them with the recipe (an ordinary batch under $CURATION_HOME/batches, whose
   manifest names the source dataset as its parent) and pushes it to TARGET with record ids
   derived from the source record and the recipe (`records.derived_id`). So a record delivered
   twice, completed again after an edit, or generated again after a crash is still one record.
5. A failed generation or push puts the records back on the queue with a delay that doubles; after
   `state.MAX_ATTEMPTS` they are `failed` (shown by `curate status TARGET`) and still tried every
   `state.MAX_DELAY` seconds and at the next start. A record the policy does not admit is `skipped`.
6. On SIGTERM or Ctrl-C the watcher finishes the micro-batch it is on, deletes its webhook and stops.
   A kill -9 leaves the webhook and the state: the next start reuses the first and catches up from
   the second.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from curation import contract as c
from curation.errors import BadInput, CurationError
from curation.watch.listener import RECORD_COMPLETED, Listener, make_app, require_listener, route
from curation.watch.state import MAX_ATTEMPTS, MAX_DELAY, WatchState, watch_dir, write_watcher

DEFAULT_LISTEN = "127.0.0.1:8765"
DEFAULT_WINDOW = 2.0
DEFAULT_MAX_BATCH = 8
DEFAULT_RETRY_DELAY = 10.0


@dataclass(frozen=True)
class WatchPlan:
    """What `curate watch` was asked for."""

    source: str
    target: str
    options: object  # GenerationOptions: the recipe and how to generate (seeds and num_rows are set per micro-batch)
    workspace: str | None = None
    listen: str = DEFAULT_LISTEN
    url: str | None = None  # what the Argilla server calls (default: http://<listen>)
    window: float = DEFAULT_WINDOW
    max_batch: int = DEFAULT_MAX_BATCH
    retry_delay: float = DEFAULT_RETRY_DELAY
    config_path: Path | None = None  # TARGET's review settings when it is created

    @property
    def recipe(self) -> str:
        return self.options.recipe


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT, else a one-line BadInput."""
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--listen takes HOST:PORT, got {value!r}", hint=f"e.g. --listen {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)


def check_plan(plan: WatchPlan) -> None:
    """Refuse bad options before connecting to anything."""
    parse_listen(plan.listen)
    if plan.window < 0:
        raise BadInput(f"--window must be 0 or more seconds, got {plan.window}")
    if plan.max_batch < 1:
        raise BadInput(f"--max-batch must be at least 1, got {plan.max_batch}")
    if plan.source == plan.target:
        raise BadInput(f"--into must name another dataset than the source {plan.source!r}")


def seed_for(kind: str, row: dict, info) -> dict:
    """The seed row for `info`'s recipe of an admitted record's export `row`.

    From an sft dataset a recipe that writes its own candidates (`responses`, `ultrafeedback`)
    takes the validated instruction: the next stage answers it afresh."""
    from curation.reviewed_seeds import seed_row

    seed = seed_row(kind, row)
    if kind == "sft" and c.COL_RESPONSE not in info.seed_columns:
        seed = {c.COL_INSTRUCTION: seed[c.COL_INSTRUCTION], c.COL_SOURCE_RECORD_ID: seed[c.COL_SOURCE_RECORD_ID]}
    return seed


def check_recipe(kind: str, source: str, info) -> None:
    """Whether `info`'s recipe can start from `source`'s records (the `--seeds argilla:` rule, except that
    an sft dataset's validated instructions may go to a recipe that writes its own candidates)."""
    from curation.reviewed_seeds import check_recipe_takes

    if kind == "sft" and info.candidates and c.COL_INSTRUCTION in info.seed_columns:
        return
    check_recipe_takes(kind, source, info.name, info.seed_columns, info.candidates)


class Watcher:
    """One `curate watch`: call `run()`; `stop()` (from a signal handler) ends it after the micro-batch in hand."""

    def __init__(self, plan: WatchPlan, *, client=None, echo: Callable[[str], None] = print):
        self.plan = plan
        self.echo = echo
        self.stopping = threading.Event()
        check_plan(plan)
        require_listener()
        from pipelines import get_recipe

        self.info = get_recipe(plan.recipe).info
        if client is None:
            from curation.argilla.client import connect

            client = connect()
        self.client = client
        from curation.argilla.datasets import require_dataset
        from curation.reviewed_seeds import reviewed_format

        self.source = require_dataset(client, plan.source, plan.workspace)
        self.fmt, self.kind = reviewed_format(plan.source, self.source.settings, use="watch")
        check_recipe(self.kind, plan.source, self.info)
        import curation.upstream.distilabel  # noqa: F401  (distilabel's imports paid before the first record)

        self.state = WatchState(watch_dir(plan.target))
        self.webhook = None
        self.listener = None

    def stop(self) -> None:
        self.stopping.set()
        self.state.wake()

    # --- start and stop ------------------------------------------------------------------------
    def start(self) -> None:
        """Listen, register the webhook, catch up."""
        host, port = parse_listen(self.plan.listen)
        url = (self.plan.url or f"http://{_url_host(host)}:{port}").rstrip("/") + route(self.plan.target)
        self.webhook = self._webhook(url)
        app = make_app(self.plan.target, self.webhook.secret, self._received, self.state.refuse, str(self.source.id))
        self.listener = Listener(app, host, port)
        self.listener.start()
        import os

        write_watcher(self.state.folder, {"source": self.plan.source, "target": self.plan.target,
                                          "recipe": self.plan.recipe, "listen": self.plan.listen, "url": url,
                                          "webhook_id": str(self.webhook.id), "pid": os.getpid(),
                                          "started_at": _now()})
        queued = self.catch_up()
        self.echo(f"Watching {self.plan.source!r} ({self.kind}) → {self.plan.recipe} → {self.plan.target!r}; "
                  f"listening on {self.plan.listen}; {queued} record(s) to catch up")

    def close(self) -> None:
        """Delete the webhook, stop listening, mark the watcher stopped."""
        self._drop_webhook()
        if self.listener is not None:
            self.listener.stop()
        try:
            info = {"source": self.plan.source, "target": self.plan.target, "recipe": self.plan.recipe,
                    "listen": self.plan.listen, "pid": None, "stopped_at": _now()}
            write_watcher(self.state.folder, info)
        finally:
            self.state.close()

    def _webhook(self, url: str):
        """This watcher's webhook: the one already registered for `url` (enabled again), else a new one;
        others of this watcher (an earlier --listen) are deleted."""
        import argilla as rg

        from curation.argilla.errors import argilla_errors

        description = f"curate watch {self.source.id} -> {self.plan.target} ({self.plan.recipe})"
        with argilla_errors("registering the watcher's webhook"):
            found = None
            for webhook in self.client.webhooks:
                if webhook.description != description:
                    continue
                if webhook.url == url and found is None:
                    found = webhook
                else:
                    webhook.delete()
            if found is not None:
                if not found.enabled or found.events != [RECORD_COMPLETED]:
                    found.enabled = True
                    found.events = [RECORD_COMPLETED]
                    found.update()
                return found
            return rg.Webhook(url=url, events=[RECORD_COMPLETED], description=description,
                              _client=self.client).create()

    def _drop_webhook(self) -> None:
        if self.webhook is None:
            return
        try:
            self.webhook.delete()
        except Exception as exc:  # the server is gone: the next start finds and reuses it
            self.echo(f"Could not delete the webhook ({type(exc).__name__}); the next `curate watch` reuses it")
        self.webhook = None

    # --- the queue -----------------------------------------------------------------------------
    def _received(self, source_id: str, completed_at: float | None, server_id: str | None) -> None:
        self.state.receive(source_id, completed_at, server_id)

    def catch_up(self) -> int:
        """Queue the admitted source records that TARGET lacks; returns how many were queued."""
        reviewed = self._reviewed()
        admitted = {row[c.EXPORT_RECORD_ID]: record.server_id for record, row in reviewed.admitted}
        return self.state.catch_up(admitted, self._in_target())

    def _in_target(self) -> set[str]:
        from curation.argilla.datasets import find_dataset
        from curation.argilla.errors import argilla_errors
        from curation.argilla.records import external_ids
        from curation.review.records import derived_prefix

        prefix = derived_prefix(self.plan.recipe)
        with argilla_errors(f"reading dataset {self.plan.target!r}"):
            target = find_dataset(self.client, self.plan.target, self.plan.workspace)
            return set() if target is None else {i[len(prefix):] for i in external_ids(self.client, target.id, prefix)}

    def _admitted(self, due) -> tuple[dict, object, int]:
        """({source id: export row} of the `due` records the policy admits, the counts, the min_submitted
        applied). Each record is read alone by its server id (a delivery or the catch-up gave it), so a
        micro-batch costs the same in a dataset of a million records; without ids, the dataset is read."""
        from curation.argilla.records import get_reviewed
        from curation.export.run import admitted_row, export_parts
        from curation.export.select import Counts

        options = self.plan.options
        if any(d.server_id is None for d in due):
            reviewed = self._reviewed()
            wanted = {d.source_id for d in due}
            return ({row[c.EXPORT_RECORD_ID]: row for _, row in reviewed.admitted
                     if row[c.EXPORT_RECORD_ID] in wanted}, reviewed.counts, reviewed.min_submitted)
        part = export_parts(self.client, self.source, options.min_submitted)[0]  # the source's own policy
        counts, rows = Counts(), {}
        for d in due:
            found = get_reviewed(self.client, d.server_id)
            if found is None or found[1] != str(self.source.id):
                continue  # deleted, or not the source's: not admitted
            counts.seen += 1
            row = admitted_row(found[0], self.fmt, options.agreement, part.min_submitted, counts, part.settled,
                               usernames=lambda user_id: user_id)  # rows here name no annotator
            if row is not None:
                rows[row[c.EXPORT_RECORD_ID]] = row
        return rows, counts, part.min_submitted

    def _reviewed(self):
        from curation.reviewed_seeds import read_reviewed

        options = self.plan.options
        return read_reviewed(self.plan.source, workspace=self.plan.workspace, agreement=options.agreement,
                             min_submitted=options.min_submitted, client=self.client, use="watch")

    def run(self) -> None:
        """Start, then work through the queue until stopped; whatever start set up is undone, even when
        it failed half-way (a catch-up that could not read SOURCE leaves no webhook behind)."""
        try:
            self.start()
            while not self.stopping.is_set():
                due = self._next_micro_batch()
                if due:
                    self.process(due)
        finally:
            self.close()

    def _next_micro_batch(self):
        """The next records to generate from: what is due, once `window` seconds have passed since the oldest
        arrived or `max_batch` are waiting; [] after waiting a while with nothing (or when stopping)."""
        due = self.state.due(self.plan.max_batch)
        if not due:
            wake = self.state.next_wakeup()
            self.state.wait_for_work(1.0 if wake is None else max(0.05, min(1.0, wake - time.time())))
            return []
        while len(due) < self.plan.max_batch and not self.stopping.is_set():
            left = due[0].received_at + self.plan.window - time.time()
            if left <= 0:
                break
            self.state.wait_for_work(left)
            due = self.state.due(self.plan.max_batch)
        return due

    # --- one micro-batch -----------------------------------------------------------------------
    def process(self, due) -> None:
        """Generate from the `due` records and push what was made to TARGET; failures go back on the queue."""
        from curation.review.push import push_batch
        from curation.review.records import derived_id
        from curation.reviewed_seeds import dataset_entry, public_url
        from curation.seeds import SeedRows

        started = time.perf_counter()
        source_ids = [d.source_id for d in due]
        try:
            rows, counts, min_submitted = self._admitted(due)
        except CurationError as exc:
            self._retry(source_ids, f"reading {self.plan.source!r}: {exc}")
            return
        skipped = [s for s in source_ids if s not in rows]
        if skipped:
            self.state.mark(skipped, "skipped", error="not admitted by the export policy")
            self.echo(f"{_clock()} {len(skipped)} record(s) not admitted by the export policy: skipped")
        wanted = [s for s in source_ids if s in rows]
        if not wanted:
            return
        seeds = [seed_for(self.kind, rows[s], self.info) for s in wanted]
        batches = sorted({rows[s][c.META_BATCH_ID] for s in wanted if rows[s].get(c.META_BATCH_ID)})
        parent = dataset_entry(self.plan.source, workspace=self.source.workspace.name,
                               server=public_url(self.client.api_url), kind=self.kind, rows=seeds,
                               batches=batches, agreement=self.plan.options.agreement, min_submitted=min_submitted,
                               counts=counts)
        from curation.generate import generate_batch

        # `seeds` names the source for the manifest's checks; the rows are the ones read here.
        options = dataclasses.replace(self.plan.options, num_rows=len(seeds), seeds=f"argilla:{self.plan.source}")
        try:
            batch = generate_batch(options, seeds=SeedRows(seeds, dataset=parent), display="quiet")
        except CurationError as exc:
            self._retry(wanted, str(exc))
            return
        made = {row.get(c.COL_SOURCE_RECORD_ID) for row in batch.rows()} - {None}
        self.state.mark([s for s in wanted if s in made], "generated", batch_id=batch.id)
        unmade = [s for s in wanted if s not in made]
        if unmade:
            self._retry(unmade, f"batch {batch.id} has no usable row for it (dropped by clean-up)")
        if not made:
            return
        try:
            report = push_batch(batch, self.plan.target, workspace=self.plan.workspace,
                                config_path=self.plan.config_path, client=self.client, show_progress=False,
                                by_source=True)
        except CurationError as exc:
            self._retry(sorted(made), f"pushing to {self.plan.target!r}: {exc}")
            return
        self.state.mark(sorted(made), "pushed", target_ids={s: derived_id(self.plan.recipe, s) for s in made})
        self.echo(f"{_clock()} {len(made)} record(s) of {self.plan.source!r} → batch {batch.id} → "
                  f"{report.sent} new in {self.plan.target!r} ({time.perf_counter() - started:.1f} s)")

    def _retry(self, source_ids: list[str], error: str) -> None:
        from curation import secrets

        error = secrets.redact(" ".join(error.split()))
        gave_up = self.state.retry_later(source_ids, error, self.plan.retry_delay)
        later = len(source_ids) - len(gave_up)
        self.echo(f"{_clock()} {len(source_ids)} record(s) failed: {error}"
                  + (f"; {later} retried later" if later else "")
                  + (f"; {len(gave_up)} failed {MAX_ATTEMPTS} times: retried every {MAX_DELAY:g} s" if gave_up else ""))


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _clock() -> str:
    return time.strftime("%H:%M:%S")
