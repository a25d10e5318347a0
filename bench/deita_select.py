"""Deita selection at scale: rows/s and peak memory of selecting K of N, beside the implementation before issue 26.

    .venv/bin/python bench/deita_select.py [--sizes 100000,1000000] [-k 10000] [--dim 576] [--threshold 0.1]
        [--engines indexes,rows,float16,memmap,baseline,ann] [--baseline-rows 20000] [--baseline-k 3000] [--seed 0]

Synthetic, deterministic data: N float32 vectors of --dim dimensions around N/50 random cluster
centres (two rows of a cluster are about 0.5 apart in cosine distance), of which 10% are planted
near-copies of an earlier row at cosine distances spread from 0 to about 0.2, scored close to
their source (so that copies of good rows meet them near the top of the walk); scores are rounded
to 2 decimals, so many tie. Scores are given: the Deita scorers are not run.

Engines, each run alone in a process of its own; peak RSS (VmHWM, reset once the data is made) as
a whole and the part above what the process held before, i.e. beyond the input itself:

- indexes: `curation.deita_select.select_indexes(scores, embeddings, k, threshold)` on the arrays;
- rows: `curation.deita_select.select(rows, k, threshold)` on N row dicts whose embedding is a
  numpy row (what a caller holding rows does; the dicts are made before the peak is reset);
- float16: `select_indexes` on the embeddings cast to float16 (half the caller's memory; the
  selection is the rule's on the float16 values);
- memmap: `select_indexes` on the embeddings as a read-only `np.load(..., mmap_mode="r")` of a .npy
  file written before the timing (its peak RSS counts the file's pages the kernel mapped in, which
  are page cache, not allocations: the line says how much of it is file-backed);
- baseline: the function before issue 26 (copied below as it was: every vector in float64 twice,
  each candidate against the kept rows gathered afresh) on --baseline-rows rows with K = --baseline-k
  (its time grows with K²: K=2,000 of 5,000 rows took 12 s here).

"walked": the candidates the walk went through before it had K rows (all N when it never has).
ann (when faiss-cpu is importable; it is not a dependency): a candidate's cost against the rows kept
from the smallest size, exact float32 product vs an HNSW search, to see whether an index would pay.

The selection check runs `select_indexes` on the baseline's rows and K too: both must keep the same rows
in the same order (the rule is exact, not approximate).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curation.deita_select import deita_score, select, select_indexes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup import peak_mb, reset_peak  # noqa: E402  (bench/dedup.py: one peak-RSS reading for every bench)

COLUMN = "instruction_embedding"
CHUNK = 65_536


def make_data(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores float64, embeddings float32 N × dim), made in chunks so that no float64 N × dim copy exists."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(2, n // 50), dim), dtype=np.float32)
    vectors = np.empty((n, dim), dtype=np.float32)
    scores = np.round(rng.uniform(1, 36, n), 2)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        vectors[start:stop] = centers[rng.integers(0, len(centers), stop - start)]
        vectors[start:stop] += rng.standard_normal((stop - start, dim), dtype=np.float32)
    copies = np.flatnonzero(rng.random(n) < 0.1)
    copies = copies[copies > 0]
    sources = (rng.random(len(copies)) * copies).astype(np.int64)  # an earlier row
    for start in range(0, len(copies), CHUNK):
        rows, of = copies[start:start + CHUNK], sources[start:start + CHUNK]
        spread = rng.uniform(0, 0.7, (len(rows), 1)).astype(np.float32) * np.sqrt(2, dtype=np.float32)
        vectors[rows] = vectors[of] + spread * rng.standard_normal((len(rows), dim), dtype=np.float32)
        scores[rows] = np.round(scores[of] * rng.uniform(0.97, 1.03, len(rows)), 2)
    return scores, vectors


def baseline_select(rows: list[dict], k: int, threshold: float, column: str = COLUMN) -> list[int]:
    """`curation.deita_select.select` before issue 26 (its checks and Selection wrapper left out)."""
    order = sorted(range(len(rows)), key=lambda i: -deita_score(rows[i]))  # stable: ties keep row order
    vectors = np.asarray([rows[i][column] for i in range(len(rows))], dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    kept: list[int] = []
    for i in order:
        if len(kept) >= k:
            break
        if not kept or float(np.min(1 - unit[kept] @ unit[i])) > threshold:
            kept.append(i)
    return kept


def as_rows(scores: np.ndarray, vectors: np.ndarray) -> list[dict]:
    return [{"complexity_score": float(s), "quality_score": 1.0, COLUMN: v} for s, v in zip(scores, vectors)]


def ann_probe(args) -> None:
    """Would an ANN index pay? A candidate's cost against K kept rows: the exact float32 product (what
    select_indexes does, a block at a time) vs faiss-cpu's HNSW search (which could only speed up the
    rejections: a kept candidate still needs the exact product). Run when faiss is importable."""
    import faiss

    scores, vectors = make_data(args.rows, args.dim, args.seed)
    kept = select_indexes(scores, vectors, args.k, args.threshold)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index, queries = unit[kept], np.delete(unit, kept, axis=0)[:20_000]
    wall = time.perf_counter()
    exact = np.concatenate([(queries[i:i + 1024] @ index.T).max(axis=1) for i in range(0, len(queries), 1024)])
    exact_us = (time.perf_counter() - wall) / len(queries) * 1e6
    hnsw = faiss.IndexHNSWFlat(args.dim, 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efSearch = 32
    wall = time.perf_counter()
    hnsw.add(index)
    build = time.perf_counter() - wall
    wall = time.perf_counter()
    found, _ = hnsw.search(queries, 1)
    search_us = (time.perf_counter() - wall) / len(queries) * 1e6
    recall = float(np.mean(np.isclose(found[:, 0], exact, atol=1e-5)))
    print(json.dumps({"engine": "ann", "kept": len(kept), "exact_us": exact_us, "search_us": search_us,
                      "build": build, "recall": recall}))


def worker(args) -> None:
    """One engine on the first --rows rows, alone in this process: its figures as one JSON line."""
    if args.worker == "ann":
        return ann_probe(args)
    scores, vectors = make_data(args.rows, args.dim, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        if args.worker == "memmap":
            path = Path(scratch) / "embeddings.npy"
            np.save(path, vectors)
            del vectors
            vectors = np.load(path, mmap_mode="r")
        if args.worker == "float16":
            vectors = vectors.astype(np.float16)
        if args.worker in ("indexes", "memmap", "float16"):
            run = lambda: select_indexes(scores, vectors, args.k, args.threshold)  # noqa: E731
        elif args.worker in ("rows", "baseline"):
            rows = as_rows(scores, vectors)
            if args.worker == "rows":
                run = lambda: select(rows, args.k, args.threshold).kept  # noqa: E731
            else:
                run = lambda: baseline_select(rows, args.k, args.threshold)  # noqa: E731
        else:
            raise SystemExit(f"unknown engine {args.worker!r}")
        rss_start = reset_peak()
        wall, cpu = time.perf_counter(), time.process_time()
        kept = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss_peak = peak_mb()
        status = Path("/proc/self/status").read_text()
        rss_file = int(status.split("RssFile:")[1].split()[0]) / 1024 if "RssFile:" in status else 0.0
        rank = np.empty(len(scores), dtype=np.int64)
        rank[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
        walked = int(rank[kept].max()) + 1 if kept else 0  # candidates the walk went through
        print(json.dumps({"engine": args.worker, "rows": args.rows, "k": args.k, "wall": wall, "cpu": cpu,
                          "rss_start": rss_start, "rss_peak": rss_peak, "rss_file": rss_file, "kept": kept,
                          "walked": walked}))


def measure(engine: str, args, rows: int, k: int) -> dict:
    command = [sys.executable, __file__, "--worker", engine, "--rows", str(rows), "-k", str(k), "--dim",
               str(args.dim), "--threshold", str(args.threshold), "--seed", str(args.seed)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def line(r: dict) -> str:
    extra = r["rss_peak"] - r["rss_start"]
    return (f"{r['engine']} K={r['k']:,} of {r['rows']:,} rows: kept {len(r['kept']):,} (walked {r['walked']:,} "
            f"candidates, dropped {r['walked'] - len(r['kept']):,}); {r['rows'] / r['wall']:,.0f} rows/s wall "
            f"({r['wall']:.2f} s, CPU {r['cpu']:.2f} s); peak RSS {r['rss_peak']:,.0f} MB, +{extra:,.0f} MB beyond "
            f"what the process held with its input made"
            + (f"; {r['rss_file']:,.0f} MB of it file-backed at the end (the mapped .npy: page cache, not allocated)"
               if r["engine"] == "memmap" else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N")
    parser.add_argument("-k", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=576, help="576: the bundled model's embeddings")
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--engines", default="indexes,rows,float16,memmap,baseline,ann")
    parser.add_argument("--baseline-rows", type=int, default=20_000,
                        help="rows the baseline runs on (it holds two float64 copies of the input)")
    parser.add_argument("--baseline-k", type=int, default=3_000,
                        help="the baseline's K (its time grows with K²: it gathers the kept rows for every candidate)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    engines = [e for e in args.engines.split(",") if e != "ann" or importlib.util.find_spec("faiss")]
    print(f"K={args.k:,}, {args.dim} dimensions (float32 input: {args.dim * 4} bytes a row), threshold {args.threshold}; "
          f"each engine alone in its own process")
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        for engine in (e for e in engines if e not in ("baseline", "ann")):
            print(line(measure(engine, args, n, args.k)), flush=True)
    if "ann" in engines:
        r = measure("ann", args, min(sizes), args.k)
        print(f"ANN probe, a candidate against the {r['kept']:,} rows kept of {min(sizes):,}: exact float32 product "
              f"{r['exact_us']:.0f} µs; faiss HNSW (M=16, efSearch=32) search {r['search_us']:.0f} µs at top-1 recall "
              f"{r['recall']:.3f}, index built in {r['build']:.1f} s (and a kept candidate needs the exact product too)")
    if "baseline" in engines:
        k = min(args.k, args.baseline_k)
        old, new = measure("baseline", args, args.baseline_rows, k), measure("indexes", args, args.baseline_rows, k)
        print(line(old))
        print(line(new))
        print(f"same run, {args.baseline_rows:,} rows: select_indexes {old['wall'] / new['wall']:.1f}x the baseline's "
              f"speed (wall); same selection: {'yes' if old['kept'] == new['kept'] else 'NO'} "
              f"({len(new['kept']):,} rows kept, in the same order)")


if __name__ == "__main__":
    main()
