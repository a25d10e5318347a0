"""Realistic batch folders of each kind, written in the real on-disk format (no LLM run)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from curation.batch import Batch, new_batch_id, package_versions, write_batch

MODEL = "SmolLM2-360M-Instruct-Q8_0.gguf"
JUDGE = "SmolLM2-1.7B-Instruct-Q4_K_M.gguf"
TOPICS = [
    "binary search", "photosynthesis", "the French Revolution", "compound interest", "TCP handshakes",
    "sourdough starters", "the Pythagorean theorem", "vaccines", "git rebase", "plate tectonics",
    "supply and demand", "recursion", "the water cycle", "public-key cryptography", "haiku",
]
ASKS = [
    "Explain {t} to a twelve-year-old.",
    "Write three quiz questions about {t}, with answers.",
    "What are the most common misconceptions about {t}?",
    "Summarise {t} in one paragraph, then give one concrete example.",
    "Compare {t} with a closely related idea and list two differences.",
]
SENTENCES = [
    "At its core, {t} is simpler than it first looks.",
    "A useful way to picture {t} is to start from a small, concrete case.",
    "Many people get {t} wrong because they skip the first step.",
    "In practice, {t} shows up in places you would not expect.",
    "The key idea behind {t} is that each step builds on the previous one.",
    "A common example of {t} is something you have probably seen already.",
    "If you remember one thing about {t}, remember why it matters.",
]


def _text(rng: random.Random, topic: str, sentences: int) -> str:
    return " ".join(rng.choice(SENTENCES).format(t=topic) for _ in range(sentences))


def sft_rows(n: int, seed: int = 0, sentences: int = 6) -> list[dict]:
    """Rows as the sft recipes write them (instruction, response, model, raw output, Deita scores)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        instruction = rng.choice(ASKS).format(t=topic)
        response = _text(rng, topic, sentences)
        rows.append({
            "instruction": instruction,
            "response": response,
            "model_name": MODEL,
            "raw_output": json.dumps({"generation": response, "row": i}),
            "quality_score": round(rng.uniform(1, 6), 3),
            "complexity_score": round(rng.uniform(1, 6), 3),
        })
    return rows


def preference_rows(n: int, seed: int = 0, responses: int = 2, sentences: int = 4) -> list[dict]:
    """Rows as the ultrafeedback recipe writes them; every 5th row has tied ratings (no chosen)."""
    rng = random.Random(seed)
    models = [f"model-{k}" for k in range(responses)]
    rows = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        ratings = [rng.randint(1, 5) for _ in range(responses)]
        if i % 5 == 4:
            ratings = [ratings[0]] * responses
        best, worst = max(ratings), min(ratings)
        tied = ratings.count(best) > 1
        generations = [_text(rng, topic, sentences) for _ in range(responses)]
        rows.append({
            "instruction": rng.choice(ASKS).format(t=topic),
            "generations": generations,
            "generation_models": models,
            "raw_output": json.dumps({"ratings": ratings}),
            "ratings": ratings,
            "rationales": [f"Rated {r}: {'clear and correct' if r >= 4 else 'vague or partly wrong'}." for r in ratings],
            "judge_model": JUDGE,
            "chosen_index": None if tied else ratings.index(best),
            "rejected_index": None if tied or best == worst else ratings.index(worst),
        })
    return rows


def write_sample_batch(root: Path, kind: str, n: int, *, seed: int = 0, **options) -> Batch:
    """A complete batch folder under `root` with `n` rows of `kind`."""
    recipe = "self-instruct" if kind == "sft" else "ultrafeedback"
    rows = sft_rows(n, seed, **options) if kind == "sft" else preference_rows(n, seed, **options)
    batch_id = new_batch_id(recipe)
    manifest = {
        "batch_id": batch_id,
        "kind": kind,
        "recipe": recipe,
        "num_rows": len(rows),
        "rows": {"kept": len(rows), "dropped": 0},
        "backend": "llamacpp",
        "model": MODEL,
        "started_at": "2025-01-01T00:00:00+00:00",
        "versions": package_versions(),
    }
    return write_batch(root / batch_id, rows, manifest)
