"""Run a recipe and write its batch: seeds → distilabel pipeline → cleaned rows → batch folder."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import warnings
from pathlib import Path

from curation import secrets, settings
from curation.backends import check_reachable, parse_backend
from curation.batch import Batch, ensure_no_batch, new_batch_id, package_versions, write_batch
from curation.errors import BackendUnavailable, BadInput, GenerationFailed
from curation.logs import LOG_FILE, finish_progress, pipeline_display
from curation.options import GenerationOptions
from curation.seeds import SeedRows, load_seeds, name_sources

# With --dedup or --decontaminate, --out DIR holds the last child batch (the command's result), DIR-generated
# the generated one and, with both, DIR-deduped the dedup child.
GENERATED_SUFFIX = "-generated"
STEP_SUFFIX = {"generated": GENERATED_SUFFIX, "dedup": "-deduped"}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def generate_batch(options: GenerationOptions, *, out: Path | None = None, display: str = "progress",
                   seeds: SeedRows | None = None) -> Batch:
    """Generate `options.num_rows` rows with `options.recipe` and write a complete batch folder.

    A re-run with the same recipe, seeds and options resumes from distilabel's cache
    (after an interruption) instead of starting over; `options.fresh` regenerates.
    `display` is "progress", "log" (distilabel's log on the console) or "quiet"; the
    full log always goes to the batch folder's generation.log. `seeds` (`curate watch`) are rows
    already read, in place of `options.seeds`.

    Rows made from a reviewed dataset's records name them (`source_record_id`).
    """
    # distilabel's pydantic models warn about their own field names on import: noise for users.
    warnings.filterwarnings("ignore", category=UserWarning, module="pydantic")
    # distilabel's version checked before anything runs on it; importing distilabel installs rich
    # tracebacks with locals, which protect() replaces.
    import curation.upstream.distilabel  # noqa: F401

    from pipelines import get_recipe
    from pipelines.recipe import RecipeContext

    secrets.protect(options.secrets())
    spec = get_recipe(options.recipe)
    if options.deita and spec.kind != "sft":
        raise BadInput(f"--deita scores instruction/response pairs; recipe {options.recipe!r} makes preference data")
    folders = _folders(out, options)
    generated_out = folders["generated"]
    for folder in set(folders.values()) - {None}:
        ensure_no_batch(folder)  # checked before generating, not only when writing
    info = spec.info
    _check_policy_options(options)
    benchmarks = _benchmarks(options)  # a bad --decontaminate source fails before any model loads
    seed_rows = seeds if seeds is not None else load_seeds(
        options.seeds, recipe=options.recipe, columns=info.seed_columns, required=info.seeds_required,
        candidates=info.candidates, workspace=options.seeds_workspace, agreement=options.agreement,
        min_submitted=options.min_submitted)
    examples = _examples(options, spec.info, seed_rows)
    judge_examples = _judge_examples(options, spec.info)
    backend_options = {"base_url": options.base_url, "api_key": options.api_key}
    backends = [parse_backend(b, **backend_options) for b in options.backends]
    judge = parse_backend(options.judge, **backend_options) if options.judge else None
    prices = _check_budget(options, [*backends, *([judge] if judge else [])])
    for backend in [*backends, *([judge] if judge else [])]:
        check_reachable(backend)

    ctx = RecipeContext(options=options, seeds=seed_rows, backends=backends, judge=judge,
                        cache_dir=str(settings.cache_dir()), examples=examples, judge_examples=judge_examples)
    batch_id = new_batch_id(options.recipe)
    out_dir = generated_out or settings.batches_dir() / batch_id
    started = _now()
    with _cluster(options.ray) as cluster:
        pipeline = spec.build(ctx)
        if cluster is not None:
            pipeline = pipeline.ray()
        ledger = _ledger(pipeline, [*backends, *([judge] if judge else [])], prices, options)
        output = run_pipeline(pipeline, fresh=options.fresh, display=display, log_file=out_dir / LOG_FILE,
                              total=options.num_rows, label=options.recipe,
                              count_usable=lambda out: len(spec.to_rows(out, ctx)), ledger=ledger)
        if cluster is not None:
            from curation.ray_cluster import step_nodes

            cluster["steps"] = step_nodes(pipeline.name, set(pipeline.dag))
    rows = name_sources(spec.to_rows(output, ctx), seed_rows)
    if not rows:
        raise GenerationFailed(
            f"recipe {options.recipe!r} produced no usable rows ({len(output)} generated, all dropped by clean-up)",
            hint=f"try more --num-rows, more or better seeds, or a larger model (--backend); log: {out_dir / LOG_FILE}",
        )
    from curation.deita_select import after_generation

    rows, post = after_generation(rows, options)  # --embed, --deita-select: embeddings, Deita selection
    manifest = {
        **post,
        "batch_id": batch_id,
        "recipe": options.recipe,
        "kind": spec.kind,
        "backend": backends[0].describe(),
        "backends": [b.describe() for b in backends],
        "model": backends[0].model_label,
        "judge": (judge or backends[0]).describe() if spec.name == "ultrafeedback" or options.deita else None,
        "parameters": options.parameters(),
        **seed_rows.manifest_entries(),  # seed_file + seed_sha256, or the parent batch or dataset
        "seed_rows": len(seed_rows),
        "rows": {"requested": options.num_rows, "generated": len(output), "kept": len(rows),
                 "dropped": len(output) - len(rows)},
        "started_at": started,
        "finished_at": _now(),
        "log_file": LOG_FILE,
        "versions": package_versions(),
    }
    if examples is not None:  # which accepted records steered the prompts (never rows of the batch)
        manifest["examples"] = examples.entry
    if judge_examples is not None:  # the judge's corrections: held out of `curate report`'s agreement figures
        manifest["judge_examples"] = judge_examples.entry
    if cluster is not None:
        manifest["cluster"] = cluster
    manifest["cost"] = ledger.entry() if ledger is not None else {
        "counted": "unavailable", "source": "not counted: the ledger hooks into the recipes' local pipeline, "
                                            "not distilabel's RayPipeline (--ray)"}
    if ledger is not None and ledger.held:  # --budget/--budget-usd spent: the rows that finished every step
        manifest["stopped"] = "budget"
        manifest["cost"]["budget"].update(stopped_at_tokens=ledger.spent_tokens(), stopped_at_usd=ledger.spent_usd(),
                                          **({"uncounted": True} if ledger.uncounted() else {}))
    batch = write_batch(out_dir, rows, manifest)
    if options.dedup is not None:  # a child batch without the near-duplicates
        from curation.dedup import dedup_batch

        batch = dedup_batch(batch, threshold=options.dedup, out=folders["dedup"])
    if benchmarks:  # then one without the rows a benchmark shares words with
        from curation.decontaminate import DEFAULT_NGRAM, decontaminate_batch

        batch = decontaminate_batch(batch, benchmarks, n=options.ngram or DEFAULT_NGRAM, out=folders["decontaminate"])
    return batch


def _folders(out: Path | None, options: GenerationOptions) -> dict[str, Path | None]:
    """Where each batch the command makes goes: --out names the result (the last child), the generated
    batch goes beside it as DIR-generated, and a dedup child that decontamination follows as DIR-deduped.
    Without --out, each goes to the batches folder under its own id (None)."""
    steps = ["generated", *(["dedup"] if options.dedup is not None else []),
             *(["decontaminate"] if options.decontaminate else [])]
    folders: dict[str, Path | None] = {"generated": None, "dedup": None, "decontaminate": None}
    for step in steps:
        if out is not None:
            folders[step] = out if step == steps[-1] else out.with_name(f"{out.name}{STEP_SUFFIX[step]}")
    return folders


def _benchmarks(options: GenerationOptions) -> list:
    """The --decontaminate benchmarks, read (and checked) before anything is generated."""
    if not options.decontaminate:
        return []
    from curation.decontaminate import load_benchmark

    return [load_benchmark(source) for source in options.decontaminate]


def _ledger(pipeline, specs, prices: dict, options: GenerationOptions):
    """The run's cost ledger (curation.cost), which hooks into the recipes' local Pipeline; None on Ray."""
    from curation.cost import Ledger, model_labels, step_models
    from curation.token_count import counter_for
    from pipelines.local_pipeline import Pipeline as LocalPipeline

    if not isinstance(pipeline, LocalPipeline):
        return None
    # Each model's tokenizer counts the calls its backend reports no usage for (loaded only then).
    counters = {spec.model_label: (lambda spec=spec: counter_for(spec)) for spec in specs}
    return Ledger(step_models(pipeline, model_labels(specs)), prices=prices,
                  budget_tokens=options.budget, budget_usd=options.budget_usd, counters=counters)


def _check_budget(options: GenerationOptions, specs) -> dict:
    """The price table; --budget-usd refused, before any model loads, for a model without a price
    and, with --budget too, on a Ray cluster (the budget is kept by the local pipeline)."""
    from curation.cost import check_priced, load_prices

    prices = load_prices()
    if (options.budget is not None or options.budget_usd is not None) and options.ray is not None:
        raise BadInput("--budget and --budget-usd are kept by the local pipeline, not on a Ray cluster (--ray)",
                       hint="drop --ray, or drop the budget")
    if options.budget_usd is not None:
        check_priced([spec.model_label for spec in specs], prices)
    return prices


def _check_policy_options(options: GenerationOptions) -> None:
    """--agreement/--min-submitted choose the records of an Argilla dataset: refuse them without one."""
    from curation.reviewed_seeds import is_reviewed_source

    sources = (options.seeds, options.examples, options.judge_examples)
    if (options.min_submitted is not None or options.agreement != "majority") and not any(
            is_reviewed_source(source) for source in sources):
        raise BadInput("--agreement and --min-submitted choose the records of an Argilla dataset that seed a "
                       "batch or give it examples",
                       hint="use them with --seeds, --examples or --judge-examples argilla:DATASET")


def _examples(options: GenerationOptions, info, seed_rows):
    """The worked examples of `--examples` (curation.examples), read before any model loads; None without."""
    if options.examples is None:
        return None
    from curation.examples import load_examples, parse_examples
    from curation.seeds import has_candidates

    parse_examples(options.examples)  # a malformed value fails before the recipe's check
    if not info.examples:
        raise BadInput(f"recipe {info.name!r} takes no --examples",
                       hint="examples steer prompt, self-instruct, evol-instruct, responses and ultrafeedback")
    if info.candidates and any(has_candidates(row) for row in seed_rows):
        # The seeds' candidates are rated as they are: no response is written, no prompt to steer.
        raise BadInput(f"recipe {info.name!r} writes no response from seeds that carry candidates "
                       "(instruction + generations), so --examples would reach no prompt",
                       hint="pass --examples to the run that wrote the candidates (responses), or "
                            "--judge-examples to steer the judge")
    return load_examples(options.examples, workspace=options.seeds_workspace, agreement=options.agreement,
                         min_submitted=options.min_submitted)


def _judge_examples(options: GenerationOptions, info):
    """The judge's corrections of `--judge-examples` (curation.judge_examples), read before any model
    loads; None without."""
    if options.judge_examples is None:
        return None
    from curation.examples import parse_examples
    from curation.judge_examples import OPTION, load_judge_examples

    parse_examples(options.judge_examples, OPTION)  # a malformed value fails before the recipe's check
    if not info.judge:
        from pipelines import RECIPES

        judged = ", ".join(name for name, recipe in RECIPES.items() if recipe.judge)
        raise BadInput(f"recipe {info.name!r} has no UltraFeedback judge to correct: it takes no {OPTION}",
                       hint=f"{OPTION} corrects the judge of {judged}")
    return load_judge_examples(options.judge_examples, workspace=options.seeds_workspace,
                               agreement=options.agreement, min_submitted=options.min_submitted)


def _cluster(address: str | None):
    """The Ray cluster to run on (`--ray`), or nothing for a local run."""
    if address is None:
        return contextlib.nullcontext(None)
    from curation.ray_cluster import connected

    return connected(address)


class StepFailures(logging.Handler):
    """Collects the batches distilabel gave up on: it logs each, then sends it on filled with `None`s.

    distilabel 1.5.3 (`_StepWrapper._impute_step_outputs`) caches such a batch like any other,
    so a re-run would replay its rows as empty; `run_pipeline` fails the run instead and drops
    the cached data, so the re-run generates those rows again.
    """

    def __init__(self):
        super().__init__()
        self.failed: dict[str, int] = {}
        self.reason: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # distilabel reports a failed batch only in its log (see curation.upstream.distilabel).
        from curation.upstream.distilabel import failed_batch_step, traceback_reason

        message = record.getMessage()
        if (step := failed_batch_step(message)) is not None:
            self.failed[step] = self.failed.get(step, 0) + 1
        elif self.reason is None:
            self.reason = traceback_reason(message)

    def error(self, label: str, usable_rows: int, log_file: Path):
        """The one-line error for the failed batches (exit 1)."""
        steps = ", ".join(f"{step!r} ({n} batch{'es' if n > 1 else ''})" for step, n in sorted(self.failed.items()))
        reason = secrets.redact(" ".join((self.reason or "see the log").split()))
        hint = f"nothing was saved or cached as done: run the same command again to generate them; log: {log_file}"
        if not usable_rows:
            return GenerationFailed(f"recipe {label!r} produced no usable rows: {steps} failed: {reason}", hint=hint)
        backend = reason.split(".", 1)[0] in ("openai", "httpx", "httpcore", "huggingface_hub", "ollama")
        kind = BackendUnavailable if backend else GenerationFailed
        return kind(f"generation failed after distilabel's retries in {steps}: {reason}", hint=hint)


def forget_cached_outputs(pipeline) -> None:
    """Drop what distilabel cached of this run: its steps' outputs and the execution's state.

    The execution's stages.json too: with it, a re-run skips the stages it lists as done and
    waits for their outputs forever. pipeline.log and pipeline.yaml stay, for the record.
    """
    from curation.upstream.distilabel import cache_location

    location = cache_location(pipeline)
    shutil.rmtree(location["steps_data"], ignore_errors=True)
    execution = location["batch_manager"].parent
    for path in execution.iterdir() if execution.is_dir() else ():
        if path.name in (location["log_file"].name, location["pipeline"].name):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def run_pipeline(pipeline, *, fresh: bool = False, display: str = "quiet", log_file: Path,
                 total: int = 0, label: str = "generating", count_usable=len, ledger=None) -> list[dict]:
    """Run a recipe's distilabel pipeline, its log into `log_file`; returns its leaf rows.

    A batch that a step failed on (a server gone, timeouts, 5xx after distilabel's retries)
    fails the run in one line (`count_usable(rows)` tells whether anything usable was made), and the cached outputs are dropped so a re-run regenerates them.
    `ledger` (curation.cost.Ledger) counts the tokens as the run goes and keeps its budget.
    """
    from pipelines.steps import report_progress

    report_progress(pipeline)
    if ledger is not None:  # after report_progress: the cache's folder depends on every step
        from curation.cost import ledger_path

        ledger.attach(ledger_path(pipeline), fresh=fresh)
        pipeline.ledger = ledger
    failures = StepFailures()
    with pipeline_display(log_file, total=total, label=label, display=display) as handlers:
        try:
            distiset = pipeline.run(use_cache=not fresh, logging_handlers=[*handlers, failures])
        except Exception as exc:  # distilabel re-raises step failures as bare RuntimeErrors
            reason = secrets.redact(" ".join(str(exc).split()) or type(exc).__name__)
            raise GenerationFailed(f"the generation pipeline failed: {reason}", hint=f"log: {log_file}") from None
        rows = next(iter(distiset.values()))["train"].to_list() if distiset is not None and len(distiset) else []
        if failures.failed:
            forget_cached_outputs(pipeline)
            raise failures.error(label, count_usable(rows), log_file)
        if not rows and ledger is not None and ledger.held:
            raise GenerationFailed(
                f"the budget was spent ({ledger.spent_tokens():,} tokens) before any row finished every step",
                hint="a re-run with a larger --budget resumes from distilabel's cache, nothing spent is lost")
        if not rows:
            # CleanInstructions stopped the pipeline (nothing to answer): distilabel logged its traceback.
            if "NoUsableInstructions" in (failures.reason or ""):
                raise GenerationFailed(
                    f"recipe {label!r} produced no usable rows (clean-up kept none of the generated instructions)",
                    hint=f"try more --num-rows, more or better seeds, or a larger model (--backend); log: {log_file}",
                )
            raise GenerationFailed(
                "the generation stopped before any row was finished",
                hint=f"run the same command again: it resumes from distilabel's cache; log: {log_file}",
            )
        finish_progress(handlers, len(rows))
    return rows
