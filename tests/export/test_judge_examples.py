"""The judge learns from its corrections (`--judge-examples argilla:DATASET[:K]`), on the session's
real Argilla server and the bundled model.

A preference batch is written by hand (2 candidates, the judge's ratings and choice known), pushed
with `curate push`'s code and answered by two annotators through the SDK. Judge's choice against
the humans' ranking (first place), `-` = no admitted answer:

    J0 judge [4, 2] chose 1   both rank 2 first      disagrees
    J1 judge [1, 5] chose 2   both rank 1 first      disagrees  (J0's instruction with one more "?")
    J2 judge [5, 1] chose 1   both rank 1 first      agrees
    J3 judge [2, 4] chose 2   ann1 1, ann2 2         -  (a split: dropped by the majority rule)
    J4 judge [2, 4] chose 2   both rank 1 first      disagrees
    J5 judge [4, 1] chose 1   both discard           -

So 4 records are admitted (J0, J1, J2, J4) and 3 disagree (J0, J1, J4). Farthest-first starts at the
first by id (J0); J1's instruction is J0's after MinHash's normalization (punctuation collapses),
distance 0, so J4 comes second and J1 last. The ratings an example shows are the humans' ranking
mapped as `ranking_ratings` documents (first 5, last 1), in the record's response order.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.argilla.responses import Reviewed
from curation.batch import load_batch
from curation.cli import main
from curation.errors import BadInput
from curation.examples import parse_examples
from curation.judge_examples import (
    OPTION, humans_pair, judge_disagrees, load_judge_examples, ranking_ratings, worked_example,
)
from pipelines.worked_examples import judge_prompt
from tests.export.conftest import refused

NO_MODEL = "llamacpp:/nonexistent/model.gguf"  # reading it would fail: the examples must fail first
TAG = uuid.uuid4().hex[:6]
INSTRUCTIONS = [
    f"How do I bake sourdough bread at home without a stand mixer {TAG}?",
    f"How do I bake sourdough bread at home without a stand mixer {TAG}??",
    f"Name three primary colours {TAG}.",
    f"What is the boiling point of water at sea level {TAG}?",
    f"Which medieval guilds wove tapestries in Flanders {TAG}?",
    f"Translate good morning into French {TAG}.",
]
JUDGE = [([4, 2], 0), ([1, 5], 1), ([5, 1], 0), ([2, 4], 1), ([2, 4], 1), ([4, 1], 0)]


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


# --- the mapping and the prompt, by hand ---------------------------------------------------------

def test_ranking_ratings():
    assert ranking_ratings([1, 2]) == [5, 1]
    assert ranking_ratings([2, 1]) == [1, 5]
    assert ranking_ratings([1, 2, 3]) == [5, 3, 1]
    assert ranking_ratings([1, 2, 3, 4]) == [5, 4, 2, 1]  # 5 - 4/3 = 3.67 -> 4, 5 - 8/3 = 2.33 -> 2
    assert ranking_ratings([1, 1, 2]) == [5, 5, 1]  # a tie shares its rating
    assert ranking_ratings([3, 1, 3]) == [1, 5, 1]  # ranks need not be dense
    assert ranking_ratings([1, 1]) == [5, 5]


def test_judge_disagrees_as_the_report_reads_a_ranking():
    first_two = [{"value": "response_2", "rank": 1}, {"value": "response_1", "rank": 2}]
    tied = [{"value": "response_1", "rank": 1}, {"value": "response_2", "rank": 1}]
    assert judge_disagrees(first_two, "response_1")
    assert not judge_disagrees(first_two, "response_2")
    assert judge_disagrees(tied, "response_1") and judge_disagrees(tied, "response_2")  # a tie is no choice
    assert not judge_disagrees(None, "response_1") and not judge_disagrees([], "response_2")


def test_a_worked_example_keeps_the_record_order():
    record = Reviewed(id="r", fields={"instruction": "Q", "response_1": "A", "response_2": "B", "response_3": "C"},
                      metadata={}, reviews=())
    row = {"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "C"}],
           "rejected": [{"role": "assistant", "content": "A"}]}
    assert humans_pair(record, row) == ("response_3", "response_1")
    assert worked_example(record, row, ("response_3", "response_1")) == {
        "instruction": "Q", "generations": ["A", "C"], "ratings": [1, 5]}
    gone = {**row, "chosen": [{"role": "assistant", "content": "not a response of it"}]}
    assert humans_pair(record, gone) is None


def test_judge_prompt():
    prompt = judge_prompt([{"instruction": "Q1", "generations": ["a", "b"], "ratings": [1, 5]},
                           {"instruction": "Q2", "generations": ["c", "d"], "ratings": [5, 1]}])
    assert prompt.endswith(
        "Example 1:\nInstruction: Q1\nTexts:\n<text 1> a\n<text 2> b\nReviewers' ratings: text 1: 1, text 2: 5\n\n"
        "Example 2:\nInstruction: Q2\nTexts:\n<text 1> c\n<text 2> d\nReviewers' ratings: text 1: 5, text 2: 1")
    assert judge_prompt([]) is None


def test_parse_names_the_option():
    assert parse_examples("argilla:ds:3", OPTION) == ("ds", 3)
    with pytest.raises(BadInput, match="^--judge-examples: K must be at least 1"):
        parse_examples("argilla:ds:0", OPTION)


# --- a reviewed preference dataset with known disagreements ---------------------------------------

def _ranked(top: int, ratings: tuple[int, int]) -> tuple[str, dict]:
    ranking = [{"value": f"response_{top}", "rank": 1}, {"value": f"response_{3 - top}", "rank": 2}]
    return "submitted", {"rating_1": ratings[0], "rating_2": ratings[1], "ranking": ranking}


@pytest.fixture(scope="module")
def judged(argilla_client, review_workspace, tmp_path_factory) -> dict:
    from curation.argilla.datasets import find_dataset
    from curation.review.push import push_batch
    from curation.review.records import record_id
    from tests.report.known_reviews import _batch, unique
    from tests.review.annotators import add_annotator, answer

    rows = [{
        "instruction": text,
        "generations": [f"First answer {i} {TAG}.", f"Second answer {i} {TAG}."],
        "generation_models": ["m", "m"], "raw_output": "{}", "ratings": ratings, "rationales": ["r", "r"],
        "judge_model": "judge", "chosen_index": chosen, "rejected_index": 1 - chosen,
    } for i, (text, (ratings, chosen)) in enumerate(zip(INSTRUCTIONS, JUDGE))]
    batch = _batch(tmp_path_factory.mktemp("judged"), unique("ultrafeedback"), "preference", "ultrafeedback", rows)
    J = [record_id(batch.id, i) for i in range(len(rows))]
    name = unique("judged")
    push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    dataset = find_dataset(argilla_client, name, review_workspace)
    discard = ("discarded", {})
    plan = {
        "ann1": {J[0]: _ranked(2, (1, 5)), J[1]: _ranked(1, (5, 1)), J[2]: _ranked(1, (5, 1)), J[3]: _ranked(1, (4, 2)),
                 J[4]: _ranked(1, (4, 2)), J[5]: discard},
        "ann2": {J[0]: _ranked(2, (2, 4)), J[1]: _ranked(1, (4, 2)), J[2]: _ranked(1, (5, 2)), J[3]: _ranked(2, (2, 4)),
                 J[4]: _ranked(1, (5, 2)), J[5]: discard},
    }
    for who, answers in plan.items():
        answer(add_annotator(argilla_client, review_workspace, unique(who)), dataset, answers)
    return {"name": name, "ids": J, "rows": rows}


def test_the_disagreeing_records_become_the_examples(judged, review_workspace, argilla_client):
    J, rows = judged["ids"], judged["rows"]
    two = load_judge_examples(f"argilla:{judged['name']}:2", workspace=review_workspace, client=argilla_client)
    assert two.entry["record_ids"] == [J[0], J[4]]
    assert two.examples == [
        {"instruction": INSTRUCTIONS[0], "generations": rows[0]["generations"], "ratings": [1, 5]},  # humans: 2 first
        {"instruction": INSTRUCTIONS[4], "generations": rows[4]["generations"], "ratings": [5, 1]},  # humans: 1 first
    ]
    entry = two.entry
    assert (entry["dataset"], entry["workspace"], entry["kind"], entry["k"]) == (
        judged["name"], review_workspace, "preference", 2)
    assert (entry["admitted"], entry["disagreeing"], entry["diversity"]) == (4, 3, "minhash")
    assert entry["policy"] == {"agreement": "majority", "min_submitted": 1}
    assert entry["server"] == argilla_client.api_url.rstrip("/")
    every = load_judge_examples(f"argilla:{judged['name']}:9", workspace=review_workspace, client=argilla_client)
    assert every.entry["record_ids"] == [J[0], J[4], J[1]]  # K above the count: each disagreeing one, J1 last
    assert every.examples[2]["ratings"] == [5, 1]


# --- bad input: one line, exit 2, nothing written, before any model ------------------------------

def test_bad_judge_examples(judged, reviewed, review_workspace, empty_home):
    gen = ("generate", "ultrafeedback", "--backend", NO_MODEL, "--seeds", str(_seed_file(empty_home.parent)))
    line = refused(empty_home, *gen, OPTION, "argilla:no-such-dataset", "--workspace", review_workspace)
    assert "no Argilla dataset 'no-such-dataset'" in line
    line = refused(empty_home, *gen, OPTION, f"argilla:{judged['name']}", "--workspace", reviewed.workspace)
    assert f"no Argilla dataset {judged['name']!r} in workspace {reviewed.workspace!r}" in line
    for k in ("0", "-1", "two"):
        line = refused(empty_home, *gen, OPTION, f"argilla:{judged['name']}:{k}", "--workspace", review_workspace)
        assert "--judge-examples: K must be" in line
    line = refused(empty_home, *gen, OPTION, f"argilla:{reviewed.sft}", "--workspace", reviewed.workspace)
    assert f"dataset {reviewed.sft!r} holds sft records; --judge-examples needs a preference dataset" in line
    # conftest's dpo dataset admits p1, which no judge rated (no suggestion): nothing to correct.
    line = refused(empty_home, *gen, OPTION, f"argilla:{reviewed.dpo}", "--workspace", reviewed.workspace)
    assert f"no admitted record of {reviewed.dpo!r} disagrees with the judge" in line
    line = refused(empty_home, "generate", "responses", "--backend", NO_MODEL, "--seeds", str(_seed_file(empty_home.parent)),
                OPTION, f"argilla:{judged['name']}", "--workspace", review_workspace)
    assert "recipe 'responses' has no UltraFeedback judge to correct" in line
    # `curate run` the same, before generating and before creating its target dataset.
    line = refused(empty_home, "run", "ultrafeedback", "--seeds", str(_seed_file(empty_home.parent)), OPTION,
                f"argilla:{reviewed.sft}", "--workspace", reviewed.workspace, "--dataset", "never-created",
                "--backend", NO_MODEL)
    assert "needs a preference dataset" in line


def _seed_file(folder: Path) -> Path:
    """Two rows that carry candidates: the judge rates them, nothing is generated."""
    path = folder / "judge-seeds.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in SEEDS))
    return path


SEEDS = [
    {"instruction": f"Give one tip for learning to swim {TAG}.",
     "generations": ["Start in shallow water and practise floating on your back while a friend supports you.",
                     "Jump into the deep end and figure it out."]},
    {"instruction": f"Why is the sky blue {TAG}?", "generations": ["Rayleigh scattering.", "It reflects the sea."]},
]


# --- the judge's prompt, as distilabel sent it -------------------------------------------------------

def sent_to_judge(home: Path) -> list[list[dict]]:
    """The chats distilabel sent the judge in runs under `home`: its cached batches' raw inputs."""
    chats = []
    for path in sorted(home.glob("**/steps_data/ultrafeedback_*/batch_*.json")):
        for rows in json.loads(path.read_text())["data"]:
            for row in rows:
                raw = (row.get("distilabel_metadata") or {}).get("raw_input_ultrafeedback")
                if raw:
                    chats.append(raw[0] if isinstance(raw[0], list) else raw)  # (chat, schema) on servers
    return chats


@pytest.mark.slow
def test_generate_puts_the_corrections_in_the_judges_prompt(judged, review_workspace, argilla_client, tmp_path,
                                                            monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CURATION_HOME", str(home))
    made = cli("generate", "ultrafeedback", "--seeds", str(_seed_file(tmp_path)), OPTION,
               f"argilla:{judged['name']}:2", "--workspace", review_workspace, "-n", "1", "--max-new-tokens", "16", "-q")
    assert made.exit_code == 0, made.output
    batch = load_batch(re.search(r"^Batch (\S+): ", made.output, re.MULTILINE).group(1))
    J, rows = judged["ids"], judged["rows"]
    assert batch.manifest["judge_examples"]["record_ids"] == [J[0], J[4]]
    assert batch.manifest["judge_examples"]["dataset"] == judged["name"]

    chats = sent_to_judge(home)
    assert len(chats) == 1, chats  # -n 1: the first seed row, judged once
    for chat in chats:
        system = chat[0]
        assert system["role"] == "system" and system["content"].startswith("Your role is to evaluate text quality")
        assert (f"Example 1:\nInstruction: {INSTRUCTIONS[0]}\nTexts:\n<text 1> {rows[0]['generations'][0]}\n"
                f"<text 2> {rows[0]['generations'][1]}\nReviewers' ratings: text 1: 1, text 2: 5") in system["content"]
        assert (f"Example 2:\nInstruction: {INSTRUCTIONS[4]}\nTexts:\n<text 1> {rows[4]['generations'][0]}\n"
                f"<text 2> {rows[4]['generations'][1]}\nReviewers' ratings: text 1: 5, text 2: 1") in system["content"]
        assert INSTRUCTIONS[1] not in system["content"] and INSTRUCTIONS[2] not in system["content"]
    assert SEEDS[0]["instruction"] in chats[0][-1]["content"] and INSTRUCTIONS[0] not in chats[0][-1]["content"]

    # The examples never become rows: the batch holds the seeds' rows, judged.
    out = batch.rows()
    assert [r["instruction"] for r in out] == [SEEDS[0]["instruction"]]
    texts = json.dumps([{k: r[k] for k in ("instruction", "generations")} for r in out])
    assert not any(INSTRUCTIONS[i] in texts or rows[i]["generations"][0] in texts for i in (0, 4))

    # A dataset pushed from this batch: its export card lists the judge's examples.
    from curation.argilla.datasets import find_dataset
    from curation.export import export_dataset
    from curation.review.push import push_batch
    from tests.report.known_reviews import unique
    from tests.review.annotators import add_annotator, answer

    name = unique("corrected")
    push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    answer(add_annotator(argilla_client, review_workspace, unique("card")), find_dataset(argilla_client, name,
           review_workspace), {f"{batch.id}:0": _ranked(1, (5, 1))})
    out = tmp_path / "export"
    assert export_dataset(name, format="dpo", workspace=review_workspace, out=out, client=argilla_client).exported == 1
    card = (out / "README.md").read_text()
    assert "## Judge's worked examples" in card and "## Worked examples" not in card
    assert f"| {batch.id} | `{judged['name']}` | `{J[0]}`, `{J[4]}` |" in card


def test_the_built_judge_formats_the_corrections():
    """The recipe's judge task, as built, puts them after UltraFeedback's own system prompt (its public
    `format_input`; the template loads with the task, the bundled model in well under a second)."""
    from curation.backends import parse_backend
    from curation.judge_examples import JudgeExamples
    from curation.options import GenerationOptions
    from pipelines import get_recipe
    from pipelines.recipe import RecipeContext

    corrections = JudgeExamples([{"instruction": "Q1", "generations": ["a", "b"], "ratings": [1, 5]}], entry={})
    seeds = [{"instruction": "What is rain?", "generations": ["Water.", "Snow."]}]

    def chat(judge_examples):
        ctx = RecipeContext(options=GenerationOptions(recipe="ultrafeedback", num_rows=1), seeds=seeds,
                            backends=[parse_backend("llamacpp")], judge_examples=judge_examples)
        task = get_recipe("ultrafeedback").build(ctx).dag.get_step("ultrafeedback")["step"]
        task.load()
        try:
            return task.format_input(seeds[0])
        finally:
            task.unload()

    plain, corrected = chat(None), chat(corrections)
    assert [m["role"] for m in corrected] == ["system", "user"] and corrected[1] == plain[1]
    assert corrected[0]["content"] == (plain[0]["content"] + "\n" + judge_prompt(corrections.examples))
    assert "Example 1:\nInstruction: Q1\nTexts:\n<text 1> a\n<text 2> b\nReviewers' ratings: text 1: 1, text 2: 5" \
        in corrected[0]["content"]
    assert "What is rain?" in corrected[1]["content"] and "Q1" not in corrected[1]["content"]
