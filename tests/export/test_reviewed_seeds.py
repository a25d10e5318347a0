"""A reviewed dataset as the next round's seeds (`--seeds argilla:DATASET`), on the session's real
Argilla server: the seeds are the records the export policy admits, corrections applied (the
expected rows are written out here from the answers the fixtures submitted, never computed by
the code under test); the new batch names the dataset as its parent, `curate batches show` and
a later export's card walk through it; bad input is one line, exit 2, and nothing written.

The datasets of tests/export/conftest.py (`reviewed`) have known answers; the round-trip test
generates a real batch with the bundled model, pushes it, and has two annotators answer it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest
from click.testing import CliRunner

from curation.batch import Batch, chain, lineage, load_batch
from curation.cli import main
from curation.seeds import load_seeds
from pipelines import RECIPES
from tests.export.conftest import refused

NO_MODEL = "llamacpp:/nonexistent/model.gguf"  # reading it would fail: seeds must fail first


def seeds_for(recipe: str, source: str, **policy):
    info = RECIPES[recipe]
    return load_seeds(source, recipe=recipe, columns=info.seed_columns, required=info.seeds_required,
                      candidates=info.candidates, **policy)


def ids_sha256(*ids: str) -> str:
    return hashlib.sha256("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def batch_of(result) -> Batch:
    """The batch `curate generate` reported making."""
    found = re.search(r"^Batch (\S+): ", result.output, re.MULTILINE)
    assert found, result.output
    return load_batch(found.group(1))


def nonzero(dropped: dict) -> dict:
    return {rule: n for rule, n in dropped.items() if n}


# --- (a) the seeds are the admitted records, corrections applied ------------------------------

def test_sft_seeds_are_the_admitted_records_with_the_annotators_text(reviewed, argilla_client):
    rows = seeds_for("evol-quality", f"argilla:{reviewed.sft}", workspace=reviewed.workspace)
    # From conftest's plan, majority and the dataset's min_submitted (1): s3 disagrees, s5 and s6 are
    # discarded (s6: one discard against one submission), s7 (a draft) and s8 have no submission.
    assert sorted(rows, key=lambda r: r["source_record_id"]) == [
        {"instruction": "I1", "response": "G1", "source_record_id": "s1"},  # the proposal kept
        {"instruction": "I10", "response": "X 10", "source_record_id": "s10"},  # two of three
        {"instruction": "I2", "response": "Fixed 2", "source_record_id": "s2"},  # both edited it
        {"instruction": "I4", "response": "Solo 4", "source_record_id": "s4"},
        {"instruction": "I9", "response": "Same text", "source_record_id": "s9"},
    ]
    parent = rows.manifest_entries()["parent"]
    assert parent["dataset"] == reviewed.sft and parent["workspace"] == reviewed.workspace
    assert parent["server"] == argilla_client.api_url.rstrip("/") and "@" not in parent["server"]
    assert parent["record_ids_sha256"] == ids_sha256("s1", "s2", "s4", "s9", "s10")
    assert parent["policy"] == {"agreement": "majority", "min_submitted": 1}
    assert (parent["seen"], parent["admitted"]) == (10, 5)
    assert nonzero(parent["dropped"]) == {"disagreement": 1, "discarded": 2, "too_few_submitted": 2}
    assert parent["batches"] == ["b-sft"] and parent["kind"] == "sft"


def test_the_export_policy_options_choose_the_seeds(reviewed):
    # unanimous: s10 (X 10, X 10, Y 10) now disagrees; min 2 submissions: s4 (one) falls out too.
    rows = seeds_for("evol-instruct", f"argilla:{reviewed.sft}", workspace=reviewed.workspace,
                     agreement="unanimous", min_submitted=2)
    assert sorted(r["source_record_id"] for r in rows) == ["s1", "s2", "s9"]
    assert rows.manifest_entries()["parent"]["policy"] == {"agreement": "unanimous", "min_submitted": 2}


# --- (e) a preference dataset feeds ultrafeedback: [chosen, rejected] as the humans ranked ----

def test_preference_seeds_are_chosen_then_rejected(reviewed):
    # The dataset wants 2 submissions: only p1 (both 2 > 1 > 3) passes; p7 (ann1 alone: 3 > 1 > 2) with 1.
    rows = seeds_for("ultrafeedback", f"argilla:{reviewed.dpo}", workspace=reviewed.workspace)
    assert list(rows) == [{"instruction": "Q1", "generations": ["P1-R2", "P1-R3"], "source_record_id": "p1"}]
    more = seeds_for("ultrafeedback", f"argilla:{reviewed.dpo}", workspace=reviewed.workspace, min_submitted=1)
    assert sorted(map(json.dumps, more)) == sorted(map(json.dumps, [
        {"instruction": "Q1", "generations": ["P1-R2", "P1-R3"], "source_record_id": "p1"},
        {"instruction": "Q7", "generations": ["P7-R3", "P7-R2"], "source_record_id": "p7"},
    ]))
    parent = rows.manifest_entries()["parent"]
    assert parent["kind"] == "preference" and parent["admitted"] == 1 and parent["batches"] == ["b-pref"]
    # p2 and p3 disagree, p4 and p6 tie, p5 is discarded, p7 has one submission of the two needed.
    assert nonzero(parent["dropped"]) == {"disagreement": 2, "tie": 2, "discarded": 1, "too_few_submitted": 1}
    assert rows.from_batch  # each record seeds one row, not cycled


# --- (d) bad input: one line, exit 2, nothing written, no model loaded -------------------------

def test_unknown_dataset_and_wrong_workspace(reviewed, review_workspace, empty_home):
    gen = ("generate", "evol-instruct", "--backend", NO_MODEL)
    line = refused(empty_home, *gen, "--seeds", "argilla:no-such-dataset", "--workspace", reviewed.workspace)
    assert "no Argilla dataset 'no-such-dataset'" in line
    line = refused(empty_home, *gen, "--seeds", f"argilla:{reviewed.sft}", "--workspace", review_workspace)
    assert f"no Argilla dataset {reviewed.sft!r} in workspace {review_workspace!r}" in line
    line = refused(empty_home, *gen, "--seeds", f"argilla:{reviewed.sft}", "--workspace", "no-such-ws")
    assert "no workspace 'no-such-ws'" in line
    line = refused(empty_home, *gen, "--seeds", "argilla:")
    assert "needs a dataset name" in line


def test_a_dataset_the_recipe_cannot_take(reviewed, empty_home):
    ws = ("--workspace", reviewed.workspace, "--backend", NO_MODEL)
    line = refused(empty_home, "generate", "ultrafeedback", "--seeds", f"argilla:{reviewed.sft}", *ws)
    assert "holds sft records" in line and "recipe 'ultrafeedback' needs a preference dataset" in line
    line = refused(empty_home, "generate", "self-instruct", "--seeds", f"argilla:{reviewed.dpo}", *ws)
    assert "holds preference records" in line and "recipe 'self-instruct' needs input" in line
    line = refused(empty_home, "generate", "magpie", "--seeds", f"argilla:{reviewed.sft}", *ws)
    assert "takes no seeds" in line


def test_run_reads_the_seeds_from_its_workspace_before_any_model(reviewed, empty_home):
    # The seeds are found (in --workspace, which `run` also pushes to): the next failure is the model's.
    line = refused(empty_home, "run", "evol-instruct", "--seeds", f"argilla:{reviewed.sft}",
                "--workspace", reviewed.workspace, "--dataset", "never-created", "--backend", NO_MODEL)
    assert "model file not found" in line


def test_nothing_admitted_writes_nothing(reviewed, empty_home):
    line = refused(empty_home, "generate", "evol-instruct", "--seeds", f"argilla:{reviewed.empty}",
                "--workspace", reviewed.workspace, "--backend", NO_MODEL)
    assert f"no record of {reviewed.empty!r} passes the policy (2 seen; dropped: too_few_submitted=2)" in line
    # `curate run` refuses the same way, before generating and before creating its target dataset.
    line = refused(empty_home, "run", "evol-instruct", "--seeds", f"argilla:{reviewed.empty}",
                "--workspace", reviewed.workspace, "--dataset", "never-created", "--backend", NO_MODEL)
    assert "passes the policy" in line


def test_policy_options_need_argilla_seeds(empty_home, tmp_path):
    seeds = tmp_path / "q.txt"
    seeds.write_text("What is rain?\n")
    line = refused(empty_home, "generate", "responses", "--seeds", str(seeds), "--min-submitted", "2")
    assert "--seeds or --examples argilla:" in line or "Argilla dataset" in line


# --- (b), (c) two rounds on the bundled model --------------------------------------------------

TOPICS = "rain\nvolcanoes\n"
SMALL = ("-n", "2", "--max-new-tokens", "16", "-q")


@pytest.fixture(scope="module")
def two_rounds(argilla_client, review_workspace, generation_home, tmp_path_factory):
    """Round 1 (prompt, from a .txt of topics) pushed and reviewed by two annotators with known
    answers; round 2 (evol-quality) generated from the reviewed dataset through the CLI."""
    from curation.argilla.datasets import find_dataset
    from curation.review.push import push_batch
    from tests.review.annotators import add_annotator, answer

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATION_HOME", str(generation_home))
        folder = tmp_path_factory.mktemp("round1")
        topics = folder / "topics.txt"
        topics.write_text(TOPICS)
        made = cli("generate", "prompt", "--seeds", str(topics), *SMALL)
        assert made.exit_code == 0, made.output
        round1 = batch_of(made)
        rows = round1.rows()
        assert len(rows) == 2, rows

        name = f"round1-{uuid.uuid4().hex[:6]}"
        push_batch(round1, name, workspace=review_workspace, client=argilla_client, show_progress=False)
        dataset = find_dataset(argilla_client, name, review_workspace)
        tag = uuid.uuid4().hex[:6]
        ann1, ann2 = (add_annotator(argilla_client, review_workspace, f"{who}-{tag}") for who in ("r1", "r2"))
        first, second = f"{round1.id}:0", f"{round1.id}:1"

        def submit(text):
            return ("submitted", {"instruction_rating": 4, "response": text, "response_rating": 4})

        # Row 0: both annotators rewrite the answer the same way. Row 1: one submits, one discards,
        # so under majority the discard wins and the row is not a seed.
        answer(ann1, dataset, {first: submit("Corrected answer zero."), second: submit("Kept one.")})
        answer(ann2, dataset, {first: submit("Corrected answer zero."), second: ("discarded", None)})

        made = cli("generate", "evol-quality", "--seeds", f"argilla:{name}", "--workspace", review_workspace, *SMALL)
        assert made.exit_code == 0, made.output
        round2 = batch_of(made)
        yield {"topics": topics, "round1": round1, "rows1": rows, "dataset": name, "round2": round2,
               "workspace": review_workspace, "first": first, "home": generation_home}


@pytest.mark.slow
def test_round_two_names_the_dataset_and_starts_from_the_corrections(two_rounds, argilla_client):
    round1, round2 = two_rounds["round1"], two_rounds["round2"]
    assert round2.manifest["parent"] == {
        "dataset": two_rounds["dataset"], "workspace": two_rounds["workspace"],
        "server": argilla_client.api_url.rstrip("/"), "kind": "sft",
        "record_ids_sha256": ids_sha256(two_rounds["first"]),
        "policy": {"agreement": "majority", "min_submitted": 1},
        "seen": 2, "admitted": 1, "dropped": round2.manifest["parent"]["dropped"],
        "batches": [round1.id],
    }
    assert nonzero(round2.manifest["parent"]["dropped"]) == {"discarded": 1}
    assert round2.manifest["seed_file"] is None and round2.manifest["seed_rows"] == 1
    # evol-quality keeps the original candidate first: the annotators' text, not the model's.
    rows = round2.rows()
    assert [r["instruction"] for r in rows] == [two_rounds["rows1"][0]["instruction"]]
    assert rows[0]["generations"][0] == "Corrected answer zero."

    steps = lineage(round2)
    assert [s.get("dataset") or s["batch_id"] for s in steps] == [round1.id, two_rounds["dataset"], round2.id]
    assert chain(round2) == ["prompt", f"argilla:{two_rounds['dataset']}", "evol-quality"]


@pytest.mark.slow
def test_batches_show_prints_the_chain_back_to_the_seed_file(two_rounds, monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(two_rounds["home"]))
    round1, round2, name = two_rounds["round1"], two_rounds["round2"], two_rounds["dataset"]
    shown = cli("batches", "show", round2.id, "--rows", "0")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"Chain: prompt → argilla:{name} → evol-quality"
    assert lines[1] == f"  seeds: {two_rounds['topics']} (sha256 {round1.manifest['seed_sha256'][:12]})"
    assert lines[2].split()[:3] == ["1.", round1.id, "prompt"]
    assert lines[3].startswith(f"  2. Argilla dataset {name!r} (workspace {two_rounds['workspace']!r}")
    assert "1 of 2 records admitted (agreement majority, min submitted 1; dropped: discarded 1)" in lines[3]
    assert lines[4].split()[:3] == ["3.", round2.id, "evol-quality"]


@pytest.mark.slow
def test_a_later_export_card_names_the_dataset(two_rounds, argilla_client, monkeypatch, tmp_path):
    from curation.argilla.datasets import find_dataset
    from curation.export import export_dataset
    from curation.review.push import push_batch
    from tests.review.annotators import add_annotator, answer

    monkeypatch.setenv("CURATION_HOME", str(two_rounds["home"]))  # the card reads the manifests here
    round2, ws = two_rounds["round2"], two_rounds["workspace"]
    name = f"round2-{uuid.uuid4().hex[:6]}"
    push_batch(round2, name, workspace=ws, client=argilla_client, show_progress=False)
    dataset = find_dataset(argilla_client, name, ws)
    width = len(round2.rows()[0]["generations"])
    annotator = add_annotator(argilla_client, ws, f"r3-{uuid.uuid4().hex[:6]}")
    answer(annotator, dataset, {f"{round2.id}:0": ("submitted", {
        "ranking": [{"value": f"response_{i}", "rank": i} for i in range(1, width + 1)],
        **{f"rating_{i}": 3 for i in range(1, width + 1)},
    })})
    out = tmp_path / "export"
    report = export_dataset(name, format="dpo", workspace=ws, out=out, client=argilla_client)
    assert report.exported == 1
    card = (out / "README.md").read_text()
    seed = two_rounds["topics"]
    assert (f"| {round2.id} | seed file `{seed}` → prompt → Argilla dataset `{two_rounds['dataset']}` "
            f"(1 admitted) → evol-quality | 1 |") in card
