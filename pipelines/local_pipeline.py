"""distilabel's local Pipeline, with each load stage noticed as soon as its steps are loaded.

distilabel 1.5.3 checks whether a stage's steps have loaded every 2.5 s
(`BasePipeline._run_stage_steps_and_wait`). A recipe has up to three stages (a global step,
such as clean-up or UltraFeedback's grouping, starts a new one), so most of a small batch's
start-up was that wait: a 1-row `prompt` run took 9 s, 7.5 s of them polling. This subclass
waits for the steps it has just started by checking every 50 ms, so distilabel's own check
finds them loaded the first time and never sleeps. Nothing else changes: same stages, same
load-status codes, same stop handling.

It also keeps the run's cost ledger (`curation.cost.Ledger`, set as `ledger` before `run`): each
LLM step's output batch is counted as it arrives. Once the ledger's budget is spent, a batch
bound for an LLM step is not sent but put back in distilabel's batch manager, as distilabel's own
stop does with batches still queued (`_add_batches_back_to_batch_manager`); when no step has work
left in hand, the pipeline stops through distilabel's `_stop` (what Ctrl+C calls). Before that,
rows the LLM steps finished are sent on through the steps after them whatever their number (those
steps would wait for `input_batch_size` rows), so every row that finished its LLM calls reaches
the leaves and is the run's output; distilabel's cache holds the rest: a re-run resumes with the
kept-back batches first. With a budget, an LLM step is given one batch per replica at a time (the
next when one comes back), so a spent budget is overrun by at most the batches in hand, and none
waits in a queue the step reads from while the pipeline takes batches back. A batch an LLM step
has already taken up finishes (and is paid for), as does any batch queued before it (a run without
a budget, or one stopped by another LLM step's spending): a step's rows go on in seq_no order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from distilabel.constants import STEP_ATTR_NAME
from distilabel.pipeline import Pipeline as DistilabelPipeline

from curation.upstream.distilabel import _STEP_LOAD_FAILED_CODE, _STEP_UNLOADED_CODE, steps_load_status, stop_called

POLL_SECONDS = 0.05


class Pipeline(DistilabelPipeline):
    ledger = None  # curation.cost.Ledger of this run, or None
    _in_hand: dict[str, int] = {}  # batches sent to each step and not yet back (generators aside)
    _out: dict[str, frozenset] = {}  # the seq_nos of those batches, per LLM step
    _top: dict[str, int] = {}  # the highest seq_no each LLM step has sent back
    _held: list = []  # batches kept from LLM steps once the budget is spent
    _waiting: dict[str, tuple] = {}  # with a budget: batches for each LLM step until it has a replica free
    _batch_sizes: dict[str, int] = {}  # steps' input_batch_size, lowered to flush their buffers at a stop

    def _handle_stop(self) -> None:
        # The kept-back batches join the batch manager's built batches, first in line on a resume.
        waiting = [batch for batches in self._waiting.values() for batch in batches]
        for batch in sorted([*self._held, *waiting], key=lambda b: (b.step_name, b.seq_no)):
            self._batch_manager.add_batch(to_step=batch.step_name, batch=batch, prepend=True)
        self._held, self._waiting = [], {}
        super()._handle_stop()
        for name, size in self._batch_sizes.items():  # the cache keeps the steps' own batch sizes
            buffer = self._batch_manager._steps[name]
            buffer.input_batch_size = size
            # distilabel 1.5.3 records a batch read to its end as (its seq_no, its length); a resume
            # reloads it as an empty batch, out of order, and the step waits forever. Flushed, the
            # buffer is empty: the next batch expected is where a resume starts.
            for predecessor, batches in buffer.data.items():
                if not batches and predecessor in buffer.next_expected_seq_no:
                    buffer.step_offset[predecessor] = (buffer.next_expected_seq_no[predecessor][0], 0)
        self._batch_sizes = {}

    def _send_batch_to_step(self, batch) -> None:
        ledger, step = self.ledger, batch.step_name
        if ledger is not None:
            if ledger.tracks(step) and ledger.spent():
                ledger.held = True
                if not self.dag.get_step(step)[STEP_ATTR_NAME].is_generator:
                    self._held = [*self._held, batch]  # back to the batch manager at the stop, not now:
                    # distilabel sends while the batch manager has a batch, and would get this one again
                return  # a generator is asked again on resume, from its last batch's seq_no
            if ledger.tracks(step) and ledger.budgeted() and len(self._out.get(step, ())) >= self._replicas(step):
                self._waiting = {**self._waiting, step: (*self._waiting.get(step, ()), batch)}
                return  # sent when the step sends one back (`_process_batch`)
            if not self.dag.get_step(step)[STEP_ATTR_NAME].is_generator:
                # A generator is asked again when a buffer runs dry, even after its last batch: no answer comes.
                self._in_hand = {**self._in_hand, step: self._in_hand.get(step, 0) + 1}
            if ledger.tracks(step):
                ledger.started(step)
                self._out = {**self._out, step: self._out.get(step, frozenset()) | {batch.seq_no}}
        super()._send_batch_to_step(batch)

    def _process_batch(self, batch, send_last_batch_flag: bool = True) -> None:
        super()._process_batch(batch, send_last_batch_flag=send_last_batch_flag)
        ledger, step = self.ledger, batch.step_name
        if ledger is not None:
            left = 0
            if not self.dag.get_step(step)[STEP_ATTR_NAME].is_generator:
                left = max(0, self._in_hand.get(step, 0) - 1)
                self._in_hand = {**self._in_hand, step: left}
            if ledger.tracks(step):
                self._out = {**self._out, step: self._out.get(step, frozenset()) - {batch.seq_no}}
                self._top = {**self._top, step: max(self._top.get(step, -1), batch.seq_no)}
                ledger.finished(step, batch.seq_no, batch.data[0] if batch.data else [], idle=left == 0)
                if ledger.spent():
                    self._take_back_model_batches()
                elif self._waiting.get(step) and not stop_called(self):
                    first, *rest = self._waiting[step]
                    self._waiting = {**self._waiting, step: tuple(rest)}
                    self._send_batch_to_step(first)

    def _replicas(self, step: str) -> int:
        return max(1, self.dag.get_step_replica_count(step))

    def _take_back_model_batches(self) -> None:
        """Put the batches still queued for LLM steps back in the batch manager (they are cached
        for a resume), as distilabel's `_add_batches_back_to_batch_manager` does on a stop.

        distilabel queues every batch a step can take at once, so without this a spent budget
        would still pay for all of them.
        """
        import queue

        from distilabel.constants import INPUT_QUEUE_ATTR_NAME
        from distilabel.pipeline.batch import _Batch

        for batches in self._waiting.values():
            self._held = [*self._held, *batches]
            self.ledger.held = self.ledger.held or bool(batches)
        self._waiting = {}
        for name in self.dag:
            node = self.dag.get_step(name)
            input_queue = node.get(INPUT_QUEUE_ATTR_NAME)
            if not self.ledger.tracks(name) or node[STEP_ATTR_NAME].is_generator or input_queue is None:
                continue
            others, queued = [], []  # others: distilabel's flags (last batch sent, stop), queued again in order
            while True:
                try:
                    batch = input_queue.get(block=False)
                except queue.Empty:
                    break
                (queued if isinstance(batch, _Batch) else others).append(batch)
            # The step may have taken a batch while these were taken from its queue (a race with its
            # own `get`). One queued before a batch the step took is sent on and paid for: the batch
            # manager hands a step's rows on in seq_no order, so the later rows would wait for it, unseen.
            running = self._out.get(name, frozenset()) - {b.seq_no for b in queued}
            reached = max([self._top.get(name, -1), *running])
            for batch in sorted(queued, key=lambda b: b.seq_no):
                if batch.seq_no < reached:
                    input_queue.put(batch)
                    continue
                self._held = [*self._held, batch]
                self._out = {**self._out, name: self._out[name] - {batch.seq_no}}
                self._in_hand = {**self._in_hand, name: max(0, self._in_hand.get(name, 0) - 1)}
                self.ledger.held = True
            for item in others:
                input_queue.put(item)

    def _manage_batch_flow(self, batch) -> None:
        super()._manage_batch_flow(batch)
        ledger = self.ledger
        if ledger is None or not ledger.held:
            return
        # Rows the LLM steps finished go on through the other steps before the stop, so they are
        # in this run's output; those steps would wait for `input_batch_size` rows that never come.
        if not any(n for step, n in self._in_hand.items() if ledger.tracks(step)):
            self._flush_buffers()
        if not any(self._in_hand.values()) and not stop_called(self):
            self._stop()  # a second call would ask distilabel to force the stop

    def _flush_buffers(self) -> None:
        """Send what waits in the buffers of steps without an LLM, whatever its size (global steps,
        which need all their input, aside); their batch sizes come back before the cache is written."""
        for name, buffer in self._batch_manager._steps.items():
            step = self.dag.get_step(name)[STEP_ATTR_NAME]
            if self.ledger.tracks(name) or buffer.accumulate or step.is_generator:
                continue
            if buffer.input_batch_size != 1:
                self._batch_sizes = {**self._batch_sizes, name: buffer.input_batch_size}
                buffer.input_batch_size = 1
            while batch := self._batch_manager.get_batch(name):
                self._send_batch_to_step(batch)

    def _run_steps(self, steps: Iterable[str]) -> None:
        steps = list(steps)
        super()._run_steps(steps=steps)
        while not stop_called(self) and not self._stage_settled(steps):
            time.sleep(POLL_SECONDS)

    def _stage_settled(self, steps: list[str]) -> bool:
        """Every step loaded (or already done), or one failed: what distilabel's own wait stops on."""
        status = steps_load_status(self, steps)
        if any(replicas == _STEP_LOAD_FAILED_CODE for replicas in status.values()):
            return True
        return all(replicas in (self.dag.get_step_replica_count(step), _STEP_UNLOADED_CODE)
                   for step, replicas in status.items())
