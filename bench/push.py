"""Benchmark `curate push` against the bare Argilla SDK (`dataset.records.log`) on one server.

Starts its own embedded server in a temporary folder, writes a batch of N realistic rows,
then sends the same rows (1) with the bare SDK into one dataset and (2) with
`curation.review.push.push_batch` into another, and prints both rates and their ratio.
Both send the same records (push's mapping builds the SDK's input beforehand, untimed);
the SDK is timed on `records.log` alone, push end to end (read the batch, load the settings,
create the dataset, map, send), so the ratio charges push with all of its overhead.

    python bench/push.py --records 10000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the sample batch writer in tests/review


def sdk_records(batch, config, dataset) -> list:
    """The very records push sends (same fields, suggestions, metadata), as SDK `Record`s."""
    from curation.review.records import RecordMapper

    mapper = RecordMapper(batch, config, dataset)
    return [mapper.map(index, row).record for index, row in enumerate(batch.rows())]


@click.command()
@click.option("--records", "num_records", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Rows in the benchmark batch.")
@click.option("--kind", type=click.Choice(["sft", "preference"]), default="sft", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=6930, show_default=True,
              help="Port for the benchmark's own server.")
@click.option("--search-engine", default="curation-sqlite", show_default=True)
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Repeat both pushes, alternating which goes first; rates are over all rounds.")
def main(num_records: int, kind: str, port: int, search_engine: str, rounds: int) -> None:
    """Print records/s of `curate push` and of the bare SDK, and their ratio (target >= 0.9)."""
    import argilla as rg

    from curation.review.config import default_config_path, load_config
    from curation.review.push import push_batch
    from curation.server import embedded
    from tests.review.sample_batches import write_sample_batch

    sdk_seconds = push_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="curation-bench-") as tmp:
        tmp = Path(tmp)
        info = embedded.start(tmp / "server", port, search_engine=search_engine)
        try:
            client = rg.Argilla(api_url=info.url, api_key=info.api_key)
            batch = write_sample_batch(tmp / "batches", kind, num_records, seed=1)
            config = load_config(default_config_path(kind), num_responses=2 if kind == "preference" else None)
            workspace = rg.Workspace(name="bench", client=client).create()

            def bare_sdk(name: str) -> float:
                dataset = rg.Dataset(name=name, workspace=workspace, settings=config.settings(client),
                                     client=client).create()
                records = sdk_records(batch, config, dataset)
                started = time.perf_counter()
                dataset.records.log(records)
                return time.perf_counter() - started

            def curate_push(name: str) -> float:
                report = push_batch(batch, name, workspace="bench", client=client, show_progress=False)
                assert report.sent == num_records
                return report.seconds

            for r in range(rounds):
                # Alternate who goes first: the database and search index grow as the run goes on.
                order = ((bare_sdk, "sdk"), (curate_push, "curate")) if r % 2 == 0 else ((curate_push, "curate"), (bare_sdk, "sdk"))
                for run, label in order:
                    seconds = run(f"bench-{label}-{r}")
                    click.echo(f"round {r + 1}: {label:6s} {num_records / seconds:8.1f} records/s", err=True)
                    if label == "sdk":
                        sdk_seconds += seconds
                    else:
                        push_seconds += seconds
            repush = push_batch(batch, "bench-curate-0", workspace="bench", client=client, show_progress=False)
        finally:
            embedded.stop(tmp / "server")

    sdk_rate = rounds * num_records / sdk_seconds
    push_rate = rounds * num_records / push_seconds
    click.echo(f"records: {num_records} x {rounds} round(s) ({kind}, search engine {search_engine})")
    click.echo(f"bare SDK records.log: {sdk_rate:8.1f} records/s ({sdk_seconds:.1f} s)")
    click.echo(f"curate push:          {push_rate:8.1f} records/s ({push_seconds:.1f} s, end to end)")
    click.echo(f"ratio push/SDK:       {push_rate / sdk_rate:8.2f} (target >= 0.9)")
    click.echo(f"re-push (nothing new): {repush.seconds:.1f} s, sent {repush.sent}")

if __name__ == "__main__":
    main()
