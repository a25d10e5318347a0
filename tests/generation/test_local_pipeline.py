"""The recipes' Pipeline (pipelines.local_pipeline): distilabel's, without its 2.5 s wait per load stage."""

import time

from distilabel.steps import LoadDataFromDicts, StepInput, step

from curation.generate import run_pipeline
from pipelines.local_pipeline import Pipeline


@step(inputs=["q"], outputs=["instruction"], step_type="global")
def Dedup(inputs: StepInput):
    yield [{"instruction": q} for q in dict.fromkeys(row["q"] for row in inputs)]


@step(inputs=["instruction"], outputs=["instruction", "length"])
def Measure(inputs: StepInput):
    yield [{**row, "length": len(row["instruction"])} for row in inputs]


def test_a_three_stage_pipeline_runs_without_distilabels_stage_poll(tmp_path, monkeypatch):
    """Three load stages (a global step in the middle); distilabel's own stage wait never sleeps."""
    sleeps = []
    real_sleep = time.sleep

    def recording_sleep(seconds):
        sleeps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", recording_sleep)
    with Pipeline(name="three-stages", cache_dir=str(tmp_path / "cache")) as pipeline:
        load = LoadDataFromDicts(name="load", data=[{"q": "What is rain?"}, {"q": "What is rain?"}, {"q": "Why?"}])
        clean = Dedup(name="clean")
        measure = Measure(name="measure")
        load >> clean >> measure
    rows = run_pipeline(pipeline, fresh=True, log_file=tmp_path / "run.log")

    assert sorted((r["instruction"], r["length"]) for r in rows) == [("What is rain?", 13), ("Why?", 4)]
    log = (tmp_path / "run.log").read_text()
    assert log.count("have been loaded!") == 3  # the three stages, each waited for
    assert 2.5 not in sleeps  # BasePipeline._run_stage_steps_and_wait's poll interval
