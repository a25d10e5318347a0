"""Completion tokens/s through a recipe vs raw llama-cpp on the same prompts, in the same run.

For the `prompt` and `ultrafeedback` recipes: run the recipe's distilabel pipeline on the
bundled SmolLM2 (fresh, no cache), collect every LLM call that produced a row of the
batch (its chat messages and completion tokens, from distilabel's metadata), then replay
exactly those messages through a bare `llama_cpp.Llama` with the same generation settings.
Both sides count completion tokens over wall time, model loading included; the recipe side
also pays for distilabel's process start-up and for candidates the clean-up dropped
(printed, since that waste is part of what a recipe costs).

    .venv/bin/python bench/generation.py [--rows 32] [--max-new-tokens 256]   # the CLI's defaults for tokens
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

SEEDS = [
    {"instruction": "Explain what a prime number is."},
    {"instruction": "Give three tips for saving money."},
    {"instruction": "Describe how rain forms."},
    {"instruction": "What is the capital of France and why is it famous?"},
]


def llm_calls(rows: list[dict], pipeline) -> list[dict]:
    """Every LLM call behind `rows`: step name, messages, completion tokens and generation kwargs."""
    from distilabel.constants import STEP_ATTR_NAME

    from pipelines.recipe import step_metadata

    calls = []
    for row in rows:
        for m in step_metadata(row):
            for key, stats in m.items():
                if not key.startswith("statistics_") or not stats:
                    continue
                step = key.removeprefix("statistics_")
                messages = m.get(f"raw_input_{step}")
                tokens = stats.get("output_tokens")
                tokens = tokens if isinstance(tokens, list) else [tokens]
                llm = pipeline.dag.get_step(step)[STEP_ATTR_NAME].llm
                for count in tokens:
                    calls.append({"step": step, "messages": messages, "tokens": count,
                                  "kwargs": dict(llm.generation_kwargs)})
    return calls


def raw_llama(calls: list[dict], model_path: str, n_threads: int) -> tuple[int, float]:
    """Replay `calls` through a bare llama_cpp.Llama: (completion tokens, seconds incl. load)."""
    from llama_cpp import Llama

    start = time.perf_counter()
    llama = Llama(model_path=model_path, n_ctx=2048, n_threads=n_threads, verbose=False)
    total = 0
    for call in calls:
        kwargs = call["kwargs"]
        extra = kwargs.get("extra_generation_kwargs") or {}
        out = llama.create_chat_completion(
            messages=call["messages"],
            max_tokens=kwargs.get("max_new_tokens", 128),
            temperature=kwargs.get("temperature", 1.0),
            **extra,
        )
        total += out["usage"]["completion_tokens"]
    return total, time.perf_counter() - start


def bench_recipe(name: str, rows: int, max_new_tokens: int, cache_dir: str) -> None:
    from curation.backends import parse_backend
    from curation.generate import run_pipeline
    from curation.model import bundled_model_path
    from curation.options import GenerationOptions
    from pipelines import get_recipe
    from pipelines.recipe import RecipeContext

    spec = parse_backend("llamacpp")
    options = GenerationOptions(name, num_rows=rows, max_new_tokens=max_new_tokens, fresh=True)
    ctx = RecipeContext(options=options, seeds=SEEDS if name != "prompt" else [], backends=[spec], cache_dir=cache_dir)
    recipe = get_recipe(name)
    pipeline = recipe.build(ctx)
    start = time.perf_counter()
    out_rows = run_pipeline(pipeline, fresh=True, display="quiet", log_file=Path(cache_dir) / f"{name}.log")
    recipe_seconds = time.perf_counter() - start
    kept = recipe.to_rows(out_rows, ctx)
    calls = llm_calls(out_rows, pipeline)
    recipe_tokens = sum(c["tokens"] for c in calls)
    raw_tokens, raw_seconds = raw_llama(calls, str(bundled_model_path()), spec.n_threads or min(os.cpu_count() or 2, 8))

    recipe_tps, raw_tps = recipe_tokens / recipe_seconds, raw_tokens / raw_seconds
    print(f"{name}: rows kept {len(kept)}/{rows}, llm calls replayed {len(calls)}")
    print(f"{name}: recipe   {recipe_tps:7.1f} completion tokens/s ({recipe_tokens} tokens in {recipe_seconds:.1f} s)")
    print(f"{name}: raw llama {raw_tps:7.1f} completion tokens/s ({raw_tokens} tokens in {raw_seconds:.1f} s)")
    print(f"{name}: ratio recipe/raw {recipe_tps / raw_tps:.2f} (overhead {100 * (1 - recipe_tps / raw_tps):.0f}%, target < 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--recipes", nargs="+", default=["prompt", "ultrafeedback"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CURATION_HOME"] = tmp
        for name in args.recipes:
            bench_recipe(name, args.rows, args.max_new_tokens, str(Path(tmp) / "cache"))


if __name__ == "__main__":
    main()
