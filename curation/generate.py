"""Run a recipe and write its batch: seeds → distilabel pipeline → cleaned rows → batch folder."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import warnings
from pathlib import Path

from curation import settings
from curation.backends import BackendSpec, check_reachable, parse_backend
from curation.batch import Batch, ensure_no_batch, file_sha256, new_batch_id, package_versions, write_batch
from curation.errors import BadInput, GenerationFailed
from curation.seeds import load_seeds


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def generate_batch(
    recipe: str,
    *,
    seeds: Path | None = None,
    num_rows: int = 10,
    backend: str | list[str] = "llamacpp",
    backend_options: dict | None = None,
    out: Path | None = None,
    show_progress: bool = True,
    judge: str | None = None,
    num_generations: int = 2,
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    deita: bool = False,
    fresh: bool = False,
) -> Batch:
    """Generate `num_rows` rows with `recipe` and write a complete batch folder.

    A re-run with the same recipe, seeds and options resumes from distilabel's cache
    (after an interruption) instead of starting over; `fresh=True` regenerates.
    """
    # distilabel's pydantic models warn about their own field names on import: noise for users.
    warnings.filterwarnings("ignore", category=UserWarning, module="pydantic")
    from pipelines import get_recipe
    from pipelines.recipe import RecipeContext

    spec = get_recipe(recipe)
    if num_rows < 1:
        raise BadInput(f"--num-rows must be at least 1, got {num_rows}")
    if deita and spec.kind != "sft":
        raise BadInput(f"--deita scores instruction/response pairs; recipe {recipe!r} makes preference data")
    if out is not None:
        ensure_no_batch(out)  # checked before generating, not only when writing
    seed_rows = load_seeds(seeds, recipe=recipe, columns=spec.seed_columns, required=spec.seeds_required)
    options = backend_options or {}
    backends = [parse_backend(b, **options) for b in ([backend] if isinstance(backend, str) else backend)]
    judge_spec = parse_backend(judge, **options) if judge else None
    for b in [*backends, *([judge_spec] if judge_spec else [])]:
        check_reachable(b)

    ctx = RecipeContext(
        seeds=seed_rows,
        num_rows=num_rows,
        backends=backends,
        judge=judge_spec,
        num_generations=num_generations,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        deita=deita,
        cache_dir=str(settings.cache_dir()),
    )
    batch_id = new_batch_id(recipe)
    started = _now()
    output = run_pipeline(spec.build(ctx), fresh=fresh, show_progress=show_progress)
    rows = spec.to_rows(output, ctx)
    if not rows:
        raise GenerationFailed(
            f"recipe {recipe!r} produced no usable rows ({len(output)} generated, all dropped by clean-up)",
            hint="try more --num-rows, more or better seeds, or a larger model (--backend)",
        )
    manifest = {
        "batch_id": batch_id,
        "recipe": recipe,
        "kind": spec.kind,
        "backend": backends[0].describe(),
        "backends": [b.describe() for b in backends],
        "model": backends[0].model_label,
        "judge": (judge_spec or backends[0]).describe() if spec.name == "ultrafeedback" or deita else None,
        "parameters": {
            "num_rows": num_rows,
            "num_generations": num_generations,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "deita": deita,
        },
        "seed_file": str(seeds) if seeds else None,
        "seed_sha256": file_sha256(seeds) if seeds else None,
        "seed_rows": len(seed_rows),
        "rows": {"requested": num_rows, "generated": len(output), "kept": len(rows), "dropped": len(output) - len(rows)},
        "started_at": started,
        "finished_at": _now(),
        "versions": package_versions(),
    }
    return write_batch(out or settings.batches_dir() / batch_id, rows, manifest)


def run_pipeline(pipeline, *, fresh: bool = False, show_progress: bool = True) -> list[dict]:
    """Run a recipe's distilabel pipeline (its log is the progress display); returns its leaf rows."""
    if fresh:
        shutil.rmtree(Path(pipeline._cache_dir) / pipeline.name / pipeline.signature, ignore_errors=True)
    if not show_progress:
        logging.getLogger("distilabel").setLevel(logging.WARNING)
    try:
        distiset = pipeline.run(use_cache=True)
    except Exception as exc:  # distilabel re-raises step failures as bare RuntimeErrors
        raise GenerationFailed(f"the generation pipeline failed: {exc}") from exc
    if distiset is None or not len(distiset):
        raise GenerationFailed(
            "the generation stopped before any row was finished",
            hint="run the same command again: it resumes from distilabel's cache",
        )
    leaf = next(iter(distiset.values()))
    return leaf["train"].to_list()
