"""Benchmark the curation-sqlite search engine inside the embedded Argilla server.

Logs the same records (two text fields, three metadata properties, a 384-d vector) through
the argilla SDK into an embedded server with the no-op engine and into one with the SQLite
engine, one after the other, and prints their records/s and ratio (target >= 0.8). Then times
the UI's record-search call (text query + metadata filter + response-status filter) against
the SQLite server (target p95 <= 100 ms), idle and again while another client runs expensive
searches back to back (every word of the vocabulary OR'ed: FTS5 scores each on every record),
and prints the loaded latency against the idle one measured in the same run.

    python -m bench.search_engine --records 50000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from curation.server import embedded

WORDS = (
    "account balance bank card cash charge credit declined deposit exchange fee loan mortgage payment rate "
    "receipt refund statement transfer wallet answer question model review label sample prompt reply"
).split()
TOPICS = ["billing", "cards", "loans", "transfers", "other"]
DIMENSIONS = 384


def make_records(count: int, seed: int = 0) -> list[dict]:
    """Synthetic records, the same for both servers."""
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSIONS), dtype=np.float32)
    return [
        {
            "prompt": " ".join(rng.choices(WORDS, k=12)),
            "completion": " ".join(rng.choices(WORDS, k=40)),
            "topic": rng.choice(TOPICS),
            "length": rng.randrange(10, 2000),
            "quality": rng.random(),
            "embedding": vectors[i].tolist(),
        }
        for i in range(count)
    ]


def log_records(info: embedded.ServerInfo, records: list[dict], batch_size: int) -> tuple[float, str]:
    """Create the dataset and log the records; returns (records per second, dataset id)."""
    import argilla as rg

    client = rg.Argilla(api_url=info.url, api_key=info.api_key, timeout=300)
    settings = rg.Settings(
        fields=[rg.TextField(name="prompt"), rg.TextField(name="completion")],
        questions=[rg.RatingQuestion(name="rating", values=[1, 2, 3, 4, 5])],
        metadata=[
            rg.TermsMetadataProperty(name="topic"),
            rg.IntegerMetadataProperty(name="length"),
            rg.FloatMetadataProperty(name="quality"),
        ],
        vectors=[rg.VectorField(name="embedding", dimensions=DIMENSIONS)],
    )
    workspace = client.workspaces("bench") or rg.Workspace(name="bench", client=client).create()
    dataset = rg.Dataset(name=f"bench-{int(time.time())}", settings=settings, workspace=workspace, client=client)
    dataset.create()
    start = time.perf_counter()
    dataset.records.log(records, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    return len(records) / elapsed, str(dataset.id)


def search_latencies(info: embedded.ServerInfo, dataset_id: str, runs: int) -> list[float]:
    """Milliseconds per UI record-search call (text query + metadata filter + pending filter)."""
    rng = random.Random(1)
    url = f"{info.url}/api/v1/me/datasets/{dataset_id}/records/search"
    latencies = []
    with httpx.Client(headers={"X-Argilla-Api-Key": info.api_key}, timeout=60) as http:
        for i in range(runs + 3):
            body = {
                "query": {"text": {"q": rng.choice(WORDS)}},
                "filters": {
                    "and": [
                        {
                            "type": "terms",
                            "scope": {"entity": "metadata", "metadata_property": "topic"},
                            "values": rng.sample(TOPICS, 2),
                        },
                        {"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]},
                    ]
                },
            }
            start = time.perf_counter()
            response = http.post(url, json=body, params={"offset": 0, "limit": 10})
            elapsed = (time.perf_counter() - start) * 1000
            response.raise_for_status()
            if i >= 3:  # the first calls warm caches and connections
                latencies.append(elapsed)
    return latencies


# Allowed (under the query limits) but costly: every record matches every one of its terms.
EXPENSIVE_QUERY = " | ".join(WORDS)


def run_expensive_searches(info: embedded.ServerInfo, dataset_id: str, stop: threading.Event, outcomes: list) -> None:
    """Post EXPENSIVE_QUERY back to back until `stop`; appends (status code, milliseconds) per search."""
    url = f"{info.url}/api/v1/me/datasets/{dataset_id}/records/search"
    with httpx.Client(headers={"X-Argilla-Api-Key": info.api_key}, timeout=300) as http:
        while not stop.is_set():
            start = time.perf_counter()
            response = http.post(url, json={"query": {"text": {"q": EXPENSIVE_QUERY}}}, params={"limit": 1})
            outcomes.append((response.status_code, (time.perf_counter() - start) * 1000))


def search_latencies_under_load(info: embedded.ServerInfo, dataset_id: str, runs: int) -> tuple[list[float], list]:
    """search_latencies while another client runs expensive searches; also returns theirs."""
    stop, outcomes = threading.Event(), []
    loader = threading.Thread(target=run_expensive_searches, args=(info, dataset_id, stop, outcomes))
    loader.start()
    try:
        time.sleep(0.5)  # the first expensive search is in the engine before the timed ones start
        return search_latencies(info, dataset_id, runs), outcomes
    finally:
        stop.set()
        loader.join()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_server(engine: str, data_dir: Path, port: int, records: list[dict], batch_size: int):
    info = embedded.start(data_dir, port, search_engine=engine, timeout=180)
    try:
        rate, dataset_id = log_records(info, records, batch_size)
        return info, rate, dataset_id
    except BaseException:
        embedded.stop(data_dir)
        raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--port", type=int, default=6910)
    args = parser.parse_args(argv)

    records = make_records(args.records)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        noop_dir, sqlite_dir = Path(tmp) / "noop", Path(tmp) / "sqlite"

        _, noop_rate, _ = run_server("curation-noop", noop_dir, args.port, records, args.batch_size)
        embedded.stop(noop_dir)

        sqlite_port = args.port + 1
        info, sqlite_rate, dataset_id = run_server("curation-sqlite", sqlite_dir, sqlite_port, records, args.batch_size)
        try:
            latencies = search_latencies(info, dataset_id, args.searches)
            loaded, expensive = search_latencies_under_load(info, dataset_id, args.searches)
        finally:
            embedded.stop(sqlite_dir)

    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    loaded_p50, loaded_p95 = percentile(loaded, 0.5), percentile(loaded, 0.95)
    print(f"records: {args.records}")
    print(f"log rate curation-noop: {noop_rate:.0f} records/s")
    print(f"log rate curation-sqlite: {sqlite_rate:.0f} records/s")
    print(f"log rate ratio sqlite/noop: {sqlite_rate / noop_rate:.2f} (target >= 0.80)")
    print(f"ui search p50: {p50:.1f} ms")
    print(f"ui search p95: {p95:.1f} ms (target <= 100 ms)")
    print(f"ui search p50 during expensive searches: {loaded_p50:.1f} ms (idle {p50:.1f} ms, ratio {loaded_p50 / p50:.2f})")
    print(f"ui search p95 during expensive searches: {loaded_p95:.1f} ms (idle {p95:.1f} ms, ratio {loaded_p95 / p95:.2f})")
    refused = sum(1 for status, _ in expensive if status == 422)
    print(
        f"expensive searches ({len(WORDS)} terms OR'ed) meanwhile: {len(expensive)}, median "
        f"{statistics.median(ms for _, ms in expensive):.0f} ms, {refused} stopped by the CPU budget (HTTP 422)"
    )


if __name__ == "__main__":
    main()
