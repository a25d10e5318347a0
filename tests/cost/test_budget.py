"""--budget: a run stops starting model calls once its tokens are spent, keeps the rows that finished,
and a re-run with a larger budget resumes from distilabel's cache.

Driven through `run_pipeline` on a pipeline of the recipes' own Pipeline class, with one row a
batch (the recipes send 8 to 16 rows a batch, too many for a quick test on the bundled model):
4 questions, answers of at most 8 tokens at temperature 0.
"""

from __future__ import annotations

from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

from curation.backends import BackendSpec, build_llm
from curation.cost import Ledger, model_labels, step_models
from curation.generate import run_pipeline
from pipelines.local_pipeline import Pipeline

QUESTIONS = ["What is rain?", "Name a primary color.", "What is a cat?", "Why is ice cold?"]
SPEC = BackendSpec("llamacpp")


def _pipeline(cache):
    with Pipeline(name="budget", cache_dir=str(cache)) as pipeline:
        load = LoadDataFromDicts(name="load", data=[{"instruction": q} for q in QUESTIONS])
        answer = TextGeneration(name="answer", input_batch_size=1,
                                llm=build_llm(SPEC, generation_kwargs={"max_new_tokens": 8, "temperature": 0.0}))
        load >> answer
    return pipeline


def _run(cache, log, budget):
    pipeline = _pipeline(cache)
    ledger = Ledger(step_models(pipeline, model_labels([SPEC])), budget_tokens=budget)
    rows = run_pipeline(pipeline, log_file=log, ledger=ledger)
    return rows, ledger


def test_a_spent_budget_keeps_the_finished_rows_and_a_larger_one_resumes_from_the_cache(tmp_path):
    rows, ledger = _run(tmp_path / "cache", tmp_path / "first.log", budget=1)
    # With a budget the step is given one batch at a time: the first answer spends past 1 token, and
    # the other three batches, kept back, never start. The row finished is the output.
    assert ledger.held and len(rows) == 1
    first = ledger.entry()["steps"]["answer"]
    assert first["calls"] == first["rows"] == 1
    assert ledger.spent_tokens() == first["input_tokens"] + first["output_tokens"] > 1
    assert first["model"] == "SmolLM2-135M-Instruct-Q4_1"

    rows_again, resumed = _run(tmp_path / "cache", tmp_path / "second.log", budget=100_000)
    assert not resumed.held
    assert sorted(r["instruction"] for r in rows_again) == sorted(QUESTIONS)
    again = [{k: r[k] for k in rows[0]} for r in rows_again]
    assert all(row in again for row in rows)  # the first run's rows, from the cache
    total = resumed.entry()["steps"]["answer"]
    assert total["calls"] == len(QUESTIONS)  # the first run's calls are not made again
    assert total["input_tokens"] > first["input_tokens"] and total["rows"] == 4


def test_curate_generate_stops_on_budget_with_a_complete_smaller_batch_then_resumes(curation_home, tmp_path):
    """`responses` sends 16 rows a batch: 33 rows make three, given to the step one at a time under a
    budget. A 1-token budget is spent by the first; the other two never start. The stop exits 0 with
    one line; the re-run with a larger budget resumes."""
    from click.testing import CliRunner

    from curation.batch import load_batch
    from curation.cli import main

    seeds = tmp_path / "questions.txt"
    seeds.write_text("".join(f"What is {n} plus {n}?\n" for n in range(33)), encoding="utf-8")
    args = ["generate", "responses", "--seeds", str(seeds), "-n", "33", "--max-new-tokens", "4", "-q"]

    stopped = CliRunner().invoke(main, [*args, "--budget", "1"], catch_exceptions=False)
    assert stopped.exit_code == 0, stopped.output
    line = stopped.output.strip()
    assert "\n" not in line and "stopped on the budget (1 tokens)" in line and "16 of 33 rows" in line
    batch = load_batch(line.rsplit("→ ", 1)[-1].split("; ", 1)[0])
    manifest = batch.manifest
    assert manifest["stopped"] == "budget" and manifest["rows"]["kept"] == len(batch.rows()) == 16
    spent = manifest["cost"]["total"]
    assert manifest["cost"]["budget"]["stopped_at_tokens"] == spent["input_tokens"] + spent["output_tokens"]
    assert spent["calls"] == 32  # 16 rows × 2 answers; the other 17 rows never started

    resumed = CliRunner().invoke(main, [*args, "--budget", "1000000"], catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    whole = load_batch(resumed.output.strip().rsplit("→ ", 1)[-1])
    assert "stopped" not in whole.manifest and whole.manifest["rows"]["kept"] == 33
    assert whole.manifest["cost"]["total"]["calls"] == 66  # the first run's 32 calls came from the cache
    first = {r["instruction"]: r["generations"] for r in batch.rows()}
    assert all(first[r["instruction"]] == r["generations"] for r in whole.rows() if r["instruction"] in first)
