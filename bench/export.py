"""Benchmark `export_dataset` against bare SDK iteration of the same records, and its memory.

Starts an embedded Argilla server, logs N/2 SFT records reviewed by two annotators through
the SDK, measures, logs the other N/2, measures again. Each measurement runs in a fresh
subprocess so its peak RSS (ru_maxrss) is its own:

- baseline: the imports and the connection, nothing read;
- iterate:  `for record in dataset.records(with_responses=True)` over every record;
- export:   `export_dataset(..., format="sft", out=tmp)`: read, select, write parquet + card.

Bounded memory shows as export RSS staying flat from N/2 to N records.

    python -m bench.export --records 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = "the a model answer explain data record review because which value result step list code test".split()
PAGE_SIZE = 500  # the export's page size, also given to the SDK iteration for a like-for-like read


def child(mode: str, name: str) -> None:
    """Run one measurement in this process and print it as JSON."""
    import argilla as rg

    client = rg.Argilla(api_url=os.environ["ARGILLA_API_URL"], api_key=os.environ["ARGILLA_API_KEY"])
    start, records = time.perf_counter(), 0
    if mode == "iterate":
        dataset = client.datasets(name)
        for record in dataset.records(with_responses=True, batch_size=PAGE_SIZE):
            records += bool(record.responses)
    elif mode == "export":
        from curation.export import export_dataset

        with tempfile.TemporaryDirectory() as out:
            report = export_dataset(name, format="sft", out=out, client=client)
        records = report.counts.seen
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"mode": mode, "records": records, "seconds": seconds, "rss_mb": rss_mb}))


def measure(mode: str, name: str, env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.export", "--child", mode, "--dataset", name],
        capture_output=True, text=True, env=env, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_records(start: int, count: int, users, rng: random.Random) -> list:
    """SFT records; both annotators submit, agreeing on 90% (10% of those are edits)."""
    import argilla as rg

    records = []
    for i in range(start, start + count):
        generated = " ".join(rng.choices(WORDS, k=120))
        final = generated if rng.random() < 0.9 else generated + " (fixed)"
        responses = []
        for n, user in enumerate(users):
            text = final if n == 0 or rng.random() < 0.9 else final + " (other)"
            responses += [
                rg.Response("instruction_rating", 4, user_id=user.id, status="submitted"),
                rg.Response("response", text, user_id=user.id, status="submitted"),
                rg.Response("response_rating", 4, user_id=user.id, status="submitted"),
            ]
        records.append(
            rg.Record(
                id=f"r{i}",
                fields={"instruction": " ".join(rng.choices(WORDS, k=30)), "generated_response": generated},
                metadata={"batch_id": "bench", "recipe": "prompt", "model": "bench-model"},
                responses=responses,
            )
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--port", type=int, default=6943)
    # The export reads through the list endpoint, which never queries search: the no-op
    # engine only makes setup faster. Pass curation-sqlite to bench the production server.
    parser.add_argument("--search-engine", default="curation-noop")
    parser.add_argument("--child", choices=["baseline", "iterate", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.dataset)

    import argilla as rg

    from curation.review.config import default_config_path, load_config
    from curation.server import embedded

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        info = embedded.start(Path(tmp), args.port, search_engine=args.search_engine,
                              owner_api_key=embedded.new_secret(), owner_password=embedded.new_secret())
        try:
            env = {**os.environ, "ARGILLA_API_URL": info.url, "ARGILLA_API_KEY": info.api_key}
            client = rg.Argilla(api_url=info.url, api_key=info.api_key)
            workspace = client.workspaces("argilla") or rg.Workspace(name="argilla", client=client).create()
            users = []
            for name in ("bench-ann1", "bench-ann2"):
                user = rg.User(username=name, password=embedded.new_secret(), role="annotator", client=client).create()
                workspace.add_user(user)
                users.append(user)
            settings = load_config(default_config_path("sft")).settings(client)
            dataset = rg.Dataset("bench-export", workspace=workspace, settings=settings, client=client).create()

            rng, logged, rows = random.Random(0), 0, []
            for target in (args.records // 2, args.records):
                started = time.perf_counter()
                while logged < target:
                    chunk = min(1000, target - logged)
                    dataset.records.log(make_records(logged, chunk, users, rng), batch_size=250)
                    logged += chunk
                print(f"logged {logged} records ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
                rows.append((logged, {m: measure(m, dataset.name, env) for m in ("baseline", "iterate", "export")}))
        finally:
            embedded.stop(Path(tmp))

    print(f"\n{'records':>8} | {'bare SDK iteration':>27} | {'export (select + parquet + card)':>33} | baseline RSS")
    for count, m in rows:
        it, ex = m["iterate"], m["export"]
        print(
            f"{count:>8} | {it['seconds']:6.1f} s {count / it['seconds']:7.0f} rec/s {it['rss_mb']:5.0f} MB"
            f" | {ex['seconds']:6.1f} s {count / ex['seconds']:7.0f} rec/s {ex['rss_mb']:5.0f} MB    "
            f" | {m['baseline']['rss_mb']:5.0f} MB"
        )
    (small, a), (large, b) = rows
    print(
        f"\nexport speed vs bare iteration at {large}: {b['iterate']['seconds'] / b['export']['seconds']:.2f}x; "
        f"peak RSS above the import baseline: export {a['export']['rss_mb'] - a['baseline']['rss_mb']:.0f} MB at {small}, "
        f"{b['export']['rss_mb'] - b['baseline']['rss_mb']:.0f} MB at {large} records; bare iteration "
        f"{a['iterate']['rss_mb'] - a['baseline']['rss_mb']:.0f} MB / {b['iterate']['rss_mb'] - b['baseline']['rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
