"""distilabel's local Pipeline, with each load stage noticed as soon as its steps are loaded.

distilabel 1.5.3 checks whether a stage's steps have loaded every 2.5 s
(`BasePipeline._run_stage_steps_and_wait`). A recipe has up to three stages (a global step,
such as clean-up or UltraFeedback's grouping, starts a new one), so most of a small batch's
start-up was that wait: a 1-row `prompt` run took 9 s, 7.5 s of them polling. This subclass
waits for the steps it has just started by checking every 50 ms, so distilabel's own check
finds them loaded the first time and never sleeps. Nothing else changes: same stages, same
load-status codes, same stop handling.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from distilabel.pipeline import Pipeline as DistilabelPipeline

from curation.upstream.distilabel import _STEP_LOAD_FAILED_CODE, _STEP_UNLOADED_CODE, steps_load_status, stop_called

POLL_SECONDS = 0.05


class Pipeline(DistilabelPipeline):
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
