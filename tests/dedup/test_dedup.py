"""Near-duplicate filter on built batches: which rows go, what they name, the child batch and its manifest."""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from curation.batch import lineage, load_batch, rows_sha256
from curation.dedup import (
    DROPPED_FILE, LSH_MAX_THRESHOLD, LSH_WEIGHTS, NUM_PERM, dedup_batch, find_duplicates, lsh_bands, read_dropped,
    shingles, signatures)
from curation.errors import BadInput
from tests.dedup.planted import (
    BELOW, THRESHOLD, jaccard, original, planted_instructions, vocabulary, write_sft_batch)


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


# --- The numpy engine against independent truths (issue 26): the shingle sets `shingles` defines
# (a regex per text), exact Jaccard similarity, datasketch's band choice, and a brute-force
# reading of the documented rule over all pairs.

_TRICKY = ("abcXYZ019 _-!?.,;\t\n\x00" "ßÉǅİﬁΣς²٣Ⅰª中😀\u0301\u00a0\u2028")


def _same_set_variants(text: str, rng: random.Random) -> list[str]:
    """Texts that may have the shingle set of `text` (the reference decides which do)."""
    stretched = re.sub(r"[\W_]+", lambda m: rng.choice([" ", "--", "_!_", "\x00", " \t"]), text)
    return [text, text.upper(), text.swapcase(), f"  ¿{stretched}?! ", stretched.casefold() + "\x00"]


def test_signatures_are_equal_exactly_when_the_defined_shingle_sets_are():
    """Grouped by `shingles` (the regex definition), every text of a group has the group's signature
    and no two groups share one: the numpy normalization (casefold, non-alphanumeric runs, NULs,
    texts under 5 characters, empty and None) computes the same sets."""
    rng = random.Random(26)
    bases = ["", "a", "ab", "abcd", "abcde", "ab_cd", "x" * 5, "abcdefgh" * 2, "ß" * 3, "İi", "ﬁx", "Σας"]
    bases += ["".join(rng.choice(_TRICKY) for _ in range(rng.randint(0, 14))) for _ in range(400)]
    bases += [" ".join(rng.choice(["tea", "TEA", "té", "t_e", "teä", "٣٣"]) for _ in range(rng.randint(1, 6)))
              for _ in range(200)]
    texts = [None] + [v for b in bases for v in _same_set_variants(b, rng)]
    groups: dict[frozenset, list[int]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(frozenset(shingles(text)), []).append(i)
    assert sum(len(g) > 1 for g in groups.values()) > 300  # the variants do share sets

    sigs = signatures(texts)
    by_signature = {}
    for members in groups.values():
        assert len({sigs[i].tobytes() for i in members}) == 1, [texts[i] for i in members]
        by_signature.setdefault(sigs[members[0]].tobytes(), []).append(members[0])
    assert all(len(firsts) == 1 for firsts in by_signature.values())


def test_a_text_longer_than_a_block_has_the_signature_of_its_set():
    """'abcdefgh' repeated has the same 8 shingles whether 16 or 40,000 characters long; the long one
    spans many of the blocks the permutations run in, between other texts."""
    other = "Name three rivers of Europe and the seas they flow into."
    sigs = signatures([other, "abcdefgh" * 5000, other, "abcdefgh" * 2, "ABCDEFGH!" * 3000 + other])
    assert (sigs[1] == sigs[3]).all() and (sigs[0] == sigs[2]).all()
    assert not (sigs[4] == sigs[3]).all()


def test_estimates_follow_the_exact_jaccard_similarity():
    """Over 1,500 pairs with similarities from 0.3 to 1, the estimate is unbiased and its error is
    MinHash's with 128 independent permutations (sqrt(J(1-J)/128): 0.035 at 0.8)."""
    rng = random.Random(5)
    words = vocabulary(rng)
    pairs = []
    for _ in range(1500):
        text = original(rng, words)
        tokens = text.split()
        for _ in range(rng.randint(0, 8)):
            tokens[rng.randrange(len(tokens))] = rng.choice(words)
        pairs.append((text, " ".join(tokens)))
    sigs = signatures([t for pair in pairs for t in pair])
    estimate = (sigs[0::2] == sigs[1::2]).mean(axis=1)
    truth = np.array([jaccard(a, b) for a, b in pairs])
    expected_rms = np.sqrt((truth * (1 - truth) / NUM_PERM).mean())
    error = estimate - truth
    assert abs(error.mean()) < 0.004
    assert 0.8 * expected_rms < np.sqrt((error ** 2).mean()) < 1.2 * expected_rms
    assert (estimate[truth == 1.0] == 1.0).all()


def test_band_choice_is_datasketchs():
    """The bands (and rows a band) are those datasketch's MinHashLSH picks for the same weights."""
    lsh = pytest.importorskip("datasketch.lsh")
    for threshold in (0.05, 0.3, 0.5, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0):
        assert lsh_bands(threshold) == lsh._optimal_param(min(threshold, LSH_MAX_THRESHOLD), NUM_PERM,
                                                          *LSH_WEIGHTS), threshold


def _brute_force(texts: list[str], threshold: float, against: list[tuple[str, str]]) -> list[tuple]:
    """The module docstring's rule read literally, over all pairs: a candidate shares one whole band;
    records first, then kept earlier rows; the most similar wins, the earliest on a tie."""
    bands, rows = lsh_bands(threshold)
    sigs = signatures(texts)
    record_sigs = signatures([t for _, t in against])

    def best(sig, pool):
        if not pool:
            return None
        keys, matrix = [key for key, _ in pool], np.stack([s for _, s in pool])
        cut = slice(0, bands * rows)
        one_band = (matrix[:, cut].reshape(len(pool), bands, rows) == sig[cut].reshape(bands, rows)).all(axis=2)
        shared = [(key, float((s == sig).mean())) for key, s, share in zip(keys, matrix, one_band.any(axis=1)) if share]
        top = max(shared, key=lambda kv: kv[1], default=None)  # max keeps the first of equals
        return top if top is not None and top[1] >= threshold else None

    found, kept = [], []
    for row, sig in enumerate(sigs):
        if (match := best(sig, [(rid, s) for (rid, _), s in zip(against, record_sigs)])) is not None:
            found.append((row, match[1], None, match[0]))
        elif (match := best(sig, kept)) is not None:
            found.append((row, match[1], match[0], None))
        else:
            kept.append((row, sig))
    return found


@pytest.mark.parametrize("threshold", [0.5, 0.8, 1.0])
def test_find_duplicates_is_the_documented_rule_over_all_pairs(threshold):
    """Chains (copies of copies), exact and near copies, copies of records: the two-pass engine
    (band keys first, signatures only for rows in a shared bucket) decides as the rule over all pairs."""
    rng = random.Random(int(threshold * 100))
    words = vocabulary(rng)
    texts: list[str] = []
    for _ in range(400):
        if texts and rng.random() < 0.5:
            tokens = rng.choice(texts).split()
            for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
                tokens[rng.randrange(len(tokens))] = rng.choice(words)
            texts.append(" ".join(tokens))
        else:
            texts.append(original(rng, words))
    against = [(f"rec:{i}", rng.choice(texts).upper()) for i in range(15)]
    against += [(f"new:{i}", original(rng, words)) for i in range(15)]

    found = find_duplicates(texts, threshold, against=against)
    expected = _brute_force(texts, threshold, against)
    assert [(d.row, d.similarity, d.of_row, d.of_record) for d in found] == expected
    assert sum(d.of_record is not None for d in found) >= 15 and sum(d.of_row is not None for d in found) > 50


def test_a_preference_batch_compares_every_candidate_and_keeps_its_schema(tmp_path):
    """With responses, a preference row is compared by its instruction and all its candidates; the
    child batch and the dropped file keep the parent's columns and types (read as Arrow, not dicts)."""
    from curation.batch import new_batch_id, write_batch

    instruction = "Suggest a name for a bakery that sells only sourdough bread and cinnamon rolls."
    generations = [["Crust & Crumb", "The Rising Loaf"], ["Crust & Crumb", "The Rising Loaf"],
                   ["Mother Dough", "Roll With It"]]
    rows = [{"instruction": instruction, "generations": g, "ratings": [4, 3], "model_name": "planted"}
            for g in generations]
    batch_id = new_batch_id("ultrafeedback")
    manifest = {"batch_id": batch_id, "recipe": "ultrafeedback", "kind": "preference", "model": "planted",
                "rows": {"requested": 3, "generated": 3, "kept": 3, "dropped": 0}}
    parent = write_batch(tmp_path / batch_id, rows, manifest)

    assert dedup_batch(parent, out=tmp_path / "a").manifest["dedup"]["removed"] == 2
    child = dedup_batch(parent, include_response=True, out=tmp_path / "b")
    assert [r["generations"] for r in child.rows()] == [generations[0], generations[2]]
    assert [(r["parent_row"], r["duplicate_of_row"]) for r in read_dropped(child)] == [(1, 0)]
    parent_schema = pq.read_schema(parent.path / "rows.parquet")
    assert pq.read_schema(child.path / "rows.parquet").equals(parent_schema)
    assert pq.read_schema(child.path / DROPPED_FILE).field("generations").type == parent_schema.field("generations").type


def test_a_damaged_rows_file_is_the_one_line_batch_error(tmp_path):
    from curation.errors import BatchNotFound

    parent = write_sft_batch(tmp_path, ["one question about apples", "another about pears"])
    (parent.path / "rows.parquet").write_bytes(b"not parquet")
    with pytest.raises(BatchNotFound) as caught:
        dedup_batch(parent, out=tmp_path / "child")
    assert "\n" not in str(caught.value) and not (tmp_path / "child").exists()
