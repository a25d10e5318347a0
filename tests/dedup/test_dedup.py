"""Near-duplicate filter on built batches: which rows go, what they name, the child batch and its manifest."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from curation.batch import lineage, load_batch, rows_sha256
from curation.dedup import DROPPED_FILE, dedup_batch, find_duplicates, read_dropped, shingles, signatures
from curation.errors import BadInput
from tests.dedup.planted import BELOW, THRESHOLD, jaccard, planted_instructions, write_sft_batch


def test_the_fixture_is_clear_of_the_threshold():
    """The planted pairs lie well above the threshold and every other pair well below (exact Jaccard)."""
    texts, expected, below = planted_instructions()
    assert min(jaccard(texts[row], texts[source]) for row, source in expected.items()) > 0.9
    others = [jaccard(texts[a], texts[b]) for a in range(len(texts)) for b in range(a)
              if expected.get(a) != b and not (a in expected and b in expected and expected[a] == expected[b])]
    assert max(others) < 0.65
    assert len(below) == 6 * len(BELOW)


def test_planted_near_duplicates_are_dropped_and_only_they():
    texts, expected, below = planted_instructions()
    found = find_duplicates(texts, THRESHOLD)
    assert {d.row: d.of_row for d in found} == expected  # the kept row named is the original
    assert all(d.of_record is None and d.found_in == "batch" for d in found)
    assert not below & {d.row for d in found}
    for d in found:
        assert d.similarity >= THRESHOLD
        assert abs(d.similarity - jaccard(texts[d.row], texts[d.of_row])) < 0.15  # an estimate of the truth


def test_the_first_occurrence_is_kept():
    a, b = "How do I boil an egg so that the yolk stays soft?", "Name three primary colours and one secondary colour."
    found = find_duplicates([b, a, b.upper(), a, a + " please"], THRESHOLD)
    assert [(d.row, d.of_row) for d in found] == [(2, 0), (3, 1), (4, 1)]
    assert [d.similarity for d in found][:2] == [1.0, 1.0]


def test_normalization_ignores_case_punctuation_and_spacing():
    assert shingles("What is  TCP?") == shingles("what is tcp") == shingles("What... is -- tcp!")
    assert shingles("") == {b""} and shingles("abc") == {b"abc"}


def test_against_records_win_over_earlier_rows():
    texts = ["Explain how a heat pump moves heat from a cold place to a warm one.",
             "Explain how a heat pump moves heat from a cold place to a warm one!",
             "Write a limerick about a cat who learns to play the violin at night."]
    found = find_duplicates(texts, THRESHOLD, against=[("other:4", texts[0].lower())])
    assert [(d.row, d.of_record, d.of_row, d.found_in) for d in found] == [
        (0, "other:4", None, "dataset"), (1, "other:4", None, "dataset")]


def test_child_batch_keeps_the_rest_and_the_dropped_rows(tmp_path):
    texts, expected, _ = planted_instructions()
    parent = write_sft_batch(tmp_path, texts)
    before = rows_sha256(parent)
    child = dedup_batch(parent, threshold=THRESHOLD, out=tmp_path / "child")

    assert rows_sha256(parent) == before  # the parent is never rewritten
    assert [r["instruction"] for r in child.rows()] == [t for i, t in enumerate(texts) if i not in expected]
    m = load_batch(child.path).manifest
    assert m["derived_by"] == "dedup" and m["parent"]["batch_id"] == parent.id
    assert m["parent"]["rows_sha256"] == before
    assert m["rows"] == {"requested": len(texts), "generated": len(texts), "kept": len(texts) - len(expected),
                         "dropped": len(expected)}
    d = m["dedup"]
    assert (d["threshold"], d["removed"], d["within_batch"], d["against_dataset"], d["against"]) == (
        THRESHOLD, len(expected), len(expected), 0, None)
    assert d["compared"] == "instruction" and d["shingles"] == "char-5gram" and d["dropped_file"] == DROPPED_FILE
    assert [s["derived_by"] for s in lineage(child)] == [None, "dedup"]

    dropped = read_dropped(child)
    assert [r["parent_row"] for r in dropped] == sorted(expected)
    for r in dropped:
        assert r["duplicate_of_row"] == expected[r["parent_row"]] and r["duplicate_of_record"] is None
        assert r["found_in"] == "batch" and r["similarity"] >= THRESHOLD
        assert r["instruction"] == texts[r["parent_row"]] and r["response"] == f"Answer {r['parent_row']}."


def test_nothing_to_drop_still_writes_an_empty_dropped_file_with_the_row_schema(tmp_path):
    texts, _, _ = planted_instructions()
    parent = write_sft_batch(tmp_path, texts[:12])
    child = dedup_batch(parent, out=tmp_path / "child")
    table = pq.read_table(child.path / DROPPED_FILE)
    assert table.num_rows == 0 and {"instruction", "response", "parent_row", "similarity"} <= set(table.column_names)
    assert child.manifest["dedup"]["removed"] == 0 and len(child.rows()) == 12


def test_include_response_compares_the_responses_too(tmp_path):
    instruction = "Describe the water cycle in four short steps for a science class."
    responses = ["Evaporation, condensation, precipitation, collection: water goes round and round.",
                 "Ice caps hold most fresh water; glaciers move slowly downhill over many centuries."]
    parent = write_sft_batch(tmp_path, [instruction, instruction], responses)
    assert dedup_batch(parent, out=tmp_path / "a").manifest["dedup"]["removed"] == 1
    both = dedup_batch(parent, include_response=True, out=tmp_path / "b")
    assert both.manifest["dedup"]["removed"] == 0 and both.manifest["dedup"]["compared"] == "instruction+response"


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5])
def test_a_threshold_outside_0_1_is_bad_input(tmp_path, threshold):
    parent = write_sft_batch(tmp_path, ["one question about apples", "another about pears"])
    with pytest.raises(BadInput, match="threshold"):
        dedup_batch(parent, threshold=threshold, out=tmp_path / "child")
    assert not (tmp_path / "child").exists()


@pytest.mark.parametrize("kind", ["sft", "preference"])
def test_a_row_and_its_pushed_record_compare_by_the_same_text(kind):
    """--against reads records' fields: the text must be the one the batch row gives (push's own mapping)."""
    from curation.dedup import record_text, row_text
    from curation.review.records import row_fields

    row = {"instruction": "Plan a three-day trip to Lisbon on a small budget.", "response": "Day one: Alfama.",
           "generations": ["Day one: Alfama.", "Start in Belém.", "Take tram 28."]}
    fields = row_fields(kind, row, 3, [])
    for include_response in (False, True):
        assert record_text(fields, include_response) == row_text(kind, row, include_response)
    assert row_text(kind, row) == row["instruction"]


def test_threshold_1_drops_exactly_the_rows_whose_signature_an_earlier_kept_row_has():
    """At 1 (the top of the range the help gives) datasketch cannot choose LSH bands; before, this
    raised ValueError. Estimated similarity 1 means the same MinHash signature: the expectation
    compares signatures directly, and by construction the exact and case copies are among them."""
    texts, expected, _ = planted_instructions()
    first_with = {}
    for row, sig in enumerate(signatures(texts)):
        first_with.setdefault(sig.tobytes(), row)
    identical = {row: first_with[sig.tobytes()] for row, sig in enumerate(signatures(texts))
                 if first_with[sig.tobytes()] != row}

    found = find_duplicates(texts, 1)

    assert {d.row: d.of_row for d in found} == identical
    assert all(d.similarity == 1.0 for d in found)
    identical_text = {row for row, source in expected.items() if jaccard(texts[row], texts[source]) == 1.0}
    assert identical_text and identical_text <= set(identical)
    assert len(identical) < len(expected)  # the one-word extensions (about 0.96) are kept
