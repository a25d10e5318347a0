"""The private names of distilabel 1.5.3 that curation uses (curation/upstream/distilabel.py), each with the shape
relied on, and the shim refusing another distilabel in one line.

The failed-batch log lines are produced by distilabel's own step worker (`_StepWrapper`), run in this process on a
step that raises, so the parsing is checked against what distilabel writes, not against a copy of its format.
"""

import inspect
import logging
import queue
import subprocess
import sys
from pathlib import Path

import pytest
from distilabel.models.embeddings import LlamaCppEmbeddings
from distilabel.pipeline import Pipeline as DistilabelPipeline
from distilabel.pipeline.base import BasePipeline
from distilabel.pipeline.batch import _Batch
from distilabel.pipeline.step_wrapper import _StepWrapper
from distilabel.steps import Step, StepInput
from distilabel.steps.tasks import ComplexityScorer, QualityScorer, Task, UltraFeedback

from curation.upstream import distilabel as upstream
from tests.upstream.fake_version import ROOT, assert_refused_in_one_line, environment_with_version, import_with_version


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


class Explodes(Step):
    """A step whose every batch fails, as a backend gone away makes a task's batch fail."""

    @property
    def inputs(self):
        return ["instruction"]

    @property
    def outputs(self):
        return ["generation"]

    def process(self, inputs: StepInput):
        raise ValueError("the backend went away")
        yield inputs


@pytest.fixture
def pipeline(tmp_path):
    with DistilabelPipeline(name="contract", cache_dir=tmp_path) as pipe:
        Explodes(name="explodes")
    return pipe


@pytest.fixture
def failed_batch_records(pipeline):
    """The messages distilabel's worker logs for one batch that its step failed on."""
    step = pipeline.dag.get_step("explodes")["step"]
    step.load()
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect()
    step._logger.addHandler(handler)
    try:
        inputs, outputs = queue.Queue(), queue.Queue()
        inputs.put(_Batch(seq_no=7, step_name="explodes", last_batch=True, data=[[{"instruction": "hi"}]]))
        _StepWrapper(step=step, replica=0, input_queue=inputs, output_queue=outputs,
                     load_queue=queue.Queue())._non_generator_process_loop()
    finally:
        step._logger.removeHandler(handler)
    # Sent on filled with None: why a failed batch must be noticed from the log at all.
    assert outputs.get_nowait().data == [[{"instruction": "hi", "generation": None}]]
    return messages


def test_a_failed_batch_is_logged_in_the_format_read(failed_batch_records):
    assert upstream.FAILED_BATCH_FORMAT.format(seq_no=7, step="explodes") in failed_batch_records
    assert [upstream.failed_batch_step(m) for m in failed_batch_records if upstream.failed_batch_step(m)] == ["explodes"]


def test_the_failures_traceback_is_logged_in_the_format_read(failed_batch_records):
    reasons = [upstream.traceback_reason(m) for m in failed_batch_records]
    assert [r for r in reasons if r] == ["ValueError: the backend went away"]


def test_load_status_codes_are_distinct_from_any_replica_count():
    codes = {upstream._STEP_LOAD_FAILED_CODE, upstream._STEP_UNLOADED_CODE}
    assert len(codes) == 2 and all(isinstance(c, int) and c < 0 for c in codes)


def test_run_steps_is_the_hook_that_starts_a_stage():
    assert parameters(BasePipeline._run_steps) == ["self", "steps"]
    assert "self._run_steps(" in inspect.getsource(BasePipeline._run_stage_steps_and_wait)


def test_load_status_is_read_under_the_pipelines_lock(pipeline):
    assert parameters(BasePipeline._get_steps_load_status) == ["self", "steps"]
    assert hasattr(pipeline._steps_load_status_lock, "__enter__")
    pipeline._steps_load_status["explodes"] = 1
    assert upstream.steps_load_status(pipeline, ["explodes"]) == {"explodes": 1}


def test_the_budget_hooks_have_the_shapes_the_local_pipeline_overrides():
    """pipelines/local_pipeline.py keeps --budget through these (curation.cost's ledger)."""
    from distilabel.pipeline.batch_manager import _BatchManager, _BatchManagerStep
    from distilabel.pipeline.local import Pipeline as LocalPipeline

    assert parameters(BasePipeline._send_batch_to_step) == ["self", "batch"]
    assert parameters(BasePipeline._process_batch) == ["self", "batch", "send_last_batch_flag"]
    assert parameters(BasePipeline._manage_batch_flow) == ["self", "batch"]
    assert parameters(BasePipeline._handle_stop) == ["self"]
    assert parameters(LocalPipeline._stop) == ["self", "acquire_lock"]
    # What a stop does with queued batches, which the ledger does too once the budget is spent.
    assert "_add_batches_back_to_batch_manager" in inspect.getsource(BasePipeline._handle_stop)
    assert parameters(_BatchManager.add_batch) == ["self", "to_step", "batch", "prepend"]
    assert parameters(_BatchManager.get_batch) == ["self", "step_name"]
    assert "steps" in parameters(_BatchManager.__init__)
    assert {"input_batch_size", "accumulate", "step_offset", "next_expected_seq_no", "data"} <= set(
        _BatchManagerStep.__dataclass_fields__)


def test_stop_called_is_a_flag_set_on_stop(pipeline):
    assert upstream.stop_called(pipeline) is False
    assert "self._stop_called = True" in inspect.getsource(DistilabelPipeline._stop)


def test_dag_answers_what_the_local_pipeline_and_report_progress_ask(pipeline):
    from distilabel.constants import STEP_ATTR_NAME

    assert isinstance(pipeline.dag.get_step("explodes")[STEP_ATTR_NAME], Explodes)
    assert list(pipeline.dag.get_step_successors("explodes")) == []
    assert pipeline.dag.get_step_replica_count("explodes") == 1


def test_cache_location_holds_one_executions_files_in_one_folder(pipeline, tmp_path):
    location = upstream.cache_location(pipeline)
    assert {"pipeline", "batch_manager", "steps_data", "log_file", "stages_file"} <= set(location)
    assert all(isinstance(path, Path) and path.is_relative_to(tmp_path) for path in location.values())
    # forget_cached_outputs empties batch_manager's folder but keeps these two, found there by name.
    execution = location["batch_manager"].parent
    assert location["log_file"].parent == execution == location["pipeline"].parent == location["stages_file"].parent


def test_stop_logging_takes_no_arguments():
    assert parameters(upstream.stop_logging) == []
    upstream.stop_logging()  # nothing running: does nothing


def test_a_step_logs_through_its_logger_once_loaded(pipeline):
    step = pipeline.dag.get_step("explodes")["step"]
    step.load()
    assert isinstance(step._logger, logging.Logger)


def test_format_inputs_is_what_a_task_formats_each_row_with():
    assert parameters(Task._format_inputs) == ["self", "inputs"]
    assert "self._format_inputs(" in inspect.getsource(Task.process)


@pytest.mark.parametrize("task", [UltraFeedback, ComplexityScorer, QualityScorer])
def test_judges_parse_structured_answers(task):
    assert parameters(task._format_structured_output) == ["self", "output", "input"]


def test_llama_cpp_embeddings_encode_with_the_model_load_sets():
    assert "self._model" in inspect.getsource(LlamaCppEmbeddings.load)
    assert "self._model" in inspect.getsource(LlamaCppEmbeddings.encode)


def test_another_distilabel_is_refused_in_one_line(tmp_path):
    result = import_with_version(tmp_path, "curation.upstream.distilabel", "distilabel", "9.9.9")
    assert_refused_in_one_line(result, "distilabel", "9.9.9", "1.5.3")


def test_generate_refuses_another_distilabel_in_one_line_before_generating(tmp_path):
    out = tmp_path / "batch"
    result = subprocess.run([sys.executable, "-c", "from curation.cli import main; main()", "generate", "prompt",
                             "--num-rows", "1", "--out", str(out)], capture_output=True, text=True, timeout=300,
                            cwd=ROOT, env=environment_with_version(tmp_path, "distilabel", "9.9.9"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: distilabel 9.9.9 is installed, but curation was written for distilabel 1.5.3",
        "Hint: pip install 'distilabel==1.5.3' in this environment",
    ]
    assert not out.exists()


def test_the_installed_distilabel_is_accepted():
    assert upstream.VERSION == "1.5.3"


class GlobalExplodes(Explodes):
    """A global step that fails, as clean-up does when it keeps no instruction."""

    @property
    def is_global(self) -> bool:
        return True


@pytest.mark.parametrize("ray_pipeline", [True, False])
def test_a_failed_global_step_is_reported_by_the_ray_step_wrapper(tmp_path, ray_pipeline):
    """RayPipeline starts its actors through `distilabel.pipeline.ray._StepWrapper` and drops their results:
    the wrapper put there logs the failure in the format read and ends the run (None on the output queue),
    as the local pipeline's error callback does; outside Ray it raises, for that callback."""
    import distilabel.pipeline.ray

    from distilabel.pipeline.step_wrapper import _StepWrapperException

    assert distilabel.pipeline.ray._StepWrapper is upstream.StepWrapperReportingFailures
    with DistilabelPipeline(name="contract-global", cache_dir=tmp_path):
        step = GlobalExplodes(name="explodes")
    step.load()
    reasons: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            reasons.append(upstream.traceback_reason(record.getMessage()))

    handler = Collect()
    step._logger.addHandler(handler)
    inputs, outputs = queue.Queue(), queue.Queue()
    inputs.put(_Batch(seq_no=0, step_name="explodes", last_batch=True, data=[[{"instruction": "hi"}]]))
    wrapper = upstream.StepWrapperReportingFailures(step=step, replica=0, input_queue=inputs, output_queue=outputs,
                                                    load_queue=queue.Queue(), ray_pipeline=ray_pipeline)
    try:
        if ray_pipeline:
            assert wrapper.run() == "explodes"
            assert "ValueError: the backend went away" in reasons
        else:
            with pytest.raises(_StepWrapperException):
                wrapper.run()
            assert not any(reasons)
        # distilabel's worker sends the failed batch on empty either way; the end of the run only on Ray.
        assert outputs.get_nowait().data == [[]]
        assert [outputs.get_nowait() for _ in range(outputs.qsize())] == ([None] if ray_pipeline else [])
    finally:
        step._logger.removeHandler(handler)
