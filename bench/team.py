"""Benchmark a team annotating at once: the embedded server against production mode, same run.

K annotators work at the same time, each with its own API key, doing what the web UI does:
search their pending records (`POST /api/v1/me/datasets/{id}/records/search` with a text
query and a response-status filter), then submit a response to the first one shown, again
and again. For each mode and each K it prints responses/s, p50/p95 of both calls, the errors
(any answer but 2xx) and the lost responses: those the server acknowledged (201) that it does
not hold afterwards (read back as the owner), plus those it holds that nobody saw acknowledged.

Modes: "embedded" (SQLite, one uvicorn process, the private redis: the baseline) and
"postgres" (a PostgreSQL 15 cluster and a redis-server started here in temporary folders, on
127.0.0.1, with `--workers 2`).

Each load also runs against the same mode with the no-op search engine (`curation-noop`): the
same calls, where search finds nothing (each annotator then submits to the next record of its
own share, listed from the database), so the difference is what our search index adds to
argilla-server's own floor on this machine. And each load runs once more with writes first
turned off (`CURATION_READ_WAIT_MS=0`, see curation/server/writes_first.py: API reads wait for
the writes in flight), the baseline its ratios are against. The annotators above never pause, so they measure
capacity; a realistic team (`--paced`, default 50 annotators) pauses `--pause` seconds (default
5) after each record, and its p95 of both calls is printed with its own no-op baseline. Run it
with nothing else on the machine:

    python bench/team.py --annotators 10 --annotators 50
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the PostgreSQL and redis starters in tests/fixtures

QUERY = "sample"  # every record holds it: the search ranks and filters, it does not just look up


def pending_search(query: str) -> dict:
    """The body of the UI's search for the signed-in annotator's pending records."""
    return {
        "query": {"text": {"q": query}},
        "filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                             "values": ["pending"]}]},
    }


@dataclass
class Run:
    search_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    acknowledged: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def annotate(url: str, key: str, user_id: str, dataset_id: str, responses: int, run: Run,
             pause_s: float = 0.0, share: list[str] | None = None, start_after_s: float = 0.0) -> None:
    """One annotator: after `start_after_s`, `responses` times, search the pending records and
    answer the first one, then pause `pause_s`. With `share` (the no-op engine, whose search
    finds nothing), answer the next record of `share` instead."""
    share = list(share or [])
    time.sleep(start_after_s)
    with httpx.Client(base_url=url, headers={"X-Argilla-Api-Key": key}, timeout=120) as http:
        for turn in range(responses):
            if turn and pause_s:
                time.sleep(pause_s)
            try:
                started = time.perf_counter()
                found = http.post(f"/api/v1/me/datasets/{dataset_id}/records/search",
                                  params={"include": "responses", "offset": 0, "limit": 10},
                                  json=pending_search(QUERY))
                searched = time.perf_counter()
                if found.status_code != 200 or not (found.json()["items"] or share):
                    with run.lock:
                        run.errors.append(f"search {found.status_code}: {found.text[:120]}")
                    continue
                record_id = share.pop(0) if share else found.json()["items"][0]["record"]["id"]
                answer = {"values": {"label": {"value": "good"}}, "status": "submitted"}
                submitted = http.post(f"/api/v1/records/{record_id}/responses", json=answer)
                done = time.perf_counter()
            except httpx.TransportError as exc:
                with run.lock:
                    run.errors.append(f"transport: {exc!r}")
                continue
            with run.lock:
                run.search_ms.append((searched - started) * 1000)
                run.submit_ms.append((done - searched) * 1000)
                if submitted.status_code == 201:
                    run.acknowledged.add((record_id, user_id))
                else:
                    run.errors.append(f"submit {submitted.status_code}: {submitted.text[:120]}")


def team(url: str, owner_key: str, name: str, annotators: int, records: int) -> tuple[str, list[tuple[str, str]]]:
    """A workspace, a dataset of `records` records and `annotators` annotators in it; returns the
    dataset id and each annotator's (API key, user id)."""
    import argilla as rg

    client = rg.Argilla(api_url=url, api_key=owner_key)
    workspace = rg.Workspace(name=name, client=client).create()
    people = []
    for i in range(annotators):
        user = rg.User(username=f"{name}-{i}", role="annotator", password=f"{name}-pw-{i}", client=client).create()
        user.add_to_workspace(workspace)
        key = httpx.get(f"{url}/api/v1/users/{user.id}", headers={"X-Argilla-Api-Key": owner_key}).json()["api_key"]
        people.append((key, str(user.id)))
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    dataset = rg.Dataset(name=f"{name}-data", workspace=workspace, settings=settings, client=client).create()
    dataset.records.log([{"text": f"Record {i}: a sample text about topic {i % 17}, to label good or bad."}
                         for i in range(records)])
    return str(dataset.id), people


def listed(url: str, owner_key: str, dataset_id: str) -> list[tuple[str, list[str]]]:
    """(record id, user ids of its responses) of every record, read from the database (this
    listing does not go through the search engine)."""
    found, offset = [], 0
    with httpx.Client(base_url=url, headers={"X-Argilla-Api-Key": owner_key}, timeout=120) as http:
        while True:
            page = http.get(f"/api/v1/datasets/{dataset_id}/records",
                            params={"include": "responses", "offset": offset, "limit": 500}).json()["items"]
            found += [(record["id"], [r["user_id"] for r in record.get("responses") or []]) for record in page]
            if len(page) < 500:
                return found
            offset += 500


def stored(url: str, owner_key: str, dataset_id: str) -> set[tuple[str, str]]:
    """(record id, user id) of every response the server holds for the dataset."""
    return {(record_id, user) for record_id, users in listed(url, owner_key, dataset_id) for user in users}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def measure(url: str, owner_key: str, label: str, annotators: int, per_annotator: int, pause_s: float = 0.0,
            noop: bool = False) -> dict:
    """Run one load; `noop`: the server's search engine finds nothing, so each annotator gets its
    own share of the records (listed from the database) to answer."""
    records = max(200, per_annotator * 4, annotators * per_annotator)
    dataset_id, people = team(url, owner_key, f"bench-{label}-{annotators}{'-paced' if pause_s else ''}",
                              annotators, records=records)
    shares = [None] * len(people)
    if noop:
        ids = sorted(record_id for record_id, _ in listed(url, owner_key, dataset_id))
        shares = [ids[i::len(people)][:per_annotator] for i in range(len(people))]
    run = Run()
    # A paced team starts spread over one pause, as people do, not in lockstep bursts of K calls.
    threads = [threading.Thread(target=annotate, args=(url, key, user, dataset_id, per_annotator, run, pause_s, share,
                                                       pause_s * i / len(people)))
               for i, ((key, user), share) in enumerate(zip(people, shares))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    held = stored(url, owner_key, dataset_id)
    return {
        "rate": len(run.acknowledged) / seconds,
        "search": (percentile(run.search_ms, 50), percentile(run.search_ms, 95)),
        "submit": (percentile(run.submit_ms, 50), percentile(run.submit_ms, 95)),
        "errors": len(run.errors), "first_error": run.errors[0] if run.errors else "",
        "lost": len(run.acknowledged - held), "unacknowledged": len(held - run.acknowledged),
        "responses": len(run.acknowledged),
    }


@contextlib.contextmanager
def server(mode: str, folder: Path, port: int, engine: str, env: dict[str, str] | None = None):
    """The server of `mode` with the search engine `engine` and the extra environment `env`,
    started in `folder`; yields (url, owner key)."""
    import os

    from curation.server import embedded

    with contextlib.ExitStack() as stack:
        for name, value in (env or {}).items():  # the server's processes inherit this environment
            if name in os.environ:
                stack.callback(os.environ.__setitem__, name, os.environ[name])
            else:
                stack.callback(os.environ.pop, name, None)
            os.environ[name] = value
        if mode == "embedded":
            info = embedded.start(folder / "server", port, search_engine=engine)
        else:
            from tests.fixtures.postgres import running_postgres
            from tests.fixtures.redis import running_redis

            pg = stack.enter_context(running_postgres())
            redis = stack.enter_context(running_redis())
            info = embedded.start(folder / "server", port, database_url=pg.new_database("bench"),
                                  redis_url=redis.url, workers=2, timeout=180, search_engine=engine)
        stack.callback(embedded.stop, folder / "server")
        yield info.url, info.api_key


MODES = {"embedded": "embedded (SQLite, 1 process)", "postgres": "PostgreSQL + redis, 2 workers"}
# (label, search engine, extra server environment): ours; ours with writes first off (the
# baseline); argilla-server's floor (the no-op engine: search finds nothing).
VARIANTS = (("ours", "curation-sqlite", {}),
            ("baseline", "curation-sqlite", {"CURATION_READ_WAIT_MS": "0"}),
            ("floor", "curation-noop", {}))


def figures(r: dict) -> str:
    return (f"{r['rate']:6.1f} responses/s  search p50/p95 {r['search'][0]:5.0f}/{r['search'][1]:5.0f} ms  "
            f"submit p50/p95 {r['submit'][0]:5.0f}/{r['submit'][1]:5.0f} ms  "
            f"errors {r['errors']}  lost {r['lost']}  unacknowledged {r['unacknowledged']}"
            + (f"  first error: {r['first_error']}" if r["errors"] else ""))


def over_baseline(r: dict, base: dict) -> str:
    """What writes first changes: p95 of both calls against the baseline's, and the rate."""
    return "  ".join([f"{call} p95 {r[call][1] / base[call][1]:.2f}x" for call in ("search", "submit")]
                     + [f"rate {r['rate'] / base['rate']:.2f}x"])


def over_floor(r: dict, floor: dict) -> str:
    """What our search index adds to argilla-server's floor: p95 of both calls, in ms and as a ratio."""
    return "  ".join(f"{call} p95 {r[call][1] - floor[call][1]:+5.0f} ms ({r[call][1] / floor[call][1]:.2f}x)"
                     for call in ("search", "submit"))


@click.command()
@click.option("--annotators", "-k", "team_sizes", type=click.IntRange(min=1), multiple=True, default=(10, 50),
              show_default=True, help="Annotators at once, never pausing (repeat for several runs).")
@click.option("--responses", "per_annotator", type=click.IntRange(min=1), default=10, show_default=True,
              help="Responses each annotator submits.")
@click.option("--paced", "paced_team", type=click.IntRange(min=0), default=50, show_default=True,
              help="A realistic team: this many annotators who pause --pause seconds after each record (0: skip).")
@click.option("--pause", "pause_s", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="The paced team's pause between records, in seconds.")
@click.option("--mode", "modes", type=click.Choice(list(MODES)), multiple=True, default=tuple(MODES),
              show_default=True, help="Server modes to measure (repeat).")
@click.option("--port", type=click.IntRange(1, 65535), default=6931, show_default=True)
def main(team_sizes: tuple[int, ...], per_annotator: int, paced_team: int, pause_s: float, modes: tuple[str, ...],
         port: int) -> None:
    """Print responses/s, search and submit p50/p95, errors and lost responses for both modes, each
    beside the same load on the no-op search engine, and the same for a paced team."""
    from curation.server.embedded import port_free

    loads = [(k, 0.0) for k in team_sizes] + ([(paced_team, pause_s)] if paced_team else [])
    results: dict[tuple[str, str, int, float], dict] = {}
    for mode in modes:
        for variant, engine, env in VARIANTS:
            with tempfile.TemporaryDirectory(prefix=f"curation-bench-team-{mode}-") as tmp:
                while not port_free(port):
                    port += 1
                with server(mode, Path(tmp), port, engine, env) as (url, owner_key):
                    for k, pause in loads:
                        results[mode, variant, k, pause] = measure(url, owner_key, mode, k, per_annotator, pause,
                                                                   noop=engine == "curation-noop")
                        click.echo(f"{mode} {variant} K={k} pause={pause:g}s: "
                                   f"{figures(results[mode, variant, k, pause])}", err=True)

    click.echo(f"{per_annotator} responses per annotator; search = the UI's pending-records search; "
               "baseline = the same load with writes first off (CURATION_READ_WAIT_MS=0); "
               "floor = the same load with the no-op search engine (argilla-server alone)")
    for k, pause in loads:
        first = results.get((modes[0], "ours", k, pause))
        for mode in modes:
            r, base, floor = (results[mode, variant, k, pause] for variant in ("ours", "baseline", "floor"))
            ratio = "" if mode == modes[0] else f"  ({r['rate'] / first['rate']:.2f}x the {modes[0]} rate)"
            team_label = f"K={k:3d}" + (f" pausing {pause:g} s" if pause else "")
            click.echo(f"{team_label:18s} {MODES[mode]:32s} {figures(r)}{ratio}")
            click.echo(f"{'':18s} {'  baseline (writes first off)':32s} {figures(base)}")
            click.echo(f"{'':18s} {'  ours over the baseline':32s} {over_baseline(r, base)}")
            click.echo(f"{'':18s} {'  floor (no-op search engine)':32s} {figures(floor)}")
            click.echo(f"{'':18s} {'  ours over the floor':32s} {over_floor(r, floor)}")


if __name__ == "__main__":
    main()
