"""Datasets whose report figures are known by construction: batches written by hand, pushed with
`curate push`'s code, then answered by two annotators exactly as laid out here.

Preference (2 responses, ratings 1-5). Judge ratings, its choice (None = tied) and judge model:

    batch A (recipe ultrafeedback, on this machine)   batch B (recipe evol-quality, elsewhere)
    A0 [5, 2] chose 1  judge-small                    B0 [2, 5] chose 2  judge-large
    A1 [1, 4] chose 2  judge-small                    B1 [5, 1] chose 1  judge-large
    A2 [3, 3] tied     judge-large                    B2 [1, 3] chose 2  judge-large
    A3 [4, 2] chose 1  judge-small

SFT: batch S (recipe self-instruct) rows S0-S2 by model-a; batch T (recipe magpie) T0 by model-b,
T1 by model-a. Every suggested response has 30 characters; annotators keep it, append to it or
cut it, so difflib's ratio is 2*common/(len a + len b) with `common` the shorter length.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from curation.argilla.datasets import find_dataset
from curation.batch import Batch, write_batch
from curation.review.push import push_batch
from curation.review.records import record_id
from tests.review.annotators import add_annotator, answer

PREFERENCE_A = [([5, 2], 0, "judge-small"), ([1, 4], 1, "judge-small"), ([3, 3], None, "judge-large"),
                ([4, 2], 0, "judge-small")]
PREFERENCE_B = [([2, 5], 1, "judge-large"), ([5, 1], 0, "judge-large"), ([1, 3], 1, "judge-large")]
DEDUP = {"near_duplicates": 2, "threshold": 0.85}
SELECTION = {"kept": 4, "below_threshold": 1}

SUGGESTED = {
    "S0": "Water boils at one hundred deg",
    "S1": "The moon orbits the Earth once",
    "S2": "Tea is made from leaves of Cam",
    "T0": "Paris is the capital of France",
    "T1": "Light is faster than any sound",
}
APPEND_10, APPEND_30 = " per month", " at sea level, on any day ever"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _batch(folder: Path, batch_id: str, kind: str, recipe: str, data: list[dict], **manifest) -> Batch:
    return write_batch(folder / batch_id, data, {
        "batch_id": batch_id, "kind": kind, "recipe": recipe, "num_rows": len(data),
        "rows": {"kept": len(data), "dropped": 0}, "started_at": "2026-01-01T00:00:00+00:00", **manifest,
    })


def _cost(input_tokens: int, output_tokens: int, usd: float | None) -> dict:
    """A manifest's `cost` (curation/cost.py) as a generation writes it: its total is what the report reads."""
    return {"total": {"input_tokens": input_tokens, "output_tokens": output_tokens, "usd": usd,
                      "counted": "backend usage"}}


def _preference_rows(spec, tag: str) -> list[dict]:
    return [{
        "instruction": f"Question {tag}{i}: which answer is better?",
        "generations": [f"Answer one to {tag}{i}.", f"Answer two to {tag}{i}."],
        "generation_models": ["model-a", "model-b"],
        "raw_output": "{}",
        "ratings": ratings,
        "rationales": [f"Rated {r}." for r in ratings],
        "judge_model": judge,
        "chosen_index": chosen,
        "rejected_index": None if chosen is None else 1 - chosen,
    } for i, (ratings, chosen, judge) in enumerate(spec)]


def _sft_rows(names: list[str], models: list[str]) -> list[dict]:
    return [{"instruction": f"Say something true ({name}).", "response": SUGGESTED[name], "model_name": model,
             "raw_output": "{}"} for name, model in zip(names, models)]


def _ranking(top: int) -> list[dict]:
    return [{"value": f"response_{top}", "rank": 1}, {"value": f"response_{3 - top}", "rank": 2}]


def _pref(r1: int, r2: int, top: int) -> tuple[str, dict]:
    return "submitted", {"rating_1": r1, "rating_2": r2, "ranking": _ranking(top)}


def _sft(instruction: int, response: int, text: str) -> tuple[str, dict]:
    return "submitted", {"instruction_rating": instruction, "response_rating": response, "response": text}


def _push_and_answer(client, workspace: str, batches: list[Batch], name: str, answers_by_user: dict) -> dict:
    for batch in batches:
        push_batch(batch, name, workspace=workspace, client=client, show_progress=False)
    dataset = find_dataset(client, name, workspace)
    users = {}
    for who, answers in answers_by_user.items():
        annotator = add_annotator(client, workspace, unique(who))
        answer(annotator, dataset, answers)
        users[who] = annotator.me.username
    return users


def build_preference(client, workspace: str, home: Path, elsewhere: Path) -> dict:
    """The preference dataset; returns its name, batch ids and the annotators' usernames."""
    a = _batch(home / "batches", unique("ultrafeedback"), "preference", "ultrafeedback",
               _preference_rows(PREFERENCE_A, "A"), rows={"kept": 4, "dropped": 1}, dedup=DEDUP, selection=SELECTION)
    b = _batch(elsewhere, unique("evol-quality"), "preference", "evol-quality", _preference_rows(PREFERENCE_B, "B"))
    A = [record_id(a.id, i) for i in range(4)]
    B = [record_id(b.id, i) for i in range(3)]
    discard = ("discarded", {})
    answers = {
        "alice": {A[0]: _pref(5, 2, 1), A[1]: _pref(2, 4, 1), A[2]: _pref(3, 3, 2), A[3]: discard,
                  B[0]: _pref(2, 5, 2), B[1]: ("draft", {"rating_1": 4})},
        "bob": {A[0]: _pref(4, 2, 1), A[1]: _pref(1, 4, 2), A[2]: discard, A[3]: discard,
                B[0]: _pref(2, 4, 2), B[1]: _pref(4, 1, 1)},
    }
    name = unique("report-pref")
    users = _push_and_answer(client, workspace, [a, b], name, answers)
    return {"name": name, "a": a.id, "b": b.id, "users": users}


def build_sft(client, workspace: str, home: Path) -> dict:
    """The sft dataset; returns its name, batch ids and the annotators' usernames."""
    s = _batch(home / "batches", unique("self-instruct"), "sft", "self-instruct", _sft_rows(["S0", "S1", "S2"], ["model-a"] * 3),
               cost=_cost(1000, 500, 0.01))
    t = _batch(home / "batches", unique("magpie"), "sft", "magpie", _sft_rows(["T0", "T1"], ["model-b", "model-a"]),
               cost=_cost(200, 100, None))
    S = [record_id(s.id, i) for i in range(3)]
    T = [record_id(t.id, i) for i in range(2)]
    answers = {
        "alice": {S[0]: _sft(4, 5, SUGGESTED["S0"]), S[1]: _sft(3, 3, SUGGESTED["S1"] + APPEND_10),
                  S[2]: ("discarded", {}), T[0]: _sft(5, 4, SUGGESTED["T0"][:15]), T[1]: _sft(2, 2, SUGGESTED["T1"])},
        "bob": {S[0]: _sft(4, 4, SUGGESTED["S0"] + APPEND_30), S[1]: _sft(2, 3, SUGGESTED["S1"]),
                T[0]: _sft(5, 5, SUGGESTED["T0"]), T[1]: ("draft", {"response_rating": 1})},
    }
    name = unique("report-sft")
    users = _push_and_answer(client, workspace, [s, t], name, answers)
    return {"name": name, "s": s.id, "t": t.id, "users": users}
