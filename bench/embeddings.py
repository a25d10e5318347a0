"""What the bundled model's embeddings are worth: recall of planted paraphrases.

tests/data/paraphrases.jsonl holds instructions in paraphrase pairs (same `pair`) among
unrelated ones (`pair: null`). For each paired instruction, every other instruction of the
file is ranked by cosine similarity to it; recall@k is the share of queries whose paraphrase
is in the top k. Measured in the same run for:

- the bundled SmolLM2-135M GGUF through `curation.embeddings` (distilabel's LlamaCppEmbeddings,
  mean-pooled): what `curate embed` stores and `curate push --vectors` sends;
- a baseline: TF-IDF bag-of-words cosine (lower-cased word tokens, smoothed idf).

    python -m bench.embeddings [--embedder openai:MODEL --base-url URL]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "paraphrases.jsonl"
KS = (1, 5)


def load_paraphrases(path: Path = DATA) -> list[dict]:
    """The labelled rows: {"id", "instruction", "pair"}."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tfidf_vectors(texts: list[str]) -> np.ndarray:
    """TF-IDF vectors of lower-cased word tokens (smoothed idf), the baseline."""
    docs = [re.findall(r"[a-z0-9']+", t.lower()) for t in texts]
    vocab = sorted({w for d in docs for w in d})
    index = {w: i for i, w in enumerate(vocab)}
    df = Counter(w for d in docs for w in set(d))
    idf = np.array([math.log((1 + len(docs)) / (1 + df[w])) + 1 for w in vocab])
    out = np.zeros((len(docs), len(vocab)))
    for row, d in enumerate(docs):
        for w, n in Counter(d).items():
            out[row, index[w]] = n
    return out * idf


def paraphrase_ranks(rows: list[dict], vectors) -> dict[str, int]:
    """For each paired row id: the 1-based rank of its paraphrase among all other rows, by cosine."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    ranks = {}
    for i, row in enumerate(rows):
        if row["pair"] is None:
            continue
        j = next(j for j, other in enumerate(rows) if other["pair"] == row["pair"] and j != i)
        ranks[row["id"]] = int(np.sum(sims[i] > sims[i, j])) + 1
    return ranks


def recall(ranks: dict[str, int], k: int) -> float:
    return sum(r <= k for r in ranks.values()) / len(ranks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="llamacpp")
    parser.add_argument("--base-url")
    args = parser.parse_args()

    from curation.embeddings import embed_texts, parse_embedder

    rows = load_paraphrases()
    texts = [r["instruction"] for r in rows]
    spec = parse_embedder(args.embedder, base_url=args.base_url)
    started = time.perf_counter()
    vectors = embed_texts(texts, spec)
    seconds = time.perf_counter() - started
    model_ranks = paraphrase_ranks(rows, vectors)
    base_ranks = paraphrase_ranks(rows, tfidf_vectors(texts))
    pairs = len({r["pair"] for r in rows if r["pair"]})
    print(f"{len(rows)} instructions, {pairs} paraphrase pairs, {len(model_ranks)} queries; "
          f"{spec.label}: {len(vectors[0])} dimensions, {len(texts) / seconds:.1f} texts/s")
    for k in KS:
        m, b = recall(model_ranks, k), recall(base_ranks, k)
        ratio = f"{m / b:.2f}x" if b else "n/a"
        print(f"recall@{k}: {spec.label} {m:.3f} | baseline TF-IDF cosine {b:.3f} | ratio {ratio}")
    missed = sorted(i for i, r in model_ranks.items() if r > 5)
    print(f"paraphrase outside the model's top 5: {', '.join(missed) or 'none'}")


if __name__ == "__main__":
    main()
