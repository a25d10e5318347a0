"""One round's stages at scale, each beside the bare library doing the same work (issue 26).

    .venv/bin/python bench/round.py [--sizes 100000,1000000] [--reviewed 100000] [-k 10000]
        [--stages dedup,select,push,report,export] [--api-records 20000] [--keep DIR] [--quick]

Synthetic rows, made here from seeds (nothing downloaded, no model run):

- dedup: N instructions of 12 to 30 made-up words (`bench/dedup.py`'s rows), 10% of them planted
  near-copies of an earlier one, written as an sft batch folder; `curation.dedup.dedup_batch` on
  it (read, dedup, write the child batch). Baseline: pandas' exact `drop_duplicates` of the same
  rows (read with pyarrow, written back): the bare work a dedup without MinHash does. Precision and
  recall are on the planted copies (truth: the exact Jaccard similarity, computed here).
- select: Deita selection of K rows from N, with given scores and embeddings from a seeded
  random source (384 dimensions; 10% of rows are planted near-copies of an earlier row, cosine
  distance about 0.005, so the distance rule has work). Baseline: numpy's stable sort of the
  scores, the K best taken (Deita's order without the distance rule).
- push: `curation.review.push.push_batch` of a K-row sft batch (`tests/review/sample_batches.py`'s
  rows) to an embedded server with the production search engine (curation-sqlite);
  baseline: the SDK's own `dataset.records.log` of the very same records (`bench/push.py`).
- report / export of a reviewed sft dataset (two annotators, every record reviewed, as
  `bench/export.py` makes them), measured at R/5 and R records: `curation.report.review_report`
  (what `curate report` calls) and `curation.export.export_dataset` (format sft); baseline: the
  SDK iterating the same records with their responses (`bench/export.py`'s baseline).

How the reviewed records are made (`--api-records A`, default 20k): the first A through the SDK
(`dataset.records.log` with two annotators' responses), as a server gets them; that is
server-bound (about 60 records/s on SQLite with 6 responses each: 100k would take half an hour),
so the rest are copies of those, made in the server's SQLite database with the server stopped
(`clone_to`: new ids and external ids, each instruction suffixed with its copy's number, the
responses and suggestions copied as the server wrote them). The reviewed dataset's server runs
the no-op search engine (`--reviewed-engine`): report and export read through the records list
endpoint, never search, and a search index would not know the copies. `--keep DIR` keeps that
server folder, and a later run reuses the records already there.

Each measurement runs alone in a process of its own; peak memory is that process's peak RSS
(VmHWM, reset once its inputs are made), with the part above what it held before in brackets.
One line per stage and size: rows/s (wall), peak MB, the baseline's rows/s and peak, and the
ratio stage/baseline. The report's line also gives its CPU seconds (issue 26: under a minute
of one core at 100k reviewed records) and export's ratio is the issue's (>= 0.8 of bare iteration).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dedup import jaccard, make_texts, peak_mb, reset_peak, scores, write_planted_batch  # noqa: E402

DIMENSIONS = 384
PLANTED = 0.1  # share of rows that are planted near-copies (dedup texts, select embeddings)
THRESHOLD = 0.8  # dedup's Jaccard threshold
DATASET = "bench-round-reviewed"
WORKSPACE = "argilla"  # the reviewed dataset's; push uses "bench"
QUICK = {"sizes": "2000", "reviewed": 200, "k": 100, "api_records": 100}


# -- the stages' work, each run in a worker process ----------------------------------------------

def select_indexes(scores_: np.ndarray, embeddings: np.ndarray, k: int, threshold: float) -> list[int]:
    """Deita selection's kept row indexes: the one call to switch when `deita_select.select_indexes` lands."""
    from curation import deita_select

    if hasattr(deita_select, "select_indexes"):
        return list(deita_select.select_indexes(scores_, embeddings, k, threshold))
    rows = [{"complexity_score": float(s), "quality_score": 1.0, "instruction_embedding": e}
            for s, e in zip(scores_, embeddings)]
    return deita_select.select(rows, k, threshold).kept


def select_inputs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """(scores, unit embeddings float32, {planted row: its source}): seeded, no model."""
    rng = np.random.default_rng(seed)
    scores_ = rng.uniform(1, 36, n).round(3)  # complexity × quality, each 1..6
    embeddings = rng.standard_normal((n, DIMENSIONS), dtype=np.float32)
    planted_rows = np.flatnonzero(rng.random(n) < PLANTED)
    planted_rows = planted_rows[planted_rows > 0]
    originals = np.setdiff1d(np.arange(n), planted_rows)  # a copy's source is an earlier original
    sources = originals[(rng.random(len(planted_rows)) * np.searchsorted(originals, planted_rows)).astype(np.int64)]
    embeddings[planted_rows] = embeddings[sources] + 0.1 * rng.standard_normal((len(planted_rows), DIMENSIONS),
                                                                               dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return scores_, embeddings, dict(zip(planted_rows.tolist(), sources.tolist()))


def work_dedup(args) -> dict:
    from curation.batch import load_batch
    from curation.dedup import dedup_batch, read_dropped

    parent = load_batch(args.path)
    with measured() as m:
        child = dedup_batch(parent, threshold=THRESHOLD, out=Path(args.path).parent / "child")
    return {**m, "rows": parent.manifest["rows"]["kept"],
            "found": {r["parent_row"]: r["duplicate_of_row"] for r in read_dropped(child)}}


def work_dedup_baseline(args) -> dict:
    import pyarrow.parquet as pq

    from curation.batch import ROWS_FILE

    with measured() as m:
        frame = pq.read_table(Path(args.path) / ROWS_FILE).to_pandas()
        kept = frame.drop_duplicates(subset=["instruction"])
        kept.to_parquet(Path(args.path).parent / "exact.parquet")
    return {**m, "rows": len(frame), "dropped": len(frame) - len(kept)}


def work_select(args) -> dict:
    scores_, embeddings, planted = select_inputs(args.n, args.seed)
    with measured() as m:
        kept = select_indexes(scores_, embeddings, args.k, 0.1)
    chosen = set(kept)
    both = sum(row in chosen and source in chosen for row, source in planted.items())
    return {**m, "rows": args.n, "kept": len(kept), "planted_pairs_kept": both}


def work_select_baseline(args) -> dict:
    scores_, _, _ = select_inputs(args.n, args.seed)
    with measured() as m:
        kept = np.argsort(-scores_, kind="stable")[:args.k]
    return {**m, "rows": args.n, "kept": len(kept)}


def work_push(args) -> dict:
    from curation.review.push import push_batch

    with measured() as m:
        report = push_batch(args.path, args.name, workspace="bench", client=client(), show_progress=False)
    return {**m, "rows": report.sent}


def work_push_baseline(args) -> dict:
    import argilla as rg

    from bench.push import sdk_records
    from curation.batch import load_batch
    from curation.review.config import default_config_path, load_config

    sdk = client()
    batch, config = load_batch(args.path), load_config(default_config_path("sft"))
    dataset = rg.Dataset(name=args.name, workspace="bench", settings=config.settings(sdk), client=sdk).create()
    records = sdk_records(batch, config, dataset)  # push's own mapping, untimed: the SDK is timed on log alone
    with measured() as m:
        dataset.records.log(records)
    return {**m, "rows": len(records)}


def preload(*modules: str) -> None:
    """Import what the measured call imports lazily, so its peak is the work's, not the imports'."""
    import importlib

    for module in modules:
        importlib.import_module(module)


REPORT_MODULES = ("curation.report.figures", "curation.report.read", "curation.report.rounds",
                  "curation.review.status", "curation.review.siblings", "curation.export.run",
                  "curation.export.formats", "curation.export.select")


def work_report(args) -> dict:
    from curation.report import review_report

    preload(*REPORT_MODULES)

    with measured() as m:
        figures = review_report(args.name, WORKSPACE, client=client())
    return {**m, "rows": figures["records"]["total"], "submitted": figures["records"]["submitted"]}


def work_export(args) -> dict:
    from curation.export import export_dataset

    preload(*REPORT_MODULES)
    with tempfile.TemporaryDirectory() as out, measured() as m:
        report = export_dataset(args.name, format="sft", workspace=WORKSPACE, out=out, client=client())
    return {**m, "rows": report.counts.seen}


def work_iterate(args) -> dict:
    from bench.export import PAGE_SIZE

    dataset, rows = client().datasets(args.name, workspace=WORKSPACE), 0
    with measured() as m:
        for record in dataset.records(with_responses=True, batch_size=PAGE_SIZE):
            rows += bool(record.responses)
    return {**m, "rows": rows}


WORK = {"dedup": work_dedup, "dedup-baseline": work_dedup_baseline, "select": work_select,
        "select-baseline": work_select_baseline, "push": work_push, "push-baseline": work_push_baseline,
        "report": work_report, "export": work_export, "iterate": work_iterate}


def client():
    import argilla as rg

    return rg.Argilla(api_url=os.environ["ARGILLA_API_URL"], api_key=os.environ["ARGILLA_API_KEY"])


@contextmanager
def measured():
    """Fills the dict it yields with wall and CPU seconds and the RSS before/at peak (MB) of the block."""
    figures: dict = {"rss_start": reset_peak()}
    wall, cpu = time.perf_counter(), time.process_time()
    yield figures
    figures.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu, rss_peak=peak_mb())


def measure(work: str, env: dict | None = None, **options) -> dict:
    """`work` alone in a fresh process; its figures."""
    command = [sys.executable, __file__, "--worker", work]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{work} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the parent: inputs, the server, one line per stage and size ---------------------------------

def line(stage: str, size: str, new: dict, base: dict, base_name: str, extra: str = "") -> str:
    rate, base_rate = new["rows"] / new["wall"], base["rows"] / base["wall"]
    return (f"{stage} {size}: {rate:,.0f} rows/s ({new['wall']:.1f} s, {new['cpu']:.1f} s CPU), peak "
            f"{new['rss_peak']:,.0f} MB (+{new['rss_peak'] - new['rss_start']:,.0f}); baseline {base_name}: "
            f"{base_rate:,.0f} rows/s, peak {base['rss_peak']:,.0f} MB (+{base['rss_peak'] - base['rss_start']:,.0f}); "
            f"ratio {rate / base_rate:.3f}{extra}")


def stage_dedup(n: int, args, scratch: Path) -> None:
    texts, planted = make_texts(n, PLANTED, args.seed)
    truth = {row: jaccard(texts[row], texts[source]) for row, source in planted.items()}
    folder = scratch / f"dedup-{n}"
    path = write_planted_batch(texts, folder).path
    del texts
    new, base = measure("dedup", path=path), measure("dedup-baseline", path=path)
    texts, _ = make_texts(n, PLANTED, args.seed)
    precision, recall = scores({int(r): of for r, of in new["found"].items()}, texts, THRESHOLD, truth)
    print(line("dedup", f"N={n:,}", new, base, "pandas exact drop_duplicates",
               f"; dropped {len(new['found']):,} (exact: {base['dropped']:,}), precision {precision:.4f}, "
               f"recall {recall:.4f} on {len(planted):,} planted copies"), flush=True)


def stage_select(n: int, args) -> None:
    new = measure("select", n=n, k=args.k, seed=args.seed)
    base = measure("select-baseline", n=n, k=args.k, seed=args.seed)
    print(line("select", f"K={args.k:,} of N={n:,}", new, base, "numpy stable sort of the scores",
               f"; kept {new['kept']:,}, planted near-copy pairs kept together {new['planted_pairs_kept']}"), flush=True)


def stage_push(args, scratch: Path, env: dict, sdk) -> None:
    from tests.review.sample_batches import write_sample_batch

    import argilla as rg

    if sdk.workspaces("bench") is None:
        rg.Workspace(name="bench", client=sdk).create()
    path = write_sample_batch(scratch / "push", "sft", args.k, seed=args.seed).path
    stamp = time.strftime("%Y%m%d%H%M%S")
    names = (f"bench-round-push-{stamp}", f"bench-round-sdk-{stamp}")
    try:
        new = measure("push", env, path=path, name=names[0])
        base = measure("push-baseline", env, path=path, name=names[1])
    finally:
        for name in names:  # a kept server folder keeps only the reviewed dataset
            dataset = sdk.datasets(name, workspace="bench")
            if dataset is not None:
                dataset.delete()
    print(line("push", f"K={args.k:,}", new, base, "SDK records.log"), flush=True)


def reviewed_dataset(sdk):
    """The reviewed dataset (made on first use) and its two annotators."""
    import argilla as rg

    from curation.review.config import default_config_path, load_config
    from curation.server import embedded

    workspace = sdk.workspaces(WORKSPACE) or rg.Workspace(name=WORKSPACE, client=sdk).create()
    users = []
    for name in ("bench-ann1", "bench-ann2"):
        user = sdk.users(name)
        if user is None:
            user = rg.User(username=name, password=embedded.new_secret(), role="annotator", client=sdk).create()
            workspace.add_user(user)
        users.append(user)
    dataset = sdk.datasets(DATASET, workspace=workspace)
    if dataset is None:
        settings = load_config(default_config_path("sft")).settings(sdk)
        dataset = rg.Dataset(DATASET, workspace=workspace, settings=settings, client=sdk).create()
    return dataset, users


def grow_to(dataset, users, target: int, state: Path) -> None:
    """Log reviewed records until the dataset holds `target` (the count is kept beside the server)."""
    from bench.export import make_records

    logged = logged_so_far(state)
    started = time.perf_counter()
    while logged < target:
        chunk = min(1000, target - logged)
        dataset.records.log(make_records(logged, chunk, users, random.Random(logged)), batch_size=250)
        logged += chunk
        save_state(state, logged)
    if time.perf_counter() - started > 1:
        print(f"(logged reviewed records up to {logged:,} in {time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)


def logged_so_far(state: Path) -> int:
    return json.loads(state.read_text())["logged"] if state.exists() else 0


def clone_to(database: Path, dataset_id: str, target: int, state: Path) -> None:
    """Copy the records made through the API, with their responses and suggestions, in the server's
    SQLite database (server stopped) until the dataset holds `target`: new ids and external ids, the
    instruction suffixed with the copy's number so no two records are alike, all else as the server
    wrote it. Only with the no-op search engine (a search index would not know the copies)."""
    logged = logged_so_far(state)
    started = time.perf_counter()
    with sqlite3.connect(database) as db:
        sources = [row[0] for row in db.execute(
            "SELECT id FROM records WHERE dataset_id = ? AND external_id NOT LIKE 'c%' ORDER BY rowid", (dataset_id,))]
        for number in range(logged, target):
            source, new = sources[number % len(sources)], uuid.uuid4().hex
            db.execute("INSERT INTO records (id, fields, external_id, dataset_id, inserted_at, updated_at, metadata,"
                       " status) SELECT ?, json_set(fields, '$.instruction', json_extract(fields, '$.instruction') ||"
                       " ?), ?, dataset_id, inserted_at, updated_at, metadata, status FROM records WHERE id = ?",
                       (new, f" (copy {number})", f"c{number}", source))
            for table, columns in (("responses", '"values", status, user_id'),
                                   ("suggestions", "value, score, agent, type, question_id")):
                db.execute(f"INSERT INTO {table} (id, record_id, inserted_at, updated_at, {columns}) SELECT"
                           f" lower(hex(randomblob(16))), ?, inserted_at, updated_at, {columns} FROM {table}"
                           " WHERE record_id = ?", (new, source))
    save_state(state, target)
    print(f"(copied records in the database up to {target:,} in {time.perf_counter() - started:.0f} s)",
          file=sys.stderr, flush=True)


def save_state(state: Path, logged: int) -> None:
    state.write_text(json.dumps({"logged": logged}))
    state.chmod(0o600)  # the server folder is private


def stage_reviewed(args, stages: list[str], folder: Path) -> None:
    """Report and export at R/5 and R reviewed records: made through the API up to --api-records,
    copied in the database beyond (see `clone_to`)."""
    import argilla as rg

    state = folder / "bench-round.json"
    results = {}
    for size in sorted({max(1, args.reviewed // 5), args.reviewed}):
        if logged_so_far(state) > size:  # a kept server's dataset only grows: it cannot be measured smaller
            print(f"(R={size:,} skipped: the kept server in {folder} already holds {logged_so_far(state):,} "
                  "reviewed records)", flush=True)
            continue
        with server(folder, args.port, args.reviewed_engine) as (info, env):
            dataset, users = reviewed_dataset(rg.Argilla(api_url=info.url, api_key=info.api_key))
            grow_to(dataset, users, min(size, max(args.api_records, logged_so_far(state))), state)
            if logged_so_far(state) < size:
                if args.reviewed_engine != "curation-noop":
                    raise SystemExit("copying records in the database needs --reviewed-engine curation-noop")
                dataset_id = dataset.id.hex
                info = None  # copied with the server stopped, then started again
        if info is None:
            clone_to(folder / "argilla.db", dataset_id, size, state)
        with server(folder, args.port, args.reviewed_engine) as (info, env):
            base = measure("iterate", env, name=DATASET)
            made = (f"; {min(size, args.api_records):,} records made through the API"
                    f"{', the rest copies in the database' if size > args.api_records else ''}")
            if "report" in stages:
                new = results[size] = measure("report", env, name=DATASET)
                print(line("report", f"R={size:,}", new, base, "SDK iteration with responses",
                           f"; {new['cpu']:.1f} s of CPU (issue 26: < 60 s at 100k){made}"), flush=True)
            if "export" in stages:
                new = measure("export", env, name=DATASET)
                print(line("export", f"R={size:,}", new, base, "SDK iteration with responses",
                           f" (issue 26: >= 0.8){made}"), flush=True)
    if len(results) == 2:
        (small, a), (large, b) = sorted(results.items())
        print(f"report memory: +{a['rss_peak'] - a['rss_start']:,.0f} MB at R={small:,}, "
              f"+{b['rss_peak'] - b['rss_start']:,.0f} MB at R={large:,} (flat means the records are streamed)")


@contextmanager
def server(folder: Path | None, port: int, search_engine: str):
    """An embedded server in `folder` (kept afterwards, stopped) or in a temporary folder."""
    from curation.server import embedded

    with tempfile.TemporaryDirectory(prefix="bench-round-server-") as tmp:
        folder = folder.resolve() if folder else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        info = embedded.start(folder, port, search_engine=search_engine)
        try:
            yield info, {"ARGILLA_API_URL": info.url, "ARGILLA_API_KEY": info.api_key}
        finally:
            embedded.stop(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--sizes", default="100000,1000000", help="N for dedup and select, comma-separated")
    parser.add_argument("--reviewed", type=int, default=100_000, help="R: reviewed records for report and export")
    parser.add_argument("-k", "--k", type=int, default=10_000, help="K: rows Deita selection keeps, and push sends")
    parser.add_argument("--stages", default="dedup,select,push,report,export")
    parser.add_argument("--api-records", type=int, default=20_000,
                        help="reviewed records made through the API; beyond, copies of them in the database")
    parser.add_argument("--keep", help="server folder to keep (and reuse) with its reviewed records")
    parser.add_argument("--port", type=int, default=6947)
    parser.add_argument("--reviewed-engine", default="curation-noop",
                        help="search engine of the reviewed dataset's server: report and export read through the "
                             "list endpoint, never search, and the no-op engine logs the records 3x faster")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help=f"small sizes ({QUICK}), for the test")
    for hidden in ("--worker", "--path", "--name"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".* not found")  # the SDK's look-ups before a first create
    if args.worker:
        print(json.dumps(WORK[args.worker](args)))
        return
    if args.quick:
        args.sizes, args.reviewed, args.k, args.api_records = QUICK.values()
    stages = args.stages.split(",")
    unknown = set(stages) - {"dedup", "select", "push", "report", "export"}
    if unknown:
        raise SystemExit(f"unknown stage(s): {', '.join(sorted(unknown))}")
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"bench/round.py: sizes {sizes}, K={args.k:,}, reviewed R={args.reviewed:,}; each measurement alone in "
          "its own process; peak = that process's peak RSS (+ above what it held before the work)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-round-") as scratch:
        scratch = Path(scratch)
        os.environ["CURATION_HOME"] = str(scratch / "home")  # the report's batch look-ups stay in here
        for n in sizes:
            if "dedup" in stages:
                stage_dedup(n, args, scratch)
            if "select" in stages:
                stage_select(n, args)
        import argilla as rg

        if "push" in stages:  # the production search engine: push indexes what it sends
            with server(None, args.port, "curation-sqlite") as (info, env):
                stage_push(args, scratch, env, rg.Argilla(api_url=info.url, api_key=info.api_key))
        if {"report", "export"} & set(stages):
            stage_reviewed(args, stages, Path(args.keep).resolve() if args.keep else scratch / "reviewed-server")

if __name__ == "__main__":
    main()
