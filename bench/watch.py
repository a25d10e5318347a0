"""Benchmark `curate watch`: seconds from an annotator's submit to the record in TARGET.

    .venv/bin/python bench/watch.py [--records 20] [--pace 10] [--recipe ultrafeedback] [--max-new-tokens 32]

An embedded Argilla server (SQLite, our search engine) is started in a temporary folder; SOURCE is
an sft dataset of N instructions; one annotator submits them through the SDK (the endpoint the UI
calls), one every --pace seconds; `curate watch` (a subprocess, bundled model, --window 1) turns
each into a TARGET record. A poller lists TARGET's ids every 0.2 s: a record's latency is from
the moment its submit returned to the first listing that holds it. Printed: p50/p95/max over the
N records, and the micro-batches the watcher ran.

Baseline, same run: the recipe run by hand on one record as the watcher runs it (generate_batch on
one seed row, then push_batch), in this process with the model's files warm, the median of 3: the
floor a micro-batch costs. Run it with nothing else on the machine.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def source_dataset(client, home: Path, records: int, workspace: str) -> tuple[str, list[str]]:
    from curation.batch import write_batch
    from curation.review.push import push_batch
    from curation.review.records import record_id

    tag = uuid.uuid4().hex[:6]
    rows = [{"instruction": f"Question {i} ({tag}): name one thing that is {c}.", "response": "Something.",
             "model_name": "seed"} for i, c in enumerate(["red", "blue", "round", "cold", "loud"] * (records // 5 + 1))]
    rows = rows[:records]
    batch_id = f"prompt-bench-{tag}"
    batch = write_batch(home / "seeds" / batch_id, rows, {
        "batch_id": batch_id, "kind": "sft", "recipe": "prompt", "rows": {"kept": records, "dropped": 0}})
    name = f"bench-source-{tag}"
    push_batch(batch, name, workspace=workspace, client=client, show_progress=False)
    return name, [record_id(batch_id, i) for i in range(records)]


def submit(annotator, dataset, record_id: str) -> None:
    import argilla as rg

    record = next(r for r in dataset.records(with_responses=False, with_suggestions=False) if r.id == record_id)
    for question, value in {"instruction_rating": 4, "response": "Something.", "response_rating": 4}.items():
        record.responses.add(rg.Response(question, value, user_id=annotator.me.id, status="submitted"))
    (model,) = record.responses.api_models()
    annotator.api.records.create_record_response(record._server_id, model)


def baseline(client, source: str, workspace: str, recipe: str, max_new_tokens: int, runs: int = 3) -> float:
    """Median seconds of generate + push of one record, as the watcher does it, by hand."""
    from curation.generate import generate_batch
    from curation.options import GenerationOptions
    from curation.review.push import push_batch
    from curation.reviewed_seeds import read_reviewed
    from curation.seeds import SeedRows
    from curation.watch.loop import seed_for
    from pipelines import get_recipe

    reviewed = read_reviewed(source, workspace=workspace, client=client)
    info = get_recipe(recipe).info
    times = []
    for run in range(runs + 1):  # the first warms the model's files and the imports
        _, row = reviewed.admitted[run % len(reviewed.admitted)]
        options = GenerationOptions(recipe=recipe, num_rows=1, max_new_tokens=max_new_tokens,
                                    seeds=f"argilla:{source}", fresh=True)
        started = time.perf_counter()
        batch = generate_batch(options, seeds=SeedRows([seed_for(reviewed.kind, row, info)], dataset={"dataset": source}),
                               display="quiet")
        push_batch(batch, f"{source}-baseline", workspace=workspace, client=client, show_progress=False,
                   by_source=True)
        if run:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


@click.command()
@click.option("--records", default=20, show_default=True, help="Records submitted (and measured).")
@click.option("--pace", default=10.0, show_default=True,
              help="Seconds between two submits (an annotator reading and validating an instruction; faster than "
                   "the model generates, records queue).")
@click.option("--recipe", default="ultrafeedback", show_default=True)
@click.option("--max-new-tokens", default=32, show_default=True)
@click.option("--window", default=1.0, show_default=True, help="The watcher's --window.")
def main(records: int, pace: float, recipe: str, max_new_tokens: int, window: float) -> None:
    import argilla as rg

    from curation.argilla.datasets import find_dataset
    from curation.argilla.records import external_ids
    from curation.review.records import derived_id, derived_prefix
    from curation.server import embedded
    from tests.fixtures.server import free_port
    from tests.review.annotators import add_annotator

    with tempfile.TemporaryDirectory(prefix="curation-bench-watch-") as tmp:
        tmp = Path(tmp)
        info = embedded.start(tmp / "server", free_port(), search_engine="curation-sqlite")
        watcher = None
        try:
            os.environ.update({"ARGILLA_API_URL": info.url, "ARGILLA_API_KEY": info.api_key,
                               "CURATION_HOME": str(tmp / "home")})
            client = rg.Argilla(api_url=info.url, api_key=info.api_key)
            workspace = rg.Workspace(name="bench", client=client).create().name
            source, ids = source_dataset(client, tmp / "home", records, workspace)
            dataset = find_dataset(client, source, workspace)
            annotator = add_annotator(client, workspace, f"bench-ann-{uuid.uuid4().hex[:6]}")
            target = f"{source}-target"
            log = tmp / "watch.log"
            command = [sys.executable, "-c", "from curation.cli import main; main()", "watch", source, "--recipe",
                       recipe, "--into", target, "-w", workspace, "--listen", f"127.0.0.1:{free_port()}",
                       "--window", str(window), "--max-new-tokens", str(max_new_tokens)]
            watcher = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
                                       start_new_session=True)
            while "Watching " not in log.read_text():
                if watcher.poll() is not None:
                    raise SystemExit(f"the watcher stopped: {log.read_text()}")
                time.sleep(0.1)

            submitted: dict[str, float] = {}
            seen: dict[str, float] = {}
            done = threading.Event()

            def poll() -> None:
                prefix = derived_prefix(recipe)
                while not done.is_set():
                    target_ds = find_dataset(client, target, workspace)
                    now = time.perf_counter()
                    for rid in external_ids(client, target_ds.id, prefix) if target_ds is not None else ():
                        seen.setdefault(rid, now)
                    time.sleep(0.2)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            for rid in ids:
                submit(annotator, dataset, rid)
                submitted[derived_id(recipe, rid)] = time.perf_counter()
                time.sleep(pace)
            deadline = time.perf_counter() + 600
            while len(set(submitted) & set(seen)) < len(submitted) and time.perf_counter() < deadline:
                time.sleep(0.5)
            done.set()
            poller.join()
            latencies = [seen[rid] - at for rid, at in submitted.items() if rid in seen]
            micro_batches = [line for line in log.read_text().splitlines() if " record(s) of " in line]
            watcher.send_signal(signal.SIGTERM)
            watcher.wait(300)
            watcher = None
            floor = baseline(client, source, workspace, recipe, max_new_tokens)
        finally:
            if watcher is not None:  # its whole group: distilabel's step processes too
                os.killpg(watcher.pid, signal.SIGKILL)
            embedded.stop(tmp / "server")
    missing = len(submitted) - len(latencies)
    click.echo(f"curate watch, {recipe} on the bundled model (--max-new-tokens {max_new_tokens}, --window {window:g}); "
               f"{records} records submitted one every {pace:g} s by one annotator")
    click.echo(f"submit → TARGET record: p50 {percentile(latencies, 50):.1f} s, p95 {percentile(latencies, 95):.1f} s, "
               f"max {max(latencies):.1f} s over {len(latencies)} records ({missing} never arrived); "
               f"{len(micro_batches)} micro-batches:")
    for line in micro_batches:
        click.echo(f"  {line}")
    click.echo(f"baseline (one record by hand: generate_batch + push_batch in process, median of 3): {floor:.1f} s")
    click.echo(f"p50 over the baseline: {percentile(latencies, 50) / floor:.2f}x")


if __name__ == "__main__":
    main()
