"""`curate dedup --engine datatrove`: datatrove's four MinHash stages drop the same planted copies as ours.

Under CI=true the `datatrove` extra is installed (scripts/test.sh) and a skip fails the run
(tests/fixtures/ci.py); locally these tests skip only when datatrove is missing.
"""

from __future__ import annotations

import importlib.util
import random
import sys

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curation.batch import load_batch
from curation.cli import main
from curation.dedup import DROPPED_FILE, dedup_batch, read_dropped
from curation.dedup_datatrove import buckets_for, dedup_batch_datatrove
from tests.dedup.planted import THRESHOLD, original, vocabulary, write_sft_batch

needs_datatrove = pytest.mark.skipif(importlib.util.find_spec("datatrove") is None,
                                     reason="datatrove is not installed (pip install -e '.[datatrove]')")


def planted_batch_texts(unrelated: int = 3000, seed: int = 11) -> tuple[list[str], dict[int, int]]:
    """(texts, {planted row: its original}): unrelated made-up instructions (20 to 40 words; every
    tenth 100 words long), then for some originals an exact copy, a re-cased and re-punctuated copy,
    and (long ones) a copy with one word in the middle changed, in a shuffled order."""
    rng = random.Random(seed)
    words = vocabulary(rng, 6000)
    texts = [original(rng, words, 100 if i % 10 == 0 else rng.randint(20, 40)) for i in range(unrelated)]
    plants = [(i, "exact") for i in range(1, 400, 7)] + [(i, "case") for i in range(2, 400, 9)]
    plants += [(i, "one-word") for i in range(0, 600, 10)]  # the long ones
    rng.shuffle(plants)
    expected = {}
    for source, how in plants:
        text = texts[source]
        if how == "case":
            text = "  " + text.upper().replace(" ", " -- ", 3).rstrip("?") + "!!"
        elif how == "one-word":
            split = text.split()
            split[50] = rng.choice(words)
            text = " ".join(split)
        expected[len(texts)] = source
        texts.append(text)
    return texts, expected


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    texts, expected = planted_batch_texts()
    return write_sft_batch(tmp_path_factory.mktemp("planted"), texts), texts, expected


def test_threshold_maps_to_buckets_and_hashes():
    """Equal-weight S-curve choice, at most 128 hashes: the mapping the module's docstring documents."""
    assert buckets_for(0.8) == (9, 13) and buckets_for(0.9) == (5, 25)
    for threshold in (0.5, 0.7, 0.8, 0.9, 0.95, 1.0):
        b, r = buckets_for(threshold)
        assert b * r <= 128
        assert 1 - (1 - 0.6 ** r) ** b < 0.02 or threshold < 0.8  # well below: rarely caught


@needs_datatrove
def test_both_engines_drop_exactly_the_planted_copies(planted, tmp_path):
    batch, texts, expected = planted
    ours = dedup_batch(batch, threshold=THRESHOLD, out=tmp_path / "curation")
    theirs = dedup_batch_datatrove(batch, threshold=THRESHOLD, out=tmp_path / "datatrove")
    for child in (ours, theirs):
        assert {r["parent_row"]: r["duplicate_of_row"] for r in read_dropped(child)} == expected
        assert [r["instruction"] for r in child.rows()] == [t for i, t in enumerate(texts) if i not in expected]
        assert child.manifest["parent"]["batch_id"] == batch.id and child.manifest["derived_by"] == "dedup"

    # the same shape: rows file, dropped.parquet's columns and types, the manifest's dedup keys
    assert pq.read_schema(ours.path / DROPPED_FILE) == pq.read_schema(theirs.path / DROPPED_FILE)
    assert [r for r in ours.rows()] == [r for r in theirs.rows()]
    d, e = ours.manifest["dedup"], theirs.manifest["dedup"]
    assert set(e) - set(d) == {"datatrove"} and set(d) <= set(e)
    assert (d["engine"], e["engine"]) == ("curation", "datatrove")
    assert e["removed"] == e["within_batch"] == len(expected) and e["against"] is None
    assert e["shingles"] == "word-2gram" and e["datatrove"]["num_buckets"] * e["datatrove"]["hashes_per_bucket"] == \
        e["num_perm"]
    assert all(r["similarity"] is None for r in read_dropped(theirs))  # datatrove gives no estimate
    assert all(r["similarity"] >= THRESHOLD for r in read_dropped(ours))


@needs_datatrove
def test_cli_engine_datatrove_writes_the_child_at_out(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    texts = ["How do I boil an egg so the yolk stays soft and runny?",
             "how do I boil an egg, so the yolk stays soft and runny!",
             "Name three primary colours of light and explain why they mix."]
    parent = write_sft_batch(tmp_path, texts)
    result = CliRunner().invoke(main, ["dedup", str(parent.path), "--engine", "datatrove", "--out",
                                       str(tmp_path / "child")], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    child = load_batch(str(tmp_path / "child"))
    assert result.stdout.strip() == (f"Batch {child.id}: 2 rows kept, 1 near-duplicate(s) dropped "
                                     f"(1 within the batch; threshold {THRESHOLD}) → {child.path}")
    assert "datatrove" not in result.stderr  # its task logs stay out of the terminal
    assert [(r["parent_row"], r["duplicate_of_row"]) for r in read_dropped(child)] == [(1, 0)]


def test_against_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    parent = write_sft_batch(tmp_path, ["a question about apples", "a question about pears"])
    result = CliRunner().invoke(main, ["dedup", str(parent.path), "--engine", "datatrove", "--against", "x"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == "Error: --engine datatrove cannot compare with an Argilla dataset (--against)"


def test_without_datatrove_the_error_names_the_extra(tmp_path, monkeypatch):
    """A real failed import (None in sys.modules makes `import datatrove` raise ImportError)."""
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(sys.modules, "datatrove", None)
    parent = write_sft_batch(tmp_path, ["a question about apples", "a question about pears"])
    result = CliRunner().invoke(main, ["dedup", str(parent.path), "--engine", "datatrove"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) <= 2 and lines[0].startswith("Error: --engine datatrove needs the optional datatrove package")
    assert "curation[datatrove]" in result.stderr
