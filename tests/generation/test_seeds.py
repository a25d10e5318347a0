"""Seeds as people write them (.txt), a batch as seeds, and the lineage API — no model run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from curation.batch import chain, find_batch, lineage, load_batch, rows_sha256, write_batch, write_child_batch
from curation.cli import main
from curation.errors import SeedFileError
from curation.seeds import load_seeds
from pipelines import RECIPES

TXT = "Explain what a prime number is.\n\n   \nDescribe how rain forms.  \n\n"

# Every recipe that takes seeds from one column, and that column (the .txt seed goes there).
ONE_COLUMN = {"prompt": "topic", "self-instruct": "input", "evol-instruct": "instruction",
              "responses": "instruction", "ultrafeedback": "instruction"}


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_every_recipe_that_takes_seeds_is_covered():
    takes = {name for name, info in RECIPES.items() if info.seed_columns}
    assert takes == set(ONE_COLUMN) | {"evol-quality"}


@pytest.mark.parametrize("recipe", list(ONE_COLUMN))
def test_txt_seeds_fill_the_recipes_main_column(recipe, tmp_path):
    info = RECIPES[recipe]
    path = tmp_path / "seeds.txt"
    path.write_text(TXT)
    rows = load_seeds(path, recipe=recipe, columns=info.seed_columns, required=info.seeds_required,
                      candidates=info.candidates)
    column = ONE_COLUMN[recipe]
    assert rows == [{column: "Explain what a prime number is."}, {column: "Describe how rain forms."}]
    entries = rows.manifest_entries()
    assert entries["seed_file"] == str(path) and len(entries["seed_sha256"]) == 64 and "parent" not in entries


@pytest.mark.parametrize("text", ["", "\n\n   \n"], ids=["empty", "blank lines"])
def test_txt_without_a_seed_is_one_line_exit_2(text, tmp_path, curation_home):
    path = tmp_path / "none.txt"
    path.write_text(text)
    result = invoke("generate", "responses", "--seeds", str(path))
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "has no rows" in errors[0] and str(path) in errors[0], result.output
    assert "Traceback" not in result.output


def test_txt_cannot_feed_a_two_column_recipe(tmp_path, curation_home):
    path = tmp_path / "pairs.txt"
    path.write_text(TXT)
    result = invoke("generate", "evol-quality", "--seeds", str(path))
    assert result.exit_code == 2
    assert "takes no one-column seeds" in result.output and "Traceback" not in result.output


def _batch(root, name, recipe, kind, rows, **extra):
    return write_batch(root / name, rows, {"batch_id": name, "recipe": recipe, "kind": kind,
                                           "rows": {"kept": len(rows)}, **extra})


def _responses_rows():
    return [{"instruction": f"Q{i}?", "generations": [f"a{i}", f"b{i}"], "generation_models": ["m", "m"],
             "raw_output": "{}"} for i in range(3)]


def test_a_batch_feeds_a_recipe_by_id_or_folder_once_per_row(curation_home, tmp_path):
    parent = _batch(curation_home / "batches", "resp-seeds-1", "responses", "preference", _responses_rows(),
                    seed_file="q.txt", seed_sha256="0" * 64)
    info = RECIPES["evol-quality"]
    for given in (parent.id, parent.path):
        rows = load_seeds(given, recipe="evol-quality", columns=info.seed_columns, required=True, candidates=True)
        assert rows.parent.id == parent.id and [r["instruction"] for r in rows] == ["Q0?", "Q1?", "Q2?"]
        assert rows.manifest_entries()["parent"] == {
            "batch_id": parent.id, "recipe": "responses", "kind": "preference",
            "rows_sha256": rows_sha256(parent), "path": str(parent.path)}
    # Without candidates allowed, a preference batch lacks `response`: one clear line.
    with pytest.raises(SeedFileError, match=r"batch resp-seeds-1: missing column\(s\) response"):
        load_seeds(parent.id, recipe="x", columns=("instruction", "response"), required=True)


def test_lineage_goes_back_to_the_seed_file_and_show_prints_it(curation_home):
    root = curation_home / "batches"
    first = _batch(root, "resp-l-1", "responses", "preference", _responses_rows(), seed_file="q.txt",
                   seed_sha256="a" * 64)
    from curation.batch import parent_entry

    second = _batch(root, "evq-l-2", "evol-quality", "preference", _responses_rows()[:2], parent=parent_entry(first))
    third = _batch(root, "uf-l-3", "ultrafeedback", "preference", _responses_rows()[:1], parent=parent_entry(second))

    steps = lineage(third)
    assert [s["batch_id"] for s in steps] == ["resp-l-1", "evq-l-2", "uf-l-3"]
    assert steps[0]["seed_file"] == "q.txt" and steps[0]["seed_sha256"] == "a" * 64
    assert steps[0]["rows_sha256"] == rows_sha256(first) and not any(s["changed"] for s in steps)
    assert all(s["found"] for s in steps) and [s["rows"] for s in steps] == [3, 2, 1]
    assert chain(third) == ["responses", "evol-quality", "ultrafeedback"]
    assert chain(first) == ["responses"]

    shown = invoke("batches", "show", third.id, "--rows", "1")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "Chain: responses → evol-quality → ultrafeedback"
    assert "seeds: q.txt (sha256 aaaaaaaaaaaa)" in lines[1]
    assert lines[2].split()[:3] == ["1.", "resp-l-1", "responses"] and lines[4].split()[1] == "uf-l-3"
    manifest = json.loads("\n".join(lines[5:-1]))
    assert manifest["parent"]["batch_id"] == "evq-l-2"

    # A parent rewritten after its child was made, and one that is gone, are reported, not hidden.
    (second.path / "rows.parquet").write_bytes((first.path / "rows.parquet").read_bytes())
    assert [s["changed"] for s in lineage(third)] == [False, True, False]
    import shutil

    shutil.rmtree(first.path)
    steps = lineage(third)
    assert steps[0]["found"] is False and steps[0]["batch_id"] == "resp-l-1"
    assert "not on this machine" in invoke("batches", "show", third.id).output


def test_lineage_walks_through_a_reviewed_dataset_into_every_batch_behind_it(curation_home):
    """A batch seeded from `argilla:DATASET` whose records came from two batches here and one gone."""
    from curation.export.card import chains

    root = curation_home / "batches"
    a1 = _batch(root, "resp-d-a1", "responses", "preference", _responses_rows(), seed_file="a.txt",
                seed_sha256="a" * 64)
    from curation.batch import parent_entry

    a2 = _batch(root, "evq-d-a2", "evol-quality", "preference", _responses_rows()[:2], parent=parent_entry(a1))
    b1 = _batch(root, "resp-d-b1", "responses", "preference", _responses_rows(), seed_file="b.txt",
                seed_sha256="b" * 64)
    dataset = {"dataset": "prefs", "workspace": "team", "server": "http://127.0.0.1:6900", "kind": "preference",
               "record_ids_sha256": "c" * 64, "policy": {"agreement": "majority", "min_submitted": 2},
               "seen": 9, "admitted": 4, "dropped": {"duplicate": 0, "discarded": 3, "tie": 2},
               "batches": ["resp-d-b1", "gone-d-c1", "evq-d-a2"]}
    child = _batch(root, "uf-d-x", "ultrafeedback", "preference", _responses_rows()[:1], parent=dataset,
                   seed_file=None, seed_sha256=None)

    steps = lineage(child)
    assert [s.get("dataset") or s["batch_id"] for s in steps] == [
        "resp-d-a1", "evq-d-a2", "gone-d-c1", "resp-d-b1", "prefs", "uf-d-x"]  # branches by batch id
    assert [s["starts_branch"] for s in steps] == [True, False, True, True, False, False]
    assert [s["found"] for s in steps] == [True, True, False, True, True, True]
    assert steps[4]["rows"] == 4 and steps[4]["record_ids_sha256"] == "c" * 64
    assert chain(child) == ["responses", "evol-quality", "?", "responses", "argilla:prefs", "ultrafeedback"]
    assert [a2.id, b1.id] == [steps[1]["batch_id"], steps[3]["batch_id"]]

    shown = invoke("batches", "show", child.id, "--rows", "0")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "Chain: responses → evol-quality + ? + responses → argilla:prefs → ultrafeedback"
    assert lines[1:3] == ["  seeds of resp-d-a1: a.txt (sha256 aaaaaaaaaaaa)",
                          "  seeds of resp-d-b1: b.txt (sha256 bbbbbbbbbbbb)"]
    assert lines[5].split()[:2] == ["3.", "gone-d-c1"] and "not on this machine" in lines[5]
    assert lines[7] == ("  5. Argilla dataset 'prefs' (workspace 'team' at http://127.0.0.1:6900)  4 of 9 records "
                        "admitted (agreement majority, min submitted 2; dropped: discarded 3, tie 2); "
                        "record ids sha256 cccccccccccc")

    [(batch_id, text)] = chains([child.id])
    assert batch_id == child.id and text == (
        "seed file `a.txt` → responses → evol-quality + (earlier batches not on this machine) → ? + "
        "seed file `b.txt` → responses → Argilla dataset `prefs` (4 admitted) → ultrafeedback")


def test_write_child_batch_is_generic(curation_home):
    """What dedup/selection steps use: the kept rows, a `parent`, and one section saying what was done."""
    parent = _batch(curation_home / "batches", "resp-c-1", "responses", "preference", _responses_rows(),
                    model="m", parameters={"num_rows": 3})
    kept = parent.rows()[:2]
    child = write_child_batch(parent, kept, derived_by="dedup", details={"threshold": 0.9, "removed": 1})
    again = load_batch(child.id)
    m = again.manifest
    assert again.rows() == kept and child.path.parent == curation_home / "batches"
    assert m["recipe"] == "responses" and m["kind"] == "preference" and m["model"] == "m"
    assert m["derived_by"] == "dedup" and m["dedup"] == {"threshold": 0.9, "removed": 1}
    assert m["parent"]["batch_id"] == parent.id and m["parent"]["rows_sha256"] == rows_sha256(parent)
    assert m["rows"]["kept"] == 2 and m["rows"]["dropped"] == 1
    assert chain(again) == ["responses", "dedup"]
    assert find_batch(child.id).path == child.path
    with pytest.raises(ValueError):
        write_child_batch(parent, kept, derived_by="no spaces please", details={})


# -- seed values a model cannot take: refused when read, before anything is generated or cached --


def _refused(result, path, line):
    """One Error line naming the file and line, exit 2, no traceback."""
    assert result.exit_code == 2, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1 and f"{path}, line {line}:" in errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


def _files(home) -> set:
    """Every file of the (session-wide) data folder's cache and batches."""
    return {p for folder in ("cache", "batches") for p in (home / folder).rglob("*") if p.is_file()}


@pytest.mark.parametrize("suffix, text, line", [
    (".jsonl", '{"instruction": "Fine."}\n\n{"instruction": "bad \\ud800 seed"}\n', 3),
    (".json", '[\n  {"instruction": "Fine \\ud83d\\ude00."},\n  {"instruction":\n    "\\udc00"}\n]\n', 4),
], ids=["jsonl", "json"])
def test_a_lone_surrogate_is_refused_naming_file_and_line(suffix, text, line, tmp_path, curation_home):
    path = tmp_path / f"seeds{suffix}"
    path.write_text(text)
    with pytest.raises(SeedFileError, match=rf"line {line}: a lone surrogate"):
        load_seeds(path, recipe="responses", columns=("instruction",), required=True)
    before = _files(curation_home)
    error = _refused(invoke("generate", "responses", "--seeds", str(path), "-n", "1"), path, line)
    assert "lone surrogate" in error
    assert _files(curation_home) == before  # nothing generated or cached


def test_a_valid_surrogate_pair_is_a_seed(tmp_path):
    path = tmp_path / "emoji.jsonl"
    path.write_text('{"instruction": "Why \\ud83d\\ude00?"}\n')
    assert load_seeds(path, recipe="responses", columns=("instruction",), required=True) == [{"instruction": "Why 😀?"}]


def test_a_seed_over_the_size_limit_is_refused_before_generating(tmp_path, curation_home):
    path = tmp_path / "big.txt"
    huge = "x" * 3_000_000  # 3 MB on one line
    path.write_text(f"A fair question?\n{huge}\nAnother one?\n")
    before = _files(curation_home)
    error = _refused(invoke("generate", "responses", "--seeds", str(path), "-n", "1"), path, 2)
    assert "3,000,000 characters" in error and "limit is 100,000" in error
    assert _files(curation_home) == before  # nothing generated or cached


def test_the_size_limit_is_a_setting(tmp_path, monkeypatch):
    path = tmp_path / "seeds.csv"
    path.write_text("instruction\nshort\n" + "x" * 50 + "\n")
    with pytest.raises(SeedFileError, match=r"seeds.csv, line 3: a seed value of 50 characters \(the limit is 20\)"):
        monkeypatch.setenv("CURATION_SEED_MAX_CHARS", "20")
        load_seeds(path, recipe="responses", columns=("instruction",), required=True)
    monkeypatch.setenv("CURATION_SEED_MAX_CHARS", "50")
    assert len(load_seeds(path, recipe="responses", columns=("instruction",), required=True)) == 2


def test_a_batch_as_seeds_is_checked_too(curation_home, monkeypatch):
    rows = _responses_rows()
    rows[1]["generations"] = ["fine", "y" * 40]
    parent = _batch(curation_home / "batches", "resp-big-1", "responses", "preference", rows)
    monkeypatch.setenv("CURATION_SEED_MAX_CHARS", "30")
    with pytest.raises(SeedFileError, match="batch resp-big-1, row 2: a seed value of 40 characters"):
        load_seeds(parent.id, recipe="evol-quality", columns=RECIPES["evol-quality"].seed_columns, required=True,
                   candidates=True)
