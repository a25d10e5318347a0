"""Benchmark the curation-sqlite search engine inside the embedded Argilla server.

Logs the same records (two text fields, three metadata properties, a 384-d vector) through
the argilla SDK into an embedded server with the no-op engine and into one with the SQLite
engine, one after the other, and prints their records/s and ratio (target >= 0.8). Then times
the UI's record-search call (text query + metadata filter + response-status filter) against
the SQLite server (target p95 <= 100 ms).

    python -m bench.search_engine --records 50000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
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
            latencies = sorted(search_latencies(info, dataset_id, args.searches))
        finally:
            embedded.stop(sqlite_dir)

    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
    print(f"records: {args.records}")
    print(f"log rate curation-noop: {noop_rate:.0f} records/s")
    print(f"log rate curation-sqlite: {sqlite_rate:.0f} records/s")
    print(f"log rate ratio sqlite/noop: {sqlite_rate / noop_rate:.2f} (target >= 0.80)")
    print(f"ui search p50: {statistics.median(latencies):.1f} ms")
    print(f"ui search p95: {p95:.1f} ms (target <= 100 ms)")


if __name__ == "__main__":
    main()
