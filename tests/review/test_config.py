"""Settings files: the shipped ones load; wrong ones fail naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from curation.contract import CONTRACT, META_BATCH_ID, META_QUALITY_SCORE, META_RATING_MARGIN
from curation.errors import ConfigError
from curation.review.config import default_config_path, load_config

SFT = default_config_path("sft")
PREFERENCE = default_config_path("preference")


def edited(tmp_path: Path, source: Path, edit) -> Path:
    """A copy of `source` with `edit(data)` applied, written under tmp_path."""
    data = yaml.safe_load(source.read_text())
    edit(data)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_sft_config_keeps_the_export_contract():
    config = load_config(SFT)
    assert config.kind == "sft"
    assert [f["name"] for f in config.fields] == ["instruction", "generated_response"]
    questions = {q["name"]: q["type"] for q in config.questions}
    assert questions == {"instruction_rating": "rating", "response": "text", "response_rating": "rating"}
    assert config.question("response_rating")["values"] == [1, 2, 3, 4, 5]
    assert config.min_submitted == 1
    assert {m["name"] for m in config.metadata} >= {"batch_id", "recipe", "model", "quality_score"}


@pytest.mark.parametrize("n", [2, 3])
def test_preference_config_expands_responses_and_ratings(n):
    config = load_config(PREFERENCE, num_responses=n)
    assert [f["name"] for f in config.fields] == ["instruction"] + [f"response_{i}" for i in range(1, n + 1)]
    names = [q["name"] for q in config.questions]
    assert names == [f"rating_{i}" for i in range(1, n + 1)] + ["ranking", "critique"]
    assert list(config.question("ranking")["values"]) == [f"response_{i}" for i in range(1, n + 1)]
    assert config.num_responses == n


def test_auto_responses_need_a_count():
    with pytest.raises(ConfigError, match=r"preference\.yaml: num_responses: 'auto'"):
        load_config(PREFERENCE)


def test_declared_responses_must_match_the_batch(tmp_path):
    path = edited(tmp_path, PREFERENCE, lambda d: d.update(num_responses=2))
    assert load_config(path, num_responses=2).num_responses == 2
    with pytest.raises(ConfigError, match="num_responses: is 2 but the batch has 3 responses per row"):
        load_config(path, num_responses=3)


def test_misspelled_question_type_names_file_and_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = edited(tmp_path, SFT, lambda d: d["questions"][1].update(type="ratng"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith("sft.yaml: questions[1].type: unknown type 'ratng'")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(qestions=[]), "qestions: unknown key"),
        (lambda d: d.update(kind="dpo"), "kind: expected one of sft, preference, got 'dpo'"),
        (lambda d: d["questions"][0].update(values=[1, 2, 30]), "questions[0].values: rating values must be integers from 0 to 10"),
        (lambda d: d["questions"][0].update(requird=True), "questions[0].requird: unknown key"),
        (lambda d: d["questions"][0].pop("values"), "questions[0].values: required for a rating question"),
        (lambda d: d["questions"].pop(2), "questions: missing 'response_rating' (rating)"),
        (lambda d: d["fields"][0].update(type="chat"), "fields.instruction.type: must be 'text'"),
        (lambda d: d["metadata"].append({"name": "recipe", "type": "terms"}), "metadata[9].name: 'recipe' is already used in metadata"),
        (lambda d: d["metadata"][0].update(name="response"), "metadata[0].name: 'response' is already used in questions"),
        (lambda d: d["metadata"][3].update(type="string"), "metadata[3].type: unknown type 'string'"),
        (lambda d: d.update(distribution={"min_submitted": 0}), "distribution.min_submitted: Input should be greater than 0, got 0"),
        (lambda d: d.update(num_responses=2), "num_responses: only used by kind preference"),
        (lambda d: d.update(vectors=[{"name": "emb", "dimensions": 0}]), "vectors[0].dimensions: dimensions must be greater than 0, got 0"),
        (lambda d: d["fields"][0].update(name="Instruction!"), "fields[0].name: invalid name 'Instruction!'"),
    ],
)
def test_wrong_sft_configs_name_the_key(tmp_path, edit, message):
    path = edited(tmp_path, SFT, edit)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ") or str(err.value).startswith("sft.yaml: ")
    assert message in str(err.value)


def label(**item):
    return lambda d: d["questions"].append({"name": "topic", "type": "label", **item})


@pytest.mark.parametrize(
    "edit, message",
    [
        # The argilla SDK's own checks, located by the file's keys (the SDK's names differ: options, visible_options).
        (lambda d: d["fields"][0].update(title=5), "fields[0].title: Input should be a valid string, got 5"),
        (lambda d: d["fields"][0].update(use_markdown="maybe"), "fields[0].use_markdown: Input should be a valid boolean"),
        (lambda d: d["fields"][0].pop("name"), "fields[0].name: required for a text field"),
        (lambda d: d["questions"][0].update(values=[1, 1, 2]), "questions[0].values: All values must be unique, got [1, 1, 2]"),
        (lambda d: d["questions"][0].update(values="1-5"), "questions[0].values: Invalid labels format"),
        (lambda d: d["questions"][0].pop("type"), "questions[0].type: missing (expected one of rating, label"),
        (lambda d: d["questions"].append("rating"), "questions[3]: expected a mapping, got 'rating'"),
        (label(labels=["a", "a"]), "questions[3].labels: All labels must be unique, got ['a', 'a']"),
        (label(labels=["a", "b", "c"], visible_labels=2), "questions[3].visible_labels: Input should be greater than or equal to 3, got 2"),
        (label(labels=["a", "b"], labels_order="natural"), "questions[3].labels_order: unknown key (expected one of type, name, labels,"),
        (lambda d: d["questions"].append({"name": "t", "type": "multi_label", "labels": ["a", "b"], "labels_order": "random"}),
         "questions[3].labels_order: Input should be 'natural' or 'suggestion', got 'random'"),
        (lambda d: d["questions"].append({"name": "s", "type": "span", "field": "nope", "labels": ["a", "b"]}),
         "questions[3].field: no field named 'nope'"),
        (lambda d: d["metadata"][0].update(options="abc"), "metadata[0].options: Input should be a valid list, got 'abc'"),
        (lambda d: d["metadata"][1].update(min=5, max=1), "metadata[1]: min must be less than max"),
        (lambda d: d["metadata"][0].update(visible_for_annotators="sometimes"),
         "metadata[0].visible_for_annotators: Input should be a valid boolean"),
        (lambda d: d["metadata"].append({"name": "count", "type": "terms"}), "metadata[9].name: Property with name 'count' conflicts"),
        (lambda d: d.update(vectors=[{"name": "emb"}]), "vectors[0].dimensions: required for a vector"),
        (lambda d: d.update(vectors=[{"name": "emb", "dimensions": 3, "type": "x"}]),
         "vectors[0].type: unknown key (expected one of name, dimensions, title)"),
        (lambda d: d.update(guidelines=["read"]), "guidelines: Guidelines must be a string or a path to a file, got ['read']"),
        (lambda d: d.update(distribution={"min_submitted": "x"}), "distribution.min_submitted: Input should be a valid integer"),
        (lambda d: d.update(distribution={"min": 1}), "distribution.min: unknown key (expected min_submitted)"),
    ],
)
def test_the_sdk_checks_each_item_and_errors_name_the_key(tmp_path, monkeypatch, edit, message):
    monkeypatch.chdir(tmp_path)
    path = edited(tmp_path, SFT, edit)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"sft.yaml: {message}")


@pytest.mark.parametrize(
    "source, name, wrong",
    [(SFT, META_BATCH_ID, "integer"), (SFT, META_QUALITY_SCORE, "terms"), (PREFERENCE, META_RATING_MARGIN, "integer")],
)
def test_metadata_push_fills_keeps_the_contract_type(tmp_path, monkeypatch, source, name, wrong):
    monkeypatch.chdir(tmp_path)

    def edit(d):
        next(m for m in d["metadata"] if m["name"] == name)["type"] = wrong

    with pytest.raises(ConfigError) as err:
        load_config(edited(tmp_path, source, edit), num_responses=None if source == SFT else 3)
    expected = CONTRACT[yaml.safe_load(source.read_text())["kind"]]["metadata"][name]
    assert str(err.value) == f"{source.name}: metadata.{name}.type: must be {expected!r} (push fills it), got {wrong!r}"


def test_values_are_kept_as_the_sdk_reads_them(tmp_path):
    def edit(d):
        d["fields"][0]["required"] = "no"  # a quoted 'no' is a string in YAML; the SDK reads it as false
        d["questions"].append({"name": "topic", "type": "multi_label", "labels": {"a": "Alpha", "b": "Beta"}})
        d["metadata"].append({"name": "turns", "type": "integer", "min": 0, "max": 10})
        d["vectors"] = [{"name": "emb", "dimensions": 8, "title": "Embedding"}]

    config = load_config(edited(tmp_path, SFT, edit))
    assert config.fields[0]["required"] is False
    assert config.question("topic")["labels"] == {"a": "Alpha", "b": "Beta"}
    assert [v["name"] for v in config.vectors] == ["emb"]


def test_validation_needs_no_server(monkeypatch):
    """load_config builds every SDK object without a client: a default one would connect."""
    import argilla as rg

    def connect(cls):
        raise AssertionError("load_config asked the SDK for a client")

    monkeypatch.setattr(rg.Argilla, "_get_default", classmethod(connect))
    assert load_config(SFT).kind == "sft"
    assert load_config(PREFERENCE, num_responses=3).num_responses == 3


def test_preference_generated_names_cannot_be_redeclared(tmp_path):
    path = edited(tmp_path, PREFERENCE, lambda d: d["fields"].append({"name": "response_1", "type": "text"}))
    with pytest.raises(ConfigError, match=r"fields\[1\]\.name: 'response_1' is generated from num_responses"):
        load_config(path, num_responses=2)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(rating_values=[1, 20]), "rating_values: rating values must be integers from 0 to 10, got 20"),
        (lambda d: d.update(rating_values=[1, 1]), "rating_values: rating values must be unique"),
        (lambda d: d["questions"][0].update(values=["a", "b"]), "questions[0].values: must be ['response_1', 'response_2'] for 2 responses"),
        (lambda d: d["questions"][1].update(use_markdown="x"), "questions[1].use_markdown: Input should be a valid boolean"),
        (lambda d: d.update(num_responses=True), "num_responses: is True but the batch has 2 responses per row"),
    ],
)
def test_wrong_preference_configs_name_the_key(tmp_path, monkeypatch, edit, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(edited(tmp_path, PREFERENCE, edit), num_responses=2)
    assert str(err.value).startswith(f"preference.yaml: {message}")


def test_invalid_yaml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: sft\nfields: [\n  - name: x\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML: line \d+"):
        load_config(broken)
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such settings file"):
        load_config(tmp_path / "nope.yaml")
