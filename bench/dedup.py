"""Near-duplicate filter: throughput, peak memory, precision and recall on planted near-duplicates.

    .venv/bin/python bench/dedup.py [-n 100000] [--threshold 0.8] [--planted 0.1] [--seed 0]
        [--engines numpy,rensa,datasketch,exact,signatures] [--baseline-rows 100000]

N synthetic instructions (12 to 30 made-up words each, so two originals share next to no
character 5-gram), of which a share (--planted) are copies of an earlier original edited
by 0 to 7 word replacements, a case/punctuation change or an added word: their similarity to
the original spreads from 1.0 down to about 0.45, around the threshold. The truth is the exact
Jaccard similarity of the shingle sets (computed here, not estimated): a planted copy at or
above the threshold should be dropped, one below should be kept.

- recall: planted copies truly at/above the threshold that were dropped;
- precision: dropped rows whose named duplicate is truly at/above the threshold to them;
- by similarity band: the share of planted copies dropped (MinHash's estimate is noisy near the threshold).

Engines, each run alone in a process of its own: its peak RSS (VmHWM, reset once the texts are
made) as a whole, texts and libraries included, and the part above what it held before:

- numpy: `curation.dedup.find_duplicates`, the engine curate uses;
- batch: `curation.dedup.dedup_batch` on the texts written as an sft batch folder (outside the
  timing): what `curate dedup` does, reading the rows and writing the child batch included;
- rensa: the same bands and ordered check, the MinHash permutations by rensa's Rust `RMinHash`
  (from the same shingle hashes); run when rensa is installed (it is not a dependency);
- datasketch: the engine before issue 26 (datasketch `MinHash.bulk` + `MinHashLSH`), on the
  first --baseline-rows rows only (it takes about 7 GB a million rows); a row's fate depends
  only on the rows before it, so the numpy engine's figures on the same first rows compare;
- exact: exact-duplicate removal of the normalized text (a set of hashes: what a dedup without
  MinHash catches);
- signatures: `curation.dedup.signatures` alone (the hashing cost without the LSH).

The last figure line checks issue 26's target (at 1M rows: >= 30k rows/s, <= 1.5 GB peak).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curation import dedup  # noqa: E402
from curation.dedup import (  # noqa: E402
    LSH_MAX_THRESHOLD, LSH_WEIGHTS, NUM_PERM, SHINGLES, _NOT_WORD, Duplicate, find_duplicates, lsh_bands, shingles)

BANDS = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.01)
TARGET_ROWS_S = 30_000
TARGET_PEAK_GB = 1.5


def make_texts(n: int, planted_share: float, seed: int) -> tuple[list[str], dict[int, int]]:
    """(texts, {planted row: the original it was made from}); originals come before their copies."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(20000)})
    texts: list[str] = []
    planted: dict[int, int] = {}
    originals: list[int] = []
    for row in range(n):
        if originals and rng.random() < planted_share:
            source = rng.choice(originals)
            texts.append(_edit(texts[source], rng, words))
            planted[row] = source
        else:
            texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(12, 30))).capitalize() + "?")
            originals.append(row)
    return texts, planted


def _edit(text: str, rng: random.Random, words: list[str]) -> str:
    tokens = text.rstrip("?").split()
    how = rng.random()
    if how < 0.1:
        return text.upper().replace(" ", "  ") + "!"  # identical once normalized
    if how < 0.2:
        return " ".join(tokens + [rng.choice(words)]) + "?"
    for _ in range(rng.randint(1, 7)):
        tokens[rng.randrange(len(tokens))] = rng.choice(words)
    return " ".join(tokens) + "?"


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def scores(found: dict[int, int], texts: list[str], threshold: float, truth: dict[int, float]) -> tuple[float, float]:
    """(precision, recall) of {dropped row: the row it names} against the exact similarities."""
    positives = {row for row, sim in truth.items() if sim >= threshold}
    correct = sum(jaccard(texts[row], texts[of]) >= threshold for row, of in found.items())
    precision = correct / len(found) if found else 1.0
    recall = len(positives & found.keys()) / len(positives) if positives else 1.0
    return precision, recall


def exact_duplicates(texts: list[str]) -> list[Duplicate]:
    """Baseline: each row whose normalized text an earlier row has (what a dedup without MinHash catches)."""
    first: dict[bytes, int] = {}
    found = []
    for row, text in enumerate(texts):
        key = hashlib.blake2b(_NOT_WORD.sub(" ", text.casefold()).strip().encode(), digest_size=16).digest()
        if key in first:
            found.append(Duplicate(row, 1.0, of_row=first[key]))
        else:
            first[key] = row
    return found


def datasketch_duplicates(texts: list[str], threshold: float) -> list[Duplicate]:
    """Baseline: the engine before issue 26, as it was (datasketch `MinHash.bulk` over CRC-32 of the
    shingle sets, `MinHashLSH` with the same bands, only kept rows indexed)."""
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    template = LeanMinHash(MinHash(num_perm=NUM_PERM))
    lsh = MinHashLSH(threshold=min(threshold, LSH_MAX_THRESHOLD), num_perm=NUM_PERM, weights=LSH_WEIGHTS)
    kept: list[tuple[int, np.ndarray]] = []
    found = []
    for start in range(0, len(texts), 2048):
        for offset, h in enumerate(MinHash.bulk([shingles(t) for t in texts[start:start + 2048]],
                                                num_perm=NUM_PERM, hashfunc=zlib.crc32)):
            row, sig = start + offset, np.asarray(h.hashvalues, dtype=np.uint32)
            lean = LeanMinHash(seed=template.seed, hashvalues=sig, scheme=template.scheme)
            candidates = sorted(lsh.query(lean))
            if candidates:
                similarity = (np.stack([kept[i][1] for i in candidates]) == sig).mean(axis=1)
                top = int(np.argmax(similarity))
                if similarity[top] >= threshold:
                    found.append(Duplicate(row, float(similarity[top]), of_row=kept[candidates[top]][0]))
                    continue
            lsh.insert(len(kept), lean, check_duplication=False)
            kept.append((row, sig))
    return found


def rensa_signatures(texts) -> np.ndarray:
    """This engine's shingle hashes, permuted by rensa's `RMinHash` (Rust) instead of numpy."""
    import rensa

    texts = list(texts)
    out = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
    for start in range(0, len(texts), 2048):
        hashes, offsets = dedup._shingle_hashes(texts[start:start + 2048])
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes.astype(np.uint64),
                                                                     offsets.astype(np.uint64), NUM_PERM, 42)
        out[start:start + len(offsets) - 1] = np.asarray(matrix.to_rows(), dtype=np.uint32)
    return out


def run_engine(engine: str, texts: list[str], threshold: float) -> list[Duplicate]:
    if engine == "numpy":
        return find_duplicates(texts, threshold)
    if engine == "rensa":
        dedup.signatures = rensa_signatures  # the same bands and ordered check, rensa's MinHash
        return find_duplicates(texts, threshold)
    if engine == "datasketch":
        return datasketch_duplicates(texts, threshold)
    if engine == "exact":
        return exact_duplicates(texts)
    if engine == "signatures":
        dedup.signatures(texts)
        return []
    raise SystemExit(f"unknown engine {engine!r}")


def peak_mb() -> float:
    """The process's peak RSS since `reset_peak` (else since it started), in MB."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024  # KiB
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def reset_peak() -> float:
    """Start the peak RSS again from what the process holds now (Linux: /proc/self/clear_refs), so that
    the figure is the engine's, not the making of the texts'; the RSS now, in MB."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return peak_mb()


def write_planted_batch(texts: list[str], root: Path):
    """The texts as the instructions of an sft batch on disk (what `curate dedup` reads)."""
    from curation.batch import new_batch_id, write_batch

    rows = pa.table({"instruction": texts, "response": [f"Answer {i}." for i in range(len(texts))],
                     "model_name": ["planted"] * len(texts), "raw_output": ["{}"] * len(texts)})
    batch_id = new_batch_id("prompt")
    manifest = {"batch_id": batch_id, "recipe": "prompt", "kind": "sft", "model": "planted",
                "rows": {"requested": len(texts), "generated": len(texts), "kept": len(texts), "dropped": 0}}
    return write_batch(root / batch_id, rows, manifest)


def batch_worker(args) -> None:
    """`curation.dedup.dedup_batch` on the batch folder: read, dedup, write the child and its dropped rows."""
    from curation.batch import load_batch
    from curation.dedup import dedup_batch, read_dropped

    parent = load_batch(args.batch_dir)
    rss_start = reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    child = dedup_batch(parent, threshold=args.threshold, out=Path(args.batch_dir).parent / "child")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    found = {r["parent_row"]: r["duplicate_of_row"] for r in read_dropped(child)}
    print(json.dumps({"engine": "batch", "rows": parent.manifest["rows"]["kept"], "wall": wall, "cpu": cpu,
                      "rss_start": rss_start, "rss_peak": peak_mb(), "found": found}))


def worker(args) -> None:
    """One engine in this process alone (peak RSS is per process): its figures as one JSON line."""
    if args.worker == "batch":
        return batch_worker(args)
    texts, planted = make_texts(args.n, args.planted, args.seed)
    texts = texts[:args.rows]
    planted = {row: source for row, source in planted.items() if row < args.rows}
    import datasketch  # noqa: F401  (its import, scipy's included, is not the data's memory)
    if args.worker == "rensa":
        import rensa  # noqa: F401
    rss_start = reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    found = run_engine(args.worker, texts, args.threshold)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"engine": args.worker, "rows": len(texts), "wall": wall, "cpu": cpu, "rss_start": rss_start,
                      "rss_peak": peak_mb(), "found": {d.row: d.of_row for d in found}}))


def measure(engine: str, args, rows: int, batch_dir: Path | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", engine, "--rows", str(rows), "-n", str(args.n),
               "--threshold", str(args.threshold), "--planted", str(args.planted), "--seed", str(args.seed)]
    command += ["--batch-dir", str(batch_dir)] if batch_dir else []
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    result["found"] = {int(row): of for row, of in result["found"].items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--planted", type=float, default=0.1, help="share of rows that are planted copies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default="numpy,batch,rensa,datasketch,exact,signatures",
                        help="comma-separated: numpy (curation.dedup), batch (curate dedup's work on a batch folder), "
                             "rensa, datasketch (before), exact, signatures")
    parser.add_argument("--baseline-rows", type=int, default=100_000,
                        help="rows the datasketch baseline runs on (the first ones; it needs 7 GB a million)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch-dir", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    texts, planted = make_texts(args.n, args.planted, args.seed)
    truth = {row: jaccard(texts[row], texts[source]) for row, source in planted.items()}
    positives = sum(sim >= args.threshold for sim in truth.values())
    bands, band_rows = lsh_bands(args.threshold)
    print(f"rows: {args.n}; planted copies: {len(planted)} ({positives} truly >= {args.threshold}); "
          f"shingles {SHINGLES}; mean {sum(map(len, texts)) / len(texts):.0f} characters a row; "
          f"LSH {bands} bands of {band_rows}; each engine alone in its own process")
    engines = [e for e in args.engines.split(",") if e != "rensa" or importlib.util.find_spec("rensa")]
    with tempfile.TemporaryDirectory() as scratch:
        batch_dir = write_planted_batch(texts, Path(scratch)).path if "batch" in engines else None
        results = {e: measure(e, args, min(args.n, args.baseline_rows) if e == "datasketch" else args.n, batch_dir)
                   for e in engines}

    def quality(result: dict, rows: int) -> tuple[float, float]:
        found = {row: of for row, of in result["found"].items() if row < rows}
        return scores(found, texts, args.threshold, {row: sim for row, sim in truth.items() if row < rows})

    for engine, r in results.items():
        p, rc = quality(r, r["rows"])
        line = (f"{engine}: {r['rows'] / r['wall']:,.0f} rows/s wall ({r['wall']:.1f} s), {r['rows'] / r['cpu']:,.0f} "
                f"rows/s CPU; peak RSS {r['rss_peak']:,.0f} MB (+{r['rss_peak'] - r['rss_start']:,.0f} MB over what the "
                f"process held before, {(r['rss_peak'] - r['rss_start']) / r['rows'] * 100_000:,.0f} MB per 100k rows)")
        if engine != "signatures":
            line += f"; dropped {len(r['found'])}, precision {p:.4f}, recall {rc:.4f} on {r['rows']:,} rows"
        print(line)
    if "numpy" in results:
        new = results["numpy"]
        for engine in ("datasketch", "rensa", "exact"):
            if engine in results:
                old = results[engine]
                rows = min(new["rows"], old["rows"])
                (p, rc), (op, orc) = quality(new, rows), quality(old, rows)
                print(f"numpy vs {engine} (same run, first {rows:,} rows): rows/s CPU ratio "
                      f"{(new['rows'] / new['cpu']) / (old['rows'] / old['cpu']):.2f}x; precision {p:.4f} vs {op:.4f}, "
                      f"recall {rc:.4f} vs {orc:.4f}")
        rate, peak = new["rows"] / new["wall"], new["rss_peak"] / 1024
        p, rc = quality(new, new["rows"])
        met = rate >= TARGET_ROWS_S and peak <= TARGET_PEAK_GB
        print(f"target (issue 26, 1M rows on 2 cores: >= {TARGET_ROWS_S:,} rows/s, <= {TARGET_PEAK_GB} GB peak, "
              f"precision/recall about 0.953/0.954): {args.n:,} rows, {rate:,.0f} rows/s wall, {peak:.2f} GB peak RSS "
              f"(process, texts included), precision {p:.4f}, recall {rc:.4f}: {'met' if met else 'NOT met'}"
              f"{'' if args.n >= 1_000_000 else ' (at this size)'}")
    if "numpy" in results:
        found, exact = results["numpy"]["found"], results.get("exact", {}).get("found", {})
        print("planted copies dropped by true similarity band (numpy | exact):")
        for low, high in zip(BANDS, BANDS[1:]):
            rows = [row for row, sim in truth.items() if low <= sim < high]
            if rows:
                share = sum(row in found for row in rows) / len(rows)
                exact_share = sum(row in exact for row in rows) / len(rows)
                side = "above" if low >= args.threshold else "below"
                print(f"  [{low:.2f}, {min(high, 1.0):.2f}{']' if high > 1 else ')'} {side}: {len(rows):6d} copies, "
                      f"dropped {share:.3f} | {exact_share:.3f}")


if __name__ == "__main__":
    main()
