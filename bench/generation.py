"""Completion tokens/s through a recipe vs raw llama-cpp on the same prompts, in the same run.

For the `prompt` and `ultrafeedback` recipes: run the recipe's distilabel pipeline on the
bundled SmolLM2 (fresh, no cache), collect every LLM call that produced a row of the
batch (its chat messages and completion tokens, from distilabel's metadata), then replay
exactly those messages through a bare `llama_cpp.Llama` with the same generation settings,
each call held to the recipe's own completion length (its end-of-text token banned, `max_tokens`
set to the recipe's count; a judge under a JSON grammar is only capped at that count): a sampled reply of another length would cost another time per
token, since each token attends to all the ones before it.
Both sides count completion tokens over wall time, model loading included; the recipe side
also pays for distilabel's process start-up and for candidates the clean-up dropped
(printed, since that waste is part of what a recipe costs).

With `--backend openai:MODEL --base-url URL` (or `vllm:MODEL`) the recipe runs against that
server instead, and the baseline is a bare `openai.AsyncOpenAI` client sending the same
messages with the same settings and the same concurrency (the most requests the recipe had
in flight) to the same server. Both sides go through one counting proxy on 127.0.0.1, which
reports the most requests in flight on each side.

    .venv/bin/python bench/generation.py [--rows 32 10] [--max-new-tokens 256]   # the CLI's defaults for tokens
    .venv/bin/python bench/generation.py --backend openai:smollm2 --base-url http://127.0.0.1:8000/v1 --recipes prompt
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
                order = pipeline.dag.get_step_trophic_level(step)
                for count in tokens:
                    calls.append({"step": step, "order": order, "messages": messages, "tokens": count,
                                  "kwargs": dict(llm.generation_kwargs)})
    calls.sort(key=lambda c: c["order"])
    return calls


def raw_llama(calls: list[dict], model_path: str, n_threads: int) -> tuple[int, float]:
    """Replay `calls` through a bare llama_cpp.Llama: (completion tokens, seconds incl. load)."""
    from llama_cpp import Llama

    start = time.perf_counter()
    llama = Llama(model_path=model_path, n_ctx=2048, n_threads=n_threads, verbose=False)
    ends = {llama.token_eos(), *(t for text in (b"<|im_end|>", b"<|endoftext|>")
                                 for t in llama.tokenize(text, add_bos=False, special=True))}
    no_end = {t: -1e9 for t in ends}  # so each call runs exactly as long as the recipe's did
    total = 0
    for call in calls:
        kwargs = call["kwargs"]
        extra = kwargs.get("extra_generation_kwargs") or {}
        out = llama.create_chat_completion(
            messages=call["messages"],
            max_tokens=call["tokens"],
            temperature=kwargs.get("temperature", 1.0),
            # a judge's JSON grammar ends its answer itself (only the end token is left to it then)
            logit_bias=None if "response_format" in extra else no_end,
            **extra,
        )
        total += out["usage"]["completion_tokens"]
    return total, time.perf_counter() - start


class CountingProxy:
    """A pass-through HTTP proxy on 127.0.0.1 that counts the requests in flight (now and at most)."""

    def __init__(self, upstream: str):
        import threading

        self.upstream = upstream.rstrip("/")
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()
        self.port = None

    def reset_peak(self) -> None:
        with self._lock:
            self.peak = self.in_flight

    def app(self):
        import logging

        import httpx

        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line a request, after distilabel's handlers close
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        client = httpx.AsyncClient(timeout=None, limits=httpx.Limits(max_connections=None))

        async def forward(request):
            with self._lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
                upstream = await client.request(request.method, f"{self.upstream}/{request.path_params['path']}",
                                                headers=headers, content=await request.body())
                return Response(upstream.content, status_code=upstream.status_code,
                                media_type=upstream.headers.get("content-type"))
            finally:
                with self._lock:
                    self.in_flight -= 1

        return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])

    def start(self) -> str:
        import socket
        import threading

        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"


def raw_openai(calls: list[dict], base_url: str, model: str, api_key: str, concurrency: int) -> tuple[int, float]:
    """Send `calls` step by step through a bare AsyncOpenAI client, `concurrency` at a time: (tokens, seconds)."""
    import asyncio
    import itertools

    import openai

    async def run() -> int:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key)
        gate = asyncio.Semaphore(concurrency)

        async def one(call) -> int:
            kwargs = call["kwargs"]
            async with gate:
                out = await client.chat.completions.create(
                    model=model, messages=call["messages"], max_tokens=kwargs.get("max_new_tokens", 128),
                    temperature=kwargs.get("temperature", 1.0))
            return out.usage.completion_tokens

        total = 0
        for _, step_calls in itertools.groupby(calls, key=lambda c: c["order"]):  # a step waits for the one before
            total += sum(await asyncio.gather(*(one(c) for c in step_calls)))
        return total

    start = time.perf_counter()
    tokens = asyncio.run(run())
    return tokens, time.perf_counter() - start


def bench_recipe(name: str, rows: int, max_new_tokens: int, cache_dir: str, backend: str = "llamacpp",
                 base_url: str | None = None, api_key: str | None = None) -> None:
    from curation.backends import api_key_for, parse_backend
    from curation.generate import run_pipeline
    from curation.model import bundled_model_path
    from curation.options import GenerationOptions
    from pipelines import get_recipe
    from pipelines.recipe import RecipeContext

    proxy = None
    if backend != "llamacpp":
        proxy = CountingProxy(base_url)
        base_url = proxy.start() + "/"
    spec = parse_backend(backend, base_url=base_url, api_key=api_key)
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
    if proxy is None:
        raw_tokens, raw_seconds = raw_llama(calls, str(bundled_model_path()),
                                            spec.n_threads or min(os.cpu_count() or 2, 8))
        baseline = "raw llama"
    else:
        recipe_peak = proxy.peak
        proxy.reset_peak()
        raw_tokens, raw_seconds = raw_openai(calls, base_url, spec.model, api_key_for(spec) or "EMPTY", recipe_peak)
        raw_peak = proxy.peak
        baseline = "raw client"

    recipe_tps, raw_tps = recipe_tokens / recipe_seconds, raw_tokens / raw_seconds
    print(f"{name} @ {rows} rows on {backend}: rows kept {len(kept)}/{rows}, llm calls replayed {len(calls)}")
    print(f"{name}: recipe     {recipe_tps:7.1f} completion tokens/s ({recipe_tokens} tokens in {recipe_seconds:.1f} s)")
    print(f"{name}: {baseline:<10} {raw_tps:7.1f} completion tokens/s ({raw_tokens} tokens in {raw_seconds:.1f} s)")
    print(f"{name}: ratio recipe/{baseline} {recipe_tps / raw_tps:.2f} "
          f"(overhead {100 * (1 - recipe_tps / raw_tps):.0f}%, target < 10%)")
    if proxy is not None:
        print(f"{name}: most requests in flight: recipe {recipe_peak}, raw client {raw_peak} (same limit); "
              "a server that answers one request at a time (llama.cpp's) queues the rest, so the ratio shows "
              "the recipe's own overhead (start-up, steps, clean-up), not how either side scales with concurrency")


def startup(cache_dir: str) -> None:
    """A 1-row, 1-token `prompt` run: distilabel's own Pipeline against the recipes' (pipelines.local_pipeline)."""
    from distilabel.pipeline import Pipeline as DistilabelPipeline

    from curation.backends import parse_backend
    from curation.generate import run_pipeline
    from curation.options import GenerationOptions
    from pipelines import get_recipe
    from pipelines.recipe import RecipeContext

    seconds = {}
    for label in ("distilabel Pipeline", "recipe Pipeline"):
        options = GenerationOptions("prompt", num_rows=1, max_new_tokens=1, fresh=True)
        ctx = RecipeContext(options=options, seeds=[], backends=[parse_backend("llamacpp")], cache_dir=cache_dir)
        pipeline = get_recipe("prompt").build(ctx)
        if label.startswith("distilabel"):
            pipeline.__class__ = DistilabelPipeline  # the same steps, distilabel's 2.5 s wait per load stage
        start = time.perf_counter()
        run_pipeline(pipeline, fresh=True, display="quiet", log_file=Path(cache_dir) / "startup.log")
        seconds[label] = time.perf_counter() - start
    print("start-up (prompt, 1 row, 1 token, 3 load stages): " + ", ".join(
        f"{label} {value:.1f} s" for label, value in seconds.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[32, 10], help="row counts (10: the CLI's default)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--recipes", nargs="+", default=None,
                        help="default: prompt and ultrafeedback on llamacpp, prompt on a server")
    parser.add_argument("--backend", default="llamacpp", help="llamacpp, or openai:MODEL / vllm:MODEL with --base-url")
    parser.add_argument("--base-url")
    parser.add_argument("--api-key")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up comparison")
    args = parser.parse_args()
    recipes = args.recipes or (["prompt", "ultrafeedback"] if args.backend == "llamacpp" else ["prompt"])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CURATION_HOME"] = tmp
        if not args.no_startup and args.backend == "llamacpp":
            startup(str(Path(tmp) / "cache"))
        for name in recipes:
            for rows in args.rows:
                bench_recipe(name, rows, args.max_new_tokens, str(Path(tmp) / "cache"), args.backend,
                             args.base_url, args.api_key)


if __name__ == "__main__":
    main()
