"""distilabel 1.5.3: the private names curation borrows, and the log lines it reads.

Importing this module checks the installed version first. What is borrowed (each checked by
tests/upstream/test_distilabel_contract.py):

- `BasePipeline`'s load-status bookkeeping (`_STEP_LOAD_FAILED_CODE`, `_STEP_UNLOADED_CODE`,
  `_steps_load_status_lock`, `_get_steps_load_status`, `_stop_called`) and its `_run_steps` hook,
  which pipelines/local_pipeline.py overrides to notice loaded steps sooner;
- `BasePipeline._cache_location`, the folders of a run's cache (`cache_location`);
- `distilabel.utils.logging.stop_logging`, which ends the log listener a failed run leaves;
- the `Task` hooks pipelines/steps.py overrides or calls (`_format_inputs`,
  `_format_structured_output`) and `Step._logger`, through which a step's records reach the
  main process;
- `LlamaCppEmbeddings` reading its llama.cpp model from `_model` (curation/embeddings.py sets it);
- for `--budget` (curation/cost.py's ledger, kept by pipelines/local_pipeline.py): the batch-flow
  hooks `_send_batch_to_step`, `_process_batch`, `_manage_batch_flow`, `_handle_stop` and `_stop`;
  the batch manager's `_steps`, `add_batch(prepend=)` and `get_batch`; and its step buffers'
  `input_batch_size`, `accumulate`, `data`, `step_offset` and `next_expected_seq_no`. There too, a
  1.5.3 bug is fixed at the stop: a batch read to its end is recorded as (seq_no, its length), and a
  resume reloaded it as an empty batch out of order, so the step waited forever.

A global step that fails under `--ray`: `RayPipeline._run_step` starts each step's actor with
`run.remote()` and drops the result, so a global step's exception (clean-up keeping no instruction
raises `NoUsableInstructions`) reached no one and the run waited forever. The local pipeline's error
callback logs the traceback and stops the run (`_stop`, which puts `None` on the output queue); the
step wrapper the Ray pipeline uses (`distilabel.pipeline.ray._StepWrapper`, replaced here by
`StepWrapperReportingFailures`) now does the same from the actor.

Failed batches: distilabel reports a batch it gave up on only as two log records from the step's
worker (`_StepWrapper._non_generator_process_loop` in distilabel/pipeline/step_wrapper.py), then
sends the batch on filled with `None`s; it exposes no other signal (no counter, no exception, no
attribute). So those records are read here, and only here (`failed_batch_step`,
`traceback_reason`), against the exact formats below.
"""

from __future__ import annotations

from curation.upstream import require

VERSION = require("distilabel", "1.5.3")

# Imported after the version check, so another distilabel fails on the line above, not on
# whichever of these it renamed.
import distilabel.pipeline.ray
from distilabel.pipeline.base import _STEP_LOAD_FAILED_CODE, _STEP_UNLOADED_CODE
from distilabel.pipeline.step_wrapper import _StepWrapper, _StepWrapperException
from distilabel.utils.logging import stop_logging

__all__ = [
    "FAILED_BATCH_FORMAT", "SUBPROCESS_TRACEBACK_FORMAT", "VERSION", "_STEP_LOAD_FAILED_CODE", "_STEP_UNLOADED_CODE",
    "StepWrapperReportingFailures", "cache_location", "failed_batch_step", "steps_load_status", "stop_called", "stop_logging", "traceback_reason",
]

# distilabel/pipeline/step_wrapper.py (1.5.3), logged at WARNING by the step's logger for a batch
# a non-global step failed on, then the traceback; pipeline/local.py logs the same traceback line
# (at ERROR) for a failed global step.
FAILED_BATCH_FORMAT = "⚠️ Processing batch {seq_no} with step '{step}' failed. Sending empty batch filled with `None`s..."
SUBPROCESS_TRACEBACK_FORMAT = "Subprocess traceback:\n\n{traceback}"
_FAILED_BATCH_START = FAILED_BATCH_FORMAT.split("{seq_no}", 1)[0]
_STEP_START, _STEP_END = "with step '", "' failed."
_TRACEBACK_START = SUBPROCESS_TRACEBACK_FORMAT.split("{traceback}", 1)[0].rstrip("\n")


def failed_batch_step(message: str) -> str | None:
    """The step's name when `message` is distilabel's record of a batch it gave up on, else None."""
    if not message.startswith(_FAILED_BATCH_START) or _STEP_END not in message:
        return None
    return message.split(_STEP_START, 1)[-1].rsplit(_STEP_END, 1)[0]


def traceback_reason(message: str) -> str | None:
    """The exception line (`Type: text`) when `message` is distilabel's record of a worker's
    traceback, else None."""
    if not message.startswith(_TRACEBACK_START):
        return None
    lines = [line for line in message.splitlines() if line.strip()]
    return lines[-1].strip() if len(lines) > 1 else None


def cache_location(pipeline) -> dict:
    """The paths of a pipeline's cache for its current steps: keys `pipeline`, `batch_manager`,
    `steps_data`, `data`, `batch_input_data`, `log_file`, `stages_file`."""
    return pipeline._cache_location


def steps_load_status(pipeline, steps: list[str]) -> dict[str, int]:
    """{step: replicas loaded, or a _STEP_*_CODE} for `steps`, read under the pipeline's lock."""
    with pipeline._steps_load_status_lock:
        return pipeline._get_steps_load_status(steps)


def stop_called(pipeline) -> bool:
    """Whether the pipeline was asked to stop (Ctrl+C, or a failed global step)."""
    return bool(pipeline._stop_called)


class StepWrapperReportingFailures(_StepWrapper):
    """distilabel's step wrapper, which under `RayPipeline` also reports a failed global step: the
    error callback of the local pipeline (`Pipeline._error_callback`: the traceback in the log, then
    `_stop`, i.e. `None` on the output queue) done by the actor, as Ray drops the actor's result."""

    def run(self) -> str:
        try:
            return super().run()
        except _StepWrapperException as exc:
            if self.ray_pipeline and not exc.is_load_error and self.step.is_global:
                self.step._logger.error(f"An error occurred in global step '{self.step.name}'")
                self.step._logger.error(SUBPROCESS_TRACEBACK_FORMAT.format(traceback=exc.formatted_traceback))
                self.output_queue.put(None)
                return self.step.name  # reported: raised, Ray would print it again as an unhandled error
            raise


distilabel.pipeline.ray._StepWrapper = StepWrapperReportingFailures
