"""The export card's dedup counts, read from the manifests of the batches behind the exported rows."""

from __future__ import annotations

from curation.batch import write_child_batch
from curation.dedup import dedup_batch
from curation.export import card
from tests.dedup.planted import THRESHOLD, planted_instructions, write_sft_batch


def test_card_counts_the_dedup_behind_each_batch(curation_home, tmp_path):
    texts, expected, _ = planted_instructions()
    parent = write_sft_batch(curation_home / "batches", texts)
    child = dedup_batch(parent, threshold=THRESHOLD)
    later = write_child_batch(child, child.rows()[:5], derived_by="selection", details={"kept": 5})  # a step after dedup
    plain = write_sft_batch(curation_home / "batches", texts[:3])

    found = card.dedup_counts([later.id, plain.id, child.id, ""])
    assert [batch_id for batch_id, _ in found] == [child.id]  # named once, whichever batch led to it
    assert found[0][1]["removed"] == len(expected) and found[0][1]["threshold"] == THRESHOLD

    tally = card.Tally()
    tally.batches.update({later.id: 4, plain.id: 2})
    section = "\n".join(card._dedup_section(tally))
    assert "## Near-duplicates removed before review" in section
    assert f"| {child.id} | {THRESHOLD} | {len(expected)} | 0 | {len(expected)} |" in section

    tally_without = card.Tally()
    tally_without.batches.update({plain.id: 2})
    assert card._dedup_section(tally_without) == []
