"""`curate generate` and `curate batches`: run a recipe into a batch folder, list and show batches."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipelines import RECIPE_MODULES


def generate_options(func):
    """The recipe and model options, shared by `curate generate` and `curate run`."""
    options = [
        click.argument("recipe", type=click.Choice(list(RECIPE_MODULES)), metavar="RECIPE"),
        click.option("--seeds", type=click.Path(path_type=Path), help="Seed file (.jsonl, .json, .csv, .parquet); what columns it needs depends on the recipe."),
        click.option("-n", "--num-rows", type=click.IntRange(min=1), default=10, show_default=True, help="Rows to generate."),
        click.option("--backend", "backends", multiple=True, default=["llamacpp"], show_default=True, envvar="CURATION_BACKEND",
                     help="NAME[:MODEL]: llamacpp (bundled SmolLM2, offline), openai:M, vllm:M, ollama:M, hf:M, transformers:M. Repeat for responses from several backends."),
        click.option("--judge", envvar="CURATION_JUDGE", help="Backend for UltraFeedback ratings and Deita scores (default: the first --backend)."),
        click.option("--base-url", envvar="CURATION_BASE_URL", help="Server URL for openai/vllm/ollama/hf backends."),
        click.option("--api-key", envvar="CURATION_API_KEY", help="API key for hosted backends (else OPENAI_API_KEY / HF_TOKEN). Never printed."),
        click.option("--num-generations", type=click.IntRange(min=2), default=2, show_default=True, help="Responses per instruction (preference recipes)."),
        click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True),
        click.option("--temperature", type=click.FloatRange(min=0), default=0.7, show_default=True),
        click.option("--deita", is_flag=True, help="Add Deita complexity and quality scores (sft recipes) as metadata."),
        click.option("--fresh", is_flag=True, help="Ignore distilabel's cache and regenerate (default: a re-run resumes)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_generation(recipe, seeds, num_rows, backends, judge, base_url, api_key, num_generations,
                   max_new_tokens, temperature, deita, fresh, out=None, quiet=False):
    """Call the library with the CLI's options; returns the Batch."""
    from curation.generate import generate_batch

    return generate_batch(
        recipe,
        seeds=seeds,
        num_rows=num_rows,
        backend=list(backends),
        backend_options={"base_url": base_url, "api_key": api_key},
        judge=judge,
        num_generations=num_generations,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        deita=deita,
        fresh=fresh,
        out=out,
        show_progress=not quiet,
    )


@click.command()
@generate_options
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Batch folder (default: $CURATION_HOME/batches/<batch id>).")
@click.option("-q", "--quiet", is_flag=True, help="Hide the pipeline's progress log.")
def generate(out, quiet, **options):
    """Generate a batch of instruction (SFT) or preference data with a recipe.

    \b
    Instruction recipes (kind sft):
      prompt         one question per topic, then its answer (seeds optional: `topic`)
      self-instruct  Self-Instruct queries from seed documents (seeds: `input`)
      magpie         Magpie: no seeds, the model writes the user turn
      evol-instruct  Evol-Instruct rewrites of seed instructions (seeds: `instruction`)
    Preference recipes (kind preference):
      responses      --num-generations responses per instruction (seeds: `instruction`)
      evol-quality   EvolQuality rewrite vs original (seeds: `instruction`, `response`)
      ultrafeedback  responses rated by an LLM judge → chosen/rejected (seeds: `instruction`)

    The batch folder holds rows.parquet and manifest.json. Runs offline on the bundled
    SmolLM2-135M by default. Example:

        curate generate self-instruct --seeds docs.jsonl -n 20
    """
    batch = run_generation(**options, out=out, quiet=quiet)
    rows = batch.manifest["rows"]
    click.echo(f"Batch {batch.id}: {rows['kept']} rows ({rows['dropped']} dropped by clean-up) → {batch.path}")


@click.group()
def batches():
    """List and inspect generated batches."""


@batches.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json):
    """List complete batches under $CURATION_HOME/batches, oldest first."""
    from rich.console import Console
    from rich.table import Table

    from curation.batch import list_batches

    found = list_batches()
    if as_json:
        click.echo(json.dumps([{"batch_id": b.id, "path": str(b.path), **_summary(b)} for b in found], indent=2))
        return
    table = Table("batch id", "recipe", "kind", "model", "rows", "started")
    for b in found:
        s = _summary(b)
        table.add_row(b.id, s["recipe"], s["kind"], s["model"], str(s["rows"]), s["started_at"])
    Console().print(table if found else "No batches yet: run `curate generate RECIPE`.")


@batches.command("show")
@click.argument("batch_id")
@click.option("--rows", "num_rows", type=int, default=3, show_default=True, help="Sample rows to print.")
def show_cmd(batch_id, num_rows):
    """Print a batch's manifest and its first rows (BATCH_ID: an id or a folder)."""
    from curation.batch import load_batch

    batch = load_batch(batch_id)
    click.echo(json.dumps(batch.manifest, indent=2, sort_keys=True))
    for row in batch.rows()[:num_rows]:
        click.echo(json.dumps({k: v for k, v in row.items() if k != "raw_output"}, ensure_ascii=False))


def _summary(batch) -> dict:
    m = batch.manifest
    return {"recipe": m["recipe"], "kind": m["kind"], "model": m.get("model", ""),
            "rows": m["rows"]["kept"], "started_at": m.get("started_at", "")}
