"""Accepted examples steer generation (`--examples argilla:DATASET[:K]`), on the session's real
Argilla server and the bundled model.

Expected picks are worked out by hand from points built so the answer is known (angles on a
circle; texts that are copies or share nothing), never recomputed with the code under test. The
examples' texts are read back from what distilabel sent the model (its `raw_input_*` metadata in
the cached step outputs) and from the tasks' public `format_input`.
"""

from __future__ import annotations

import json
import math
import re
import uuid

import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main
from curation.errors import BadInput
from curation.examples import farthest_first, load_examples, parse_examples
from tests.export.conftest import _settings, _sft, refused

NO_MODEL = "llamacpp:/nonexistent/model.gguf"  # reading it would fail: examples must fail first


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


# --- farthest-first, on points whose answer is known --------------------------------------------

def test_farthest_first_on_a_line():
    # Points 0, 1, 10, 4 on a line, distance |a - b|. From 0: 10 is farthest; then 4 (4 from 0, 6
    # from 10) beats 1 (1 from 0); then 1.
    points = [0.0, 1.0, 10.0, 4.0]
    distance = lambda i, j: abs(points[i] - points[j])  # noqa: E731
    assert farthest_first(4, 1, distance) == [0]
    assert farthest_first(4, 3, distance) == [0, 2, 3]
    assert farthest_first(4, 9, distance) == [0, 2, 3, 1]  # K above the count: every point, once
    # Ties go to the lower index: all four equally far apart.
    assert farthest_first(4, 3, lambda i, j: float(i != j)) == [0, 1, 2]


def test_cosine_and_minhash_measures():
    from curation.examples import cosine_distance, minhash_distance

    # At 0°, 10°, 90° and 180°: from 0° the opposite one (distance 2), then 90° (1 from both), then 10°.
    ten = math.radians(10)
    vectors = [[1.0, 0.0], [math.cos(ten), math.sin(ten)], [0.0, 3.0], [-2.0, 0.0]]
    assert farthest_first(4, 4, cosine_distance(vectors)) == [0, 3, 2, 1]
    # Two near-copies and two texts sharing no 5-character shingle with anything: the copy comes last.
    texts = [
        "How do I bake sourdough bread at home without a stand mixer?",
        "How do I bake sourdough bread at home without a stand mixer??",
        "Explain quantum chromodynamics lattice gauge computations.",
        "Which medieval guilds wove tapestries in Flanders?",
    ]
    picks = farthest_first(4, 4, minhash_distance(texts))
    assert picks[0] == 0 and set(picks[1:3]) == {2, 3} and picks[3] == 1


def test_parse_examples():
    assert parse_examples("argilla:ds") == ("ds", 4)
    assert parse_examples("argilla:ds:7") == ("ds", 7)
    for bad in ("argilla:ds:0", "argilla:ds:-1", "argilla:ds:two", "argilla:", "ds.jsonl"):
        with pytest.raises(BadInput):
            parse_examples(bad)


# --- the admitted records, on the real server ----------------------------------------------------

def test_examples_are_admitted_records_with_corrections(reviewed, argilla_client):
    # conftest's sft dataset admits s1, s2, s4, s9, s10 (majority); by id: s1, s10, s2, s4, s9. Their
    # instructions ("I1", ...) are shorter than a shingle and share nothing: all equally far apart,
    # so ties pick them in id order.
    examples = load_examples(f"argilla:{reviewed.sft}:3", workspace=reviewed.workspace, client=argilla_client)
    assert examples.entry["record_ids"] == ["s1", "s10", "s2"]
    assert examples.pairs() == [("I1", "G1"), ("I10", "X 10"), ("I2", "Fixed 2")]  # the humans' text
    assert examples.entry["dataset"] == reviewed.sft and examples.entry["workspace"] == reviewed.workspace
    assert (examples.entry["admitted"], examples.entry["diversity"], examples.entry["k"]) == (5, "minhash", 3)
    # A preference record's accepted answer is the chosen response (conftest: p1 ranks response 2 first).
    pref = load_examples(f"argilla:{reviewed.dpo}:1", workspace=reviewed.workspace, client=argilla_client)
    assert pref.entry["record_ids"] == ["p1"] and pref.pairs() == [("Q1", "P1-R2")]


@pytest.fixture(scope="module")
def with_vectors(argilla_client, reviewed, tmp_path_factory) -> str:
    """Four submitted sft records with 2-d vectors at 0°, 10°, 90° and 180°, whose instructions make
    the MinHash order differ: v3 copies v0's text, so only the vectors pick it second."""
    import argilla as rg

    vectors = "vectors:\n  - name: instruction_embedding\n    dimensions: 2\n"
    settings = _settings(argilla_client, "sft", tmp_path_factory.mktemp("vec"), {"vectors: []\n": vectors})
    workspace = argilla_client.workspaces(reviewed.workspace)
    name = f"vec-{uuid.uuid4().hex[:6]}"
    dataset = rg.Dataset(name, workspace=workspace, settings=settings, client=argilla_client).create()
    ten = math.radians(10)
    points = {"v0": [1.0, 0.0], "v1": [math.cos(ten), math.sin(ten)], "v2": [0.0, 1.0], "v3": [-1.0, 0.0]}
    texts = {"v0": "How do I bake sourdough bread at home?", "v1": "Explain lattice gauge theory in brief.",
             "v2": "Which medieval guilds wove tapestries?", "v3": "How do I bake sourdough bread at home??"}
    owner = argilla_client.me
    dataset.records.log([
        rg.Record(id=rid, fields={"instruction": texts[rid], "generated_response": f"A {rid}"},
                  vectors={"instruction_embedding": point}, responses=_sft(owner, f"A {rid}"))
        for rid, point in points.items()
    ])
    return name


def test_vectors_choose_when_the_dataset_has_them(with_vectors, reviewed, argilla_client):
    examples = load_examples(f"argilla:{with_vectors}:3", workspace=reviewed.workspace, client=argilla_client)
    assert examples.entry["diversity"] == "vectors"
    assert examples.entry["record_ids"] == ["v0", "v3", "v2"]  # 0°, then 180°, then 90°


# --- bad input: one line, exit 2, nothing written, before any model -------------------------------

def test_bad_examples(reviewed, review_workspace, empty_home):
    gen = ("generate", "prompt", "--backend", NO_MODEL)
    line = refused(empty_home, *gen, "--examples", "argilla:no-such-dataset", "--workspace", reviewed.workspace)
    assert "no Argilla dataset 'no-such-dataset'" in line
    line = refused(empty_home, *gen, "--examples", f"argilla:{reviewed.sft}", "--workspace", review_workspace)
    assert f"no Argilla dataset {reviewed.sft!r} in workspace {review_workspace!r}" in line
    for k in ("0", "-2", "four"):
        line = refused(empty_home, *gen, "--examples", f"argilla:{reviewed.sft}:{k}", "--workspace", reviewed.workspace)
        assert "K must be" in line
    line = refused(empty_home, *gen, "--examples", f"argilla:{reviewed.empty}", "--workspace", reviewed.workspace)
    assert f"no record of {reviewed.empty!r} passes the policy" in line
    # The export policy options choose the examples too (no --seeds argilla: needed): 9 submissions admit none.
    line = refused(empty_home, *gen, "--examples", f"argilla:{reviewed.sft}", "--workspace", reviewed.workspace,
                "--agreement", "any", "--min-submitted", "9")
    assert f"no record of {reviewed.sft!r} passes the policy" in line
    line = refused(empty_home, *gen, "--agreement", "any")  # ...and without an argilla: source they mean nothing
    assert "--agreement and --min-submitted choose the records of an Argilla dataset" in line
    line = refused(empty_home, "generate", "magpie", "--backend", NO_MODEL, "--examples", f"argilla:{reviewed.sft}",
                "--workspace", reviewed.workspace)
    assert "takes no --examples" in line
    # ultrafeedback rates seeds that carry candidates as they are: no prompt for the examples to reach.
    seeds = empty_home.parent / "candidates.jsonl"
    seeds.write_text(json.dumps({"instruction": "I", "generations": ["A", "B"]}) + "\n")
    line = refused(empty_home, "generate", "ultrafeedback", "--backend", NO_MODEL, "--seeds", str(seeds),
                "--examples", f"argilla:{reviewed.sft}", "--workspace", reviewed.workspace)
    assert "writes no response from seeds that carry candidates" in line
    # `curate run` the same, before generating and before creating its target dataset.
    line = refused(empty_home, "run", "prompt", "--examples", f"argilla:{reviewed.empty}", "--workspace",
                reviewed.workspace, "--dataset", "never-created", "--backend", NO_MODEL)
    assert "passes the policy" in line


# --- the prompts ---------------------------------------------------------------------------------

def _context(recipe: str, examples, seeds=()):
    from curation.backends import parse_backend
    from curation.options import GenerationOptions
    from pipelines.recipe import RecipeContext

    return RecipeContext(options=GenerationOptions(recipe=recipe, num_rows=2), seeds=list(seeds),
                         backends=[parse_backend("llamacpp")], examples=examples)


def _formatted(task, row):
    """The chat the task sends for `row` (its public `format_input`), loaded as distilabel loads it
    (TextGeneration compiles its template in `load`; the bundled model loads in well under a second)."""
    task.load()
    try:
        return task.format_input(row)
    finally:
        task.unload()


@pytest.mark.parametrize("recipe, question_step, answer_step, seed", [
    ("prompt", "ask", "respond", {"topic": "rain"}),
    ("self-instruct", "self_instruct", "respond", {"input": "rain"}),
    ("evol-instruct", "evol_instruct", "respond", {"instruction": "What is rain?"}),
    ("responses", None, "respond_0", {"instruction": "What is rain?"}),
])
def test_every_generating_step_formats_the_examples(recipe, question_step, answer_step, seed, reviewed, argilla_client):
    from pipelines import get_recipe

    examples = load_examples(f"argilla:{reviewed.sft}:2", workspace=reviewed.workspace, client=argilla_client)
    pipeline = get_recipe(recipe).build(_context(recipe, examples, [seed]))
    steps = {name: pipeline.dag.get_step(name)["step"] for name in pipeline.dag}
    row = {**seed, "instruction": seed.get("instruction", "What is rain?")}
    answering = _formatted(steps[answer_step], row)
    assert answering[0]["role"] == "system"
    assert "Request: I1\nAnswer: G1" in answering[0]["content"]
    assert "Request: I10\nAnswer: X 10" in answering[0]["content"]
    assert answering[-1]["content"].endswith("What is rain?")
    if question_step is not None:
        task = steps[question_step]
        asking = _formatted(task, row["instruction"] if recipe == "evol-instruct" else row)
        assert asking[0]["role"] == "system" and "Example 1:\nI1" in asking[0]["content"]
        assert "Example 2:\nI10" in asking[0]["content"] and "X 10" not in asking[0]["content"]
    # Without --examples the same steps send no system prompt.
    plain = get_recipe(recipe).build(_context(recipe, None, [seed]))
    assert _formatted(plain.dag.get_step(answer_step)["step"], row)[0]["role"] == "user"


@pytest.mark.slow
def test_generate_sends_the_examples_and_keeps_them_out_of_the_rows(reviewed, argilla_client, generation_home,
                                                                      review_workspace, monkeypatch, tmp_path):
    from curation import settings
    from curation.seeds import load_seeds
    from curation.upstream.distilabel import cache_location
    from pipelines import get_recipe

    monkeypatch.setenv("CURATION_HOME", str(generation_home))
    source = f"argilla:{reviewed.sft}:2"
    made = cli("generate", "prompt", "--examples", source, "--workspace", reviewed.workspace,
               "-n", "2", "--max-new-tokens", "16", "-q")
    assert made.exit_code == 0, made.output
    batch = load_batch(re.search(r"^Batch (\S+): ", made.output, re.MULTILINE).group(1))
    assert batch.manifest["examples"]["record_ids"] == ["s1", "s10"]
    assert batch.manifest["examples"]["dataset"] == reviewed.sft
    rows = batch.rows()
    assert rows and not {r["instruction"] for r in rows} & {"I1", "I10"}

    # What distilabel sent the model: its raw inputs, in the run's cached outputs (the same pipeline
    # name, so the same cache folder).
    from curation.backends import parse_backend
    from curation.options import GenerationOptions
    from pipelines.recipe import RecipeContext

    options = GenerationOptions(recipe="prompt", examples=source, seeds_workspace=reviewed.workspace, num_rows=2,
                                max_new_tokens=16)
    ctx = RecipeContext(options=options, seeds=load_seeds(None, recipe="prompt", columns=("topic",), required=False),
                        backends=[parse_backend("llamacpp")], cache_dir=str(settings.cache_dir()),
                        examples=load_examples(source, workspace=reviewed.workspace, client=argilla_client))
    data = cache_location(get_recipe("prompt").build(ctx))["steps_data"]

    def sent(step: str) -> list[list[dict]]:
        """The chats distilabel sent the model from `step`: its cached batches' raw inputs."""
        batches = [json.loads(path.read_text()) for path in sorted(data.glob(f"{step}_*/batch_*.json"))]
        return [row["distilabel_metadata"][f"raw_input_{step}"] for b in batches for rows in b["data"] for row in rows]

    asked, answered = sent("ask"), sent("respond")
    assert asked and answered, f"no cached outputs under {data}"
    for chat in asked:
        assert chat[0]["role"] == "system" and "Example 1:\nI1\n\nExample 2:\nI10" in chat[0]["content"]
    for chat in answered:
        assert chat[0]["role"] == "system"
        assert "Request: I1\nAnswer: G1\n\nExample 2:\nRequest: I10\nAnswer: X 10" in chat[0]["content"]

    # A dataset pushed from this batch: its export card lists the examples (and they are not rows).
    from curation.argilla.datasets import find_dataset
    from curation.export import export_dataset
    from curation.review.push import push_batch
    from tests.review.annotators import add_annotator, answer

    name = f"steered-{uuid.uuid4().hex[:6]}"
    push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    annotator = add_annotator(argilla_client, review_workspace, f"ex-{uuid.uuid4().hex[:6]}")
    answer(annotator, find_dataset(argilla_client, name, review_workspace), {f"{batch.id}:0": (
        "submitted", {"instruction_rating": 4, "response": "Accepted.", "response_rating": 4})})
    out = tmp_path / "export"
    assert export_dataset(name, format="sft", workspace=review_workspace, out=out, client=argilla_client).exported == 1
    card = (out / "README.md").read_text()
    assert "## Worked examples" in card
    assert f"| {batch.id} | `{reviewed.sft}` | `s1`, `s10` |" in card
