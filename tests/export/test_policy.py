"""The selection rules on their own: agreement, discards, rankings (no server needed)."""

from __future__ import annotations

import pytest

from curation.export.formats import MISSING, TIE, dpo_vote, sft_vote
from curation.argilla.responses import Review, Reviewed
from curation.export.select import admit, decide


def record(*reviews: Review, **fields) -> Reviewed:
    return Reviewed(id="r", fields={"instruction": "q", **fields}, metadata={}, reviews=reviews)


def ranking(**ranks) -> Review:
    return Review("u", "submitted", {"ranking": [{"value": k, "rank": v} for k, v in ranks.items()]})


@pytest.mark.parametrize(
    "answers, agreement, expected",
    [
        (["a", "a"], "unanimous", ("a", 1.0)),
        (["a", "b"], "unanimous", "disagreement"),
        (["a", "a", "b"], "unanimous", "disagreement"),
        (["a", "a", "b"], "majority", ("a", 2 / 3)),
        (["a", "b"], "majority", "disagreement"),  # a tie is never broken by guessing
        (["a", "b", "c", "c", "a"], "majority", "disagreement"),
        ([TIE, TIE], "majority", "tie"),
        ([TIE, "a"], "majority", "disagreement"),
        ([TIE, "a"], "any", ("a", 0.5)),  # `any` ignores unusable answers while one usable remains
        ([MISSING], "any", "missing_answer"),
        (["a", "b"], "any", "disagreement"),
    ],
)
def test_decide(answers, agreement, expected):
    assert decide(answers, agreement) == expected


@pytest.mark.parametrize(
    "statuses, agreement, min_submitted, expected",
    [
        (["submitted", "discarded"], "majority", 1, "discarded"),
        (["submitted", "submitted", "discarded"], "majority", 1, None),
        (["submitted", "submitted", "discarded"], "unanimous", 1, "discarded"),
        (["submitted", "discarded"], "any", 1, None),
        (["discarded"], "any", 1, "discarded"),
        (["submitted", "draft"], "majority", 2, "too_few_submitted"),
        ([], "any", 1, "too_few_submitted"),
    ],
)
def test_admit(statuses, agreement, min_submitted, expected):
    reviews = [Review(f"u{i}", status, {}) for i, status in enumerate(statuses)]
    assert admit(record(*reviews), agreement=agreement, min_submitted=min_submitted) == expected


def test_dpo_vote_reads_ranks_not_order():
    rec = record(response_1="x", response_2="y", response_3="z")
    assert dpo_vote(ranking(response_3=2, response_1=3, response_2=1), rec) == ("response_2", "response_1")
    assert dpo_vote(ranking(response_1=1, response_2=1, response_3=2), rec) is TIE
    assert dpo_vote(ranking(response_1=1, response_2=2, response_3=2), rec) is TIE
    assert dpo_vote(ranking(response_1=1, response_2=None, response_3=2), rec) is MISSING
    assert dpo_vote(ranking(response_1=1, response_9=2), rec) is MISSING  # not a field of this record
    assert dpo_vote(Review("u", "submitted", {}), rec) is MISSING


def test_sft_vote_ignores_surrounding_whitespace_only():
    rec = record(generated_response="g")
    assert sft_vote(Review("u", "submitted", {"response": "  Fixed \n"}), rec) == "Fixed"
    assert sft_vote(Review("u", "submitted", {"response": "   "}), rec) is MISSING
    assert sft_vote(Review("u", "submitted", {}), rec) is MISSING
