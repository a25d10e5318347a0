"""`curate embed` and `curate select`: embeddings and Deita selection on an existing batch (child batches)."""

from __future__ import annotations

from pathlib import Path

import click

from curation.cli.secret_options import secret_option

EMBEDDER_OPTIONS = [
    click.option("--embedder", default="llamacpp", show_default=True,
                 help="llamacpp (the bundled SmolLM2, offline), llamacpp:FILE.gguf, or openai:MODEL "
                      "(any server with the OpenAI embeddings API; --base-url)."),
    click.option("--base-url", envvar="CURATION_BASE_URL", help="Server URL for --embedder openai:MODEL."),
    secret_option("--api-key", envvar="CURATION_API_KEY", what="API key",
                  help="API key for the embeddings server; a bare --api-key asks for it (hidden). Never printed."),
    click.option("--out", type=click.Path(path_type=Path, file_okay=False),
                 help="Folder of the new batch (default: $CURATION_HOME/batches/<batch id>)."),
]


def embedder_options(func):
    for option in reversed(EMBEDDER_OPTIONS):
        func = option(func)
    return func


@click.command()
@click.argument("batch")
@click.option("--responses", is_flag=True, help="Also embed the response column (response_embedding).")
@embedder_options
def embed(batch, responses, embedder, base_url, api_key, out):
    """Add embeddings of BATCH's instructions as a new child batch (column instruction_embedding).

    The child's manifest names its parent and the embedding model and dimensions. Push it
    with `curate push CHILD --vectors` so the Argilla UI can show similar records.

    \b
    Example:
      curate embed self-instruct-20250101T120000-ab12cd
    """
    from curation import secrets
    from curation.embeddings import embed_batch, parse_embedder

    secrets.protect([api_key] if api_key else [])
    spec = parse_embedder(embedder, base_url=base_url, api_key=api_key)
    child = embed_batch(batch, spec, responses=responses, out=out)
    details = child.manifest["embed"]
    click.echo(f"Batch {child.id}: {child.manifest['rows']['kept']} rows with {', '.join(details['columns'])} "
               f"({details['dimensions']} dimensions, {details['model']}) → {child.path}")


@click.command("select")
@click.argument("batch")
@click.option("-k", "k", type=click.IntRange(min=1), required=True, help="Keep at most K rows.")
@click.option("--threshold", type=click.FloatRange(0, 2), default=None,
              help="Cosine distance a kept row must exceed to every row kept before it  [default: 0.1].")
@embedder_options
def select_cmd(batch, k, threshold, embedder, base_url, api_key, out):
    """Keep up to K rows of BATCH by Deita selection, as a new child batch.

    Rows are taken best first by complexity × quality (the Deita scores of `--deita`), and a
    row is kept only if its instruction embedding is farther than --threshold (cosine
    distance) from every row already kept. Rows without embeddings are embedded first
    (--embedder). The child's manifest says `selection: {kept, of, threshold, ...}`.

    \b
    Example:
      curate select self-instruct-20250101T120000-ab12cd -k 50 --threshold 0.05
    """
    from curation import secrets
    from curation.deita_select import DEFAULT_THRESHOLD, select_batch
    from curation.embeddings import parse_embedder

    secrets.protect([api_key] if api_key else [])
    spec = parse_embedder(embedder, base_url=base_url, api_key=api_key)
    child = select_batch(batch, k, DEFAULT_THRESHOLD if threshold is None else threshold, embedder=spec, out=out)
    s = child.manifest["selection"]
    click.echo(f"Batch {child.id}: kept {s['kept']} of {s['of']} rows (Deita selection, K={s['k']}, "
               f"threshold {s['threshold']}) → {child.path}")
