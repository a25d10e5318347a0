"""Settings files: the shipped ones load; wrong ones fail naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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
        (lambda d: d["metadata"].append({"name": "recipe", "type": "terms"}), "metadata[8].name: 'recipe' is already used in metadata"),
        (lambda d: d["metadata"][0].update(name="response"), "metadata[0].name: 'response' is already used in questions"),
        (lambda d: d["metadata"][3].update(type="string"), "metadata[3].type: unknown type 'string'"),
        (lambda d: d.update(distribution={"min_submitted": 0}), "distribution.min_submitted: expected an integer >= 1"),
        (lambda d: d.update(num_responses=2), "num_responses: only used by kind preference"),
        (lambda d: d.update(vectors=[{"name": "emb", "dimensions": 0}]), "vectors[0].dimensions: expected an integer >= 1"),
        (lambda d: d["fields"][0].update(name="Instruction!"), "fields[0].name: invalid name 'Instruction!'"),
    ],
)
def test_wrong_sft_configs_name_the_key(tmp_path, edit, message):
    path = edited(tmp_path, SFT, edit)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ") or str(err.value).startswith("sft.yaml: ")
    assert message in str(err.value)


def test_preference_generated_names_cannot_be_redeclared(tmp_path):
    path = edited(tmp_path, PREFERENCE, lambda d: d["fields"].append({"name": "response_1", "type": "text"}))
    with pytest.raises(ConfigError, match=r"fields\[1\]\.name: 'response_1' is generated from num_responses"):
        load_config(path, num_responses=2)


def test_invalid_yaml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: sft\nfields: [\n  - name: x\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML: line \d+"):
        load_config(broken)
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such settings file"):
        load_config(tmp_path / "nope.yaml")
