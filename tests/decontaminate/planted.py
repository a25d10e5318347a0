"""Batches and benchmarks with overlaps planted at known places (by construction).

Benchmark texts are made of made-up words; the batch's filler words come from another made-up
vocabulary (every one starts with "zq"), so a batch text shares words with a benchmark only
where a planted copy puts them. Planted rows of `planted_sft_rows` (row: what it holds):

0  clean
1  `exact`: benchmark A row 0's question, word for word            -> dropped
2  `recased`: A row 1's question upper-cased, other punctuation    -> dropped
3  `partial`: 13 words of A row 2's answer inside a longer text    -> dropped
4  `near miss`: 12 words of A row 3's question inside a longer text -> kept
5  `response`: clean instruction, A row 4's answer in the response -> dropped
6  `short`: a 5-word instruction found inside A row 5's question   -> dropped (compared whole)
7  `short, not found`: 5 of A row 5's words in another order       -> kept
8  clean
"""

from __future__ import annotations

import json
import random

from curation.batch import Batch, new_batch_id, package_versions, write_batch

N = 13


def vocabulary(rng: random.Random, prefix: str = "", n: int = 2000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return sorted({prefix + "".join(rng.choice(letters) for _ in range(rng.randint(4, 8))) for _ in range(n)})


def sentence(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words) for _ in range(n))


def benchmark_rows(seed: int, rows: int = 8) -> list[dict]:
    """Rows of a QA benchmark: a 20-word `question`, a 25-word `answer`, an int `id`."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    return [{"id": i, "question": sentence(rng, words, 20).capitalize() + "?", "answer": sentence(rng, words, 25) + "."}
            for i in range(rows)]


def filler(rng: random.Random, n: int) -> str:
    return sentence(rng, FILLER, n)


FILLER = vocabulary(random.Random(99), prefix="zq")


def planted_sft_rows(bench: list[dict]) -> tuple[list[dict], dict[int, tuple[int, str, str, str]]]:
    """(sft rows, {dropped row: (benchmark row, benchmark column, matched_in, shared n-gram)})."""
    rng = random.Random(3)
    q = [b["question"].rstrip("?").lower().split() for b in bench]
    a = [b["answer"].rstrip(".").lower().split() for b in bench]
    instructions = [
        filler(rng, 20),
        bench[0]["question"],
        " ".join(w.upper() + ("," if i % 3 == 0 else "") for i, w in enumerate(q[1])) + " ?!",
        filler(rng, 6) + " " + " ".join(a[2][5:5 + N]) + ". " + filler(rng, 8),
        filler(rng, 6) + " " + " ".join(q[3][2:2 + N - 1]) + " " + filler(rng, 8),
        filler(rng, 15),
        " ".join(q[5][4:9]).capitalize() + "?",
        " ".join(reversed(q[5][4:9])).capitalize() + "?",
        filler(rng, 14),
    ]
    responses = [filler(rng, 30) for _ in instructions]
    responses[5] = filler(rng, 4) + " " + bench[4]["answer"]
    rows = [{"instruction": i, "response": r, "model_name": "planted", "raw_output": "{}"}
            for i, r in zip(instructions, responses)]
    expected = {
        1: (0, "question", "instruction", " ".join(q[0][:N])),
        2: (1, "question", "instruction", " ".join(q[1][:N])),
        3: (2, "answer", "instruction", " ".join(a[2][5:5 + N])),
        5: (4, "answer", "response", " ".join(a[4][:N])),
        6: (5, "question", "instruction", " ".join(q[5][4:9])),
    }
    return rows, expected


def write_jsonl(path, rows: list[dict]):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_rows_batch(root, rows: list[dict], kind: str = "sft", recipe: str = "prompt") -> Batch:
    """A complete batch folder holding these rows, in the on-disk format generate writes."""
    batch_id = new_batch_id(recipe)
    manifest = {"batch_id": batch_id, "recipe": recipe, "kind": kind, "model": "planted",
                "rows": {"requested": len(rows), "generated": len(rows), "kept": len(rows), "dropped": 0},
                "started_at": "2026-01-01T00:00:00+00:00", "versions": package_versions()}
    return write_batch(root / batch_id, rows, manifest)
