"""Closing the loop end to end (issue #23's acceptance), on the session's real Argilla server.

Round 1: `curate generate ultrafeedback` on the bundled model (3 instructions, 2 candidates each,
the judge rating them), pushed, and answered by two annotators through the SDK. The
answers are planned from what the judge did (read from the batch's rows), so the outcome is known
by construction. The judge's first place is `response_K` from its `chosen_index`, a tie when it
rated both alike (push suggests both first), none when its answer did not parse (no suggestion):

    D  the first row the judge rated   both rank first the other response    admitted, disagrees
    A  the next row                    both rank first the judge's choice     admitted; disagrees
                                       (response_1 if it had none)            only if the judge tied
    S  the last row                    ann1 ranks response_1 first, ann2 2    dropped (a split)

Round 2 is two runs, since no recipe takes all three options to effect (`ultrafeedback` seeded
with a preference dataset rates its [chosen, rejected] and generates nothing, so `--examples`
would reach no prompt): `responses --seeds argilla:R1 --examples argilla:R1:1` writes new answers
steered by the accepted example (the first admitted record by id), then `ultrafeedback --seeds
<that batch> --judge-examples argilla:R1:1` rates them with the judge corrected (the first
disagreeing record by id). The same round 2 runs again through the `openai:` backend on the
session's llama.cpp server (`model_server`).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main

pytestmark = pytest.mark.slow

TAG = uuid.uuid4().hex[:6]
QUESTIONS = [f"Name one use of copper ({TAG}).", f"Why do cats purr ({TAG})?", f"What is a prime number ({TAG})?"]


def invoke(home: Path, *args: str):
    result = CliRunner().invoke(main, list(args), env={"CURATION_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return result


def batch_of(result):
    return load_batch(re.search(r"^Batch (\S+): ", result.output, re.MULTILINE).group(1))


def step_files(home: Path) -> set[Path]:
    return set(home.glob("cache/**/steps_data/*/batch_*.json"))


def sent(files, step: str) -> list[list[dict]]:
    """The chats distilabel sent the model from `step` (its cached batches' raw inputs)."""
    chats = []
    for path in sorted(files):
        if not path.parent.name.startswith(f"{step}_"):
            continue
        for rows in json.loads(path.read_text())["data"]:
            for row in rows:
                meta = row.get("distilabel_metadata") or {}
                # Grouped generations keep one metadata per generation, each with the same chat: one a row.
                raw = next((m.get(f"raw_input_{step}") for m in (meta if isinstance(meta, list) else [meta])
                            if m.get(f"raw_input_{step}")), None)
                if raw:
                    chats.append(raw[0] if isinstance(raw[0], list) else raw)  # (chat, schema) on servers
    return chats


def generate(home: Path, *args: str):
    """`curate generate ARGS`, the batch it made and the cached step files this run added."""
    before = step_files(home)
    batch = batch_of(invoke(home, "generate", *args, "-q"))
    return batch, step_files(home) - before


def ranked(top: str, ratings) -> tuple[str, dict]:
    other = "response_2" if top == "response_1" else "response_1"
    return "submitted", {"rating_1": ratings[0], "rating_2": ratings[1],
                         "ranking": [{"value": top, "rank": 1}, {"value": other, "rank": 2}]}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """This module's CURATION_HOME (its batches and distilabel's cache), for the CLI and the test alike."""
    path = tmp_path_factory.mktemp("two-rounds-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATION_HOME", str(path))
        yield path


@dataclass
class RoundOne:
    """Round 1's dataset, batch, and the plan its answers followed (row indexes; ids by row)."""

    name: str
    batch: object
    rows: list[dict]
    ids: list[str]
    seeds: Path
    judge: list[str | None]  # the judge's first place per row: response_K, "tie", or None
    humans: dict[int, str]  # the humans' first place on the admitted rows D and A
    disagree: int  # D
    agree: int  # A
    split: int  # S

    @property
    def admitted(self) -> list[int]:
        return sorted(self.humans)

    @property
    def disagreeing(self) -> list[int]:
        return [i for i in self.admitted if self.judge[i] is not None and self.judge[i] != self.humans[i]]

    @property
    def held_out(self) -> set[int]:
        """The rows round 2 shows as examples: the first admitted (--examples), the first disagreeing (judge)."""
        return {self.admitted[0], self.disagreeing[0]}


def judge_first(row: dict) -> str | None:
    if not all(isinstance(r, int) for r in row["ratings"]):
        return None
    return "tie" if row["chosen_index"] is None else f"response_{row['chosen_index'] + 1}"


@pytest.fixture(scope="module")
def round_one(home, argilla_client, review_workspace) -> RoundOne:
    from curation.argilla.datasets import find_dataset
    from curation.review.push import push_batch
    from curation.review.records import record_id
    from tests.report.known_reviews import unique
    from tests.review.annotators import add_annotator, answer

    seeds = home / "questions.txt"
    seeds.write_text("".join(f"{q}\n" for q in QUESTIONS))
    r1, _ = generate(home, "ultrafeedback", "--seeds", str(seeds), "-n", "3", "--max-new-tokens", "16")
    rows = r1.rows()
    assert [row["instruction"] for row in rows] == QUESTIONS, rows
    judge = [judge_first(row) for row in rows]
    rated = [i for i, first in enumerate(judge) if first is not None]
    assert rated, f"the judge's answer parsed on no row: {rows}"
    d = rated[0]
    a, s = [i for i in range(3) if i != d]
    humans = {d: "response_1" if judge[d] == "response_2" else "response_2",
              a: judge[a] if judge[a] in ("response_1", "response_2") else "response_1"}
    plan = RoundOne(unique("round-1"), r1, rows, [record_id(r1.id, i) for i in range(3)], seeds, judge, humans,
                    d, a, s)

    def given(i: int) -> tuple[int, int]:
        """The humans' ratings: opposite to the judge on D, the judge's own elsewhere (3, 3 where it gave none)."""
        if i == d:
            return (1, 5) if humans[d] == "response_2" else (5, 1)
        return tuple(rows[i]["ratings"]) if judge[i] is not None else (3, 3)

    push_batch(r1, plan.name, workspace=review_workspace, client=argilla_client, show_progress=False)
    dataset = find_dataset(argilla_client, plan.name, review_workspace)
    for who, split_first in (("ann1", "response_1"), ("ann2", "response_2")):
        answers = {plan.ids[i]: ranked(humans[i], given(i)) for i in (d, a)}
        answers[plan.ids[s]] = ranked(split_first, given(s))
        answer(add_annotator(argilla_client, review_workspace, unique(who)), dataset, answers)
    return plan


def expected_seeds(r: RoundOne) -> list[dict]:
    """The admitted rows D and A, by id, as the humans ranked them: generations = [their first, the other]."""
    out = []
    for i in r.admitted:
        gens = r.rows[i]["generations"]
        first = int(r.humans[i][-1]) - 1
        out.append({"instruction": QUESTIONS[i], "generations": [gens[first], gens[1 - first]],
                    "source_record_id": r.ids[i]})
    return out


def judge_example_text(r: RoundOne) -> str:
    """The first disagreeing row as the judge's worked example: both responses in record order, the
    humans' first rated 5 and the other 1."""
    i = r.disagreeing[0]
    gens = r.rows[i]["generations"]
    ratings = "text 1: 1, text 2: 5" if r.humans[i] == "response_2" else "text 1: 5, text 2: 1"
    return (f"Example 1:\nInstruction: {QUESTIONS[i]}\nTexts:\n<text 1> {gens[0]}\n<text 2> {gens[1]}\n"
            f"Reviewers' ratings: {ratings}")


def round_two(home: Path, r: RoundOne, workspace: str, *backend: str, rows: int = 2) -> dict:
    """`responses` steered by the accepted example (`rows` of the 2 seeds), then the corrected judge on its first row."""
    source = f"argilla:{r.name}"
    a, a_files = generate(home, "responses", "--seeds", source, "--examples", f"{source}:1", "--workspace",
                          workspace, "-n", str(rows), "--max-new-tokens", "16", *backend)
    b, b_files = generate(home, "ultrafeedback", "--seeds", a.id, "--judge-examples", f"{source}:1", "--workspace",
                          workspace, "-n", "1", *backend)
    return {"a": a, "b": b, "rows": rows, "answered": sent(a_files, "respond_0"),
            "judged": sent(b_files, "ultrafeedback")}


def check_round_two(r: RoundOne, two: dict, workspace: str) -> None:
    a, b = two["a"], two["b"]
    # The seeds are the admitted records (D and A), the humans' ranking applied.
    from curation.seeds import load_seeds
    from pipelines import RECIPES

    info = RECIPES["responses"]
    seeds = load_seeds(f"argilla:{r.name}", recipe="responses", columns=info.seed_columns,
                       required=info.seeds_required, candidates=info.candidates, workspace=workspace)
    assert list(seeds) == expected_seeds(r)
    order = [QUESTIONS[i] for i in r.admitted]
    assert [row["instruction"] for row in a.rows()] == order[:two["rows"]]
    parent = a.manifest["parent"]
    assert (parent["dataset"], parent["workspace"], parent["admitted"], parent["seen"]) == (r.name, workspace, 2, 3)
    assert parent["record_ids_sha256"] == hashlib.sha256(
        "".join(f"{r.ids[i]}\n" for i in sorted(r.admitted, key=lambda i: r.ids[i])).encode()).hexdigest()
    assert parent["batches"] == [r.batch.id]

    # The examples: named by the manifests, their texts in the prompts distilabel sent.
    assert a.manifest["examples"]["record_ids"] == [r.ids[r.admitted[0]]]
    assert b.manifest["judge_examples"]["record_ids"] == [r.ids[r.disagreeing[0]]]
    assert b.manifest["judge_examples"]["disagreeing"] == len(r.disagreeing)
    chosen = expected_seeds(r)[0]["generations"][0]
    assert len(two["answered"]) == two["rows"] and len(two["judged"]) == 1
    for chat in two["answered"]:
        assert chat[0]["role"] == "system" and f"Request: {order[0]}\nAnswer: {chosen}" in chat[0]["content"]
    for chat in two["judged"]:
        assert chat[0]["role"] == "system" and judge_example_text(r) in chat[0]["content"]
        assert order[0] in chat[-1]["content"]  # the row it rates: a's first
    assert [row["instruction"] for row in b.rows()] == order[:1]


def round_one_figures(r: RoundOne) -> dict:
    """Round 1 in `curate report`'s rounds, by hand: 3 reviewed, D and A admitted. The judge against the
    humans' majority first place on the admitted rows not held out (S's humans split); ratings: every
    submitted rating against the judge's, where it gave one, on the rows not held out."""
    kept = [i for i in range(3) if i not in r.held_out]
    judged = [i for i in kept if i != r.split and r.judge[i] is not None]
    agreed = sum(r.judge[i] == r.humans[i] for i in judged)
    pairs = exact = 0
    for i in kept:
        if r.judge[i] is None:
            continue  # no rating suggestion to compare with
        pairs += 4  # two annotators, two ratings
        exact += 4 if i != r.disagree else sum(  # D: the humans' (1, 5) or (5, 1)
            2 * (h == j) for h, j in zip((1, 5) if r.humans[i] == "response_2" else (5, 1), r.rows[i]["ratings"]))
    return {"reviewed": 3, "admitted": 2, "acceptance": round(2 / 3, 4),
            "judge_agreement_chosen": round(agreed / len(judged), 4) if judged else None,
            "judge_agreement_ratings": round(exact / pairs, 4) if pairs else None,
            "examples_held_out": len(r.held_out)}


def test_two_rounds_on_the_bundled_model(round_one, home, argilla_client, review_workspace):
    r = round_one
    two = round_two(home, r, review_workspace)
    check_round_two(r, two, review_workspace)

    # The lineage chain: seed file → round 1 → the reviewed dataset → responses → ultrafeedback.
    shown = invoke(home, "batches", "show", two["b"].id).output
    assert f"Chain: ultrafeedback → argilla:{r.name} → responses → ultrafeedback" in shown
    assert f"seeds: {r.seeds}" in shown or f"seeds: {r.seeds.name}" in shown
    for number, what in enumerate((r.batch.id, f"Argilla dataset {r.name!r}", two["a"].id, two["b"].id), 1):
        assert re.search(rf"^  {number}\. {re.escape(what)}", shown, re.MULTILINE), shown

    # Round 2 pushed: the report's rounds hold the example rows out of round 1's judge agreement.
    from curation.review.push import push_batch
    from tests.report.known_reviews import unique

    second = unique("round-2")
    push_batch(two["b"], second, workspace=review_workspace, client=argilla_client, show_progress=False)
    out = home / "report.html"
    report = json.loads(invoke(home, "report", second, "--workspace", review_workspace, "--json", "--out",
                               str(out)).stdout)
    first, latest = report["rounds"]
    assert (first["dataset"], latest["dataset"]) == (r.name, second)
    assert {k: first[k] for k in round_one_figures(r)} == round_one_figures(r)
    assert (latest["reviewed"], latest["examples_held_out"]) == (0, 0)


def test_round_two_through_the_openai_backend(round_one, home, model_server, review_workspace):
    backend = ("--backend", "openai:smollm2", "--base-url", model_server.base_url)
    two = round_two(home, round_one, review_workspace, *backend, rows=1)  # one answer, one judged row: the slow part
    check_round_two(round_one, two, review_workspace)
    for batch in (two["a"], two["b"]):
        assert batch.manifest["backend"]["backend"] == "openai"
