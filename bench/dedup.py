"""Near-duplicate filter: throughput, peak memory, precision and recall on planted near-duplicates.

    .venv/bin/python bench/dedup.py [-n 100000] [--threshold 0.8] [--planted 0.1] [--seed 0]

N synthetic instructions (12 to 30 made-up words each, so two originals share next to no
character 5-gram), of which a share (--planted) are copies of an earlier original edited
by 0 to 7 word replacements, a case/punctuation change or an added word: their similarity to
the original spreads from 1.0 down to about 0.45, around the threshold. The truth is the exact
Jaccard similarity of the shingle sets (computed here, not estimated): a planted copy at or
above the threshold should be dropped, one below should be kept.

- recall: planted copies truly at/above the threshold that were dropped;
- precision: dropped rows whose named duplicate is truly at/above the threshold to them;
- by similarity band: the share of planted copies dropped (MinHash's estimate is noisy near the threshold).

Baselines in the same run, on the same texts: exact-duplicate removal of the normalized text (a
set of hashes: what a dedup without MinHash catches), and MinHash signatures alone (the hashing
cost without the LSH index). Peak memory: the process's peak RSS (getrusage) before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curation.dedup import SHINGLES, _NOT_WORD, find_duplicates, shingles, signatures  # noqa: E402

BANDS = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.01)


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


def exact_duplicates(texts: list[str]) -> dict[int, int]:
    """Baseline: {row: first row with the same normalized text}."""
    first: dict[bytes, int] = {}
    found = {}
    for row, text in enumerate(texts):
        key = hashlib.blake2b(_NOT_WORD.sub(" ", text.casefold()).strip().encode(), digest_size=16).digest()
        if key in first:
            found[row] = first[key]
        else:
            first[key] = row
    return found


def timed(func, *args):
    """(result, wall seconds, CPU seconds): CPU time too, as the wall clock of a shared machine wanders."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = func(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def scores(found: dict[int, int], texts: list[str], planted: dict[int, int], threshold: float, truth: dict[int, float]):
    positives = {row for row, sim in truth.items() if sim >= threshold}
    correct = sum(jaccard(texts[row], texts[of]) >= threshold for row, of in found.items())
    precision = correct / len(found) if found else 1.0
    recall = len(positives & found.keys()) / len(positives) if positives else 1.0
    return precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--planted", type=float, default=0.1, help="share of rows that are planted copies")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts, planted = make_texts(args.n, args.planted, args.seed)
    truth = {row: jaccard(texts[row], texts[source]) for row, source in planted.items()}
    positives = sum(sim >= args.threshold for sim in truth.values())
    print(f"rows: {args.n}; planted copies: {len(planted)} ({positives} truly >= {args.threshold}); "
          f"shingles {SHINGLES}; mean {sum(map(len, texts)) / len(texts):.0f} characters a row")
    import datasketch  # noqa: F401  (its import, scipy's included, is not the data's memory)

    rss_start = peak_mb()
    (exact, exact_s, exact_cpu) = timed(exact_duplicates, texts)
    (_, hash_s, hash_cpu) = timed(signatures, texts)
    rss_hash = peak_mb()
    (dups, dedup_s, dedup_cpu) = timed(find_duplicates, texts, args.threshold)
    found = {d.row: d.of_row for d in dups}
    rss_dedup = peak_mb()

    p, r = scores(found, texts, planted, args.threshold, truth)
    ep, er = scores(exact, texts, planted, args.threshold, truth)
    print(f"minhash dedup: {args.n / dedup_s:,.0f} rows/s wall ({dedup_s:.1f} s), {args.n / dedup_cpu:,.0f} rows/s "
          f"of CPU time ({dedup_cpu:.1f} s); dropped {len(found)}")
    print(f"baseline exact-duplicate removal: {args.n / exact_s:,.0f} rows/s wall, {args.n / exact_cpu:,.0f} rows/s "
          f"CPU; dropped {len(exact)}; ratio dedup/exact CPU time {dedup_cpu / exact_cpu:.0f}x")
    print(f"baseline minhash signatures alone: {args.n / hash_s:,.0f} rows/s wall, {args.n / hash_cpu:,.0f} rows/s "
          f"CPU; ratio dedup/signatures CPU time {dedup_cpu / hash_cpu:.2f}x")
    print(f"precision: minhash {p:.4f}, exact baseline {ep:.4f}")
    print(f"recall: minhash {r:.4f}, exact baseline {er:.4f}; ratio {r / er if er else float('inf'):.2f}x")
    print(f"peak RSS: {rss_start:.0f} MB with the texts and libraries loaded, {rss_hash:.0f} MB after signatures "
          f"alone, {rss_dedup:.0f} MB after dedup (+{rss_dedup - rss_start:.0f} MB for the dedup)")
    print("planted copies dropped by true similarity band (minhash | exact):")
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
