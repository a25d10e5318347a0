"""Benchmark decontamination: rows/s and peak memory against a 10k-row benchmark, with a baseline.

    .venv/bin/python bench/decontaminate.py [-n 200000] [--benchmark-rows 10000] [--ngram 13]
                                            [--planted 0.01] [--baseline-rows 20000] [--seed 0]

Synthetic data of made-up words (a 30,000-word vocabulary): a benchmark of --benchmark-rows
rows (a 20-60 word `question`, a 5-40 word `answer`) written as .jsonl, and an sft batch of -n
rows (a 10-40 word instruction, a 40-160 word response), a share (--planted) of which carry 13
to 30 consecutive words of a benchmark text inside the response. Every planted row should go.

Each measurement runs in a fresh process (so the peak RSS it reports is its own):

- `curate decontaminate`'s work (`decontaminate_batch`: read the benchmark, build its index,
  stream the batch, write the child batch and dropped.parquet): rows/s wall and CPU, peak RSS
  above the process after its imports;
- baseline, same run: a bare Python loop over the same rows building the same n-grams
  (regex words, a hash of each 13-word tuple) with no lookup and nothing written, on the
  first --baseline-rows rows (the per-row rate is what compares).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mb() -> float:
    """This process's peak RSS: VmHWM, not getrusage, whose maxrss survives the exec of a forked parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(folder: Path, n: int, bench_rows: int, planted_share: float, seed: int) -> tuple[Path, Path, int]:
    """(batch folder, benchmark file, planted rows)."""
    import numpy as np

    from curation.batch import new_batch_id, package_versions, write_batch

    rng = random.Random(seed)
    draw = np.random.default_rng(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = np.array(sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(32000)}))

    def text(lo: int, hi: int) -> str:
        return " ".join(vocab[draw.integers(0, len(vocab), int(draw.integers(lo, hi + 1)))])

    bench = [{"question": text(20, 60) + "?", "answer": text(5, 40) + "."} for _ in range(bench_rows)]
    bench_file = folder / "bench.jsonl"
    bench_file.write_text("".join(json.dumps(b) + "\n" for b in bench))
    rows, planted = [], 0
    for _ in range(n):
        response = text(40, 160)
        if rng.random() < planted_share:
            source = rng.choice(bench)["question"].rstrip("?").split()
            size = min(rng.randint(13, 30), len(source))
            start = rng.randint(0, len(source) - size)
            response += " " + " ".join(source[start:start + size]) + ". " + text(5, 20)
            planted += 1
        rows.append({"instruction": text(10, 40).capitalize() + "?", "response": response,
                     "model_name": "bench", "raw_output": "{}"})
    batch_id = new_batch_id("bench")
    manifest = {"batch_id": batch_id, "recipe": "bench", "kind": "sft", "model": "bench",
                "rows": {"requested": n, "generated": n, "kept": n, "dropped": 0}, "versions": package_versions()}
    write_batch(folder / batch_id, rows, manifest)
    return folder / batch_id, bench_file, planted


def measure_decontaminate(batch_dir: str, bench_file: str, ngram: int) -> dict:
    from curation.batch import load_batch
    from curation.decontaminate import decontaminate_batch, load_benchmark

    batch = load_batch(batch_dir)
    start_mb = peak_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    child = decontaminate_batch(batch, [load_benchmark(bench_file)], n=ngram, out=Path(batch_dir).parent / "child")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rows": batch.manifest["rows"]["kept"], "wall": wall, "cpu": cpu, "start_mb": start_mb,
            "peak_mb": peak_mb(), "dropped": child.manifest["decontamination"]["removed"]}


def measure_baseline(batch_dir: str, ngram: int, rows: int) -> dict:
    import pyarrow.parquet as pq

    word = re.compile(r"[^\W_]+")
    table = pq.read_table(Path(batch_dir) / "rows.parquet", columns=["instruction", "response"]).slice(0, rows)
    texts = table.to_pydict()
    start_mb = peak_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    count = 0
    for pair in zip(texts["instruction"], texts["response"]):
        for t in pair:
            words = word.findall(t.lower())
            for i in range(len(words) - ngram + 1):
                hash(tuple(words[i:i + ngram]))
                count += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rows": table.num_rows, "wall": wall, "cpu": cpu, "start_mb": start_mb, "peak_mb": peak_mb(),
            "ngrams": count}


def in_fresh_process(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument("--benchmark-rows", type=int, default=10_000)
    parser.add_argument("--ngram", type=int, default=13)
    parser.add_argument("--planted", type=float, default=0.01, help="share of rows carrying benchmark words")
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)  # internal: one measurement, as JSON
    args = parser.parse_args()
    if args.measure:
        what, *rest = args.measure
        result = (measure_decontaminate(rest[0], rest[1], args.ngram) if what == "decontaminate"
                  else measure_baseline(rest[0], args.ngram, args.baseline_rows))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-decontaminate-") as tmp:
        made = time.perf_counter()
        batch_dir, bench_file, planted = make_data(Path(tmp), args.n, args.benchmark_rows, args.planted, args.seed)
        print(f"rows: {args.n} (planted {planted}); benchmark rows: {args.benchmark_rows}; {args.ngram}-grams; "
              f"data made in {time.perf_counter() - made:.0f} s")
        common = ["--ngram", str(args.ngram), "--baseline-rows", str(args.baseline_rows)]
        d = in_fresh_process(*common, "--measure", "decontaminate", str(batch_dir), str(bench_file))
        b = in_fresh_process(*common, "--measure", "baseline", str(batch_dir))
    d_rate, b_rate = d["rows"] / d["wall"], b["rows"] / b["wall"]
    print(f"decontaminate: {d_rate:,.0f} rows/s wall ({d['wall']:.1f} s), {d['rows'] / d['cpu']:,.0f} rows/s CPU; "
          f"dropped {d['dropped']} of {planted} planted")
    print(f"baseline python n-grams, no lookup: {b_rate:,.0f} rows/s wall ({b['rows']} rows, {b['ngrams']:,} "
          f"n-grams, {b['wall']:.1f} s), {b['rows'] / b['cpu']:,.0f} rows/s CPU")
    print(f"ratio decontaminate/baseline rows/s: {d_rate / b_rate:.1f}x wall, "
          f"{(d['rows'] / d['cpu']) / (b['rows'] / b['cpu']):.1f}x CPU (the wall clock of a shared machine wanders)")
    print(f"peak RSS decontaminate: {d['peak_mb']:.0f} MB (+{d['peak_mb'] - d['start_mb']:.0f} MB over its imports)")
    print(f"peak RSS baseline: {b['peak_mb']:.0f} MB ({b['rows']} rows read as Python strings first)")


if __name__ == "__main__":
    main()
