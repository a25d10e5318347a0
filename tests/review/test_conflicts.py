"""Which records `curate adjudicate` calls conflicts: export's own disagreement, plus rating spreads
and split labels (no server needed; the end-to-end path is tests/export/test_adjudication.py)."""

from __future__ import annotations

import pytest

from curation.argilla.responses import Review, Reviewed
from curation.export.formats import FORMATS
from curation.review.adjudicate import answers_text, conflict_questions

SFT_QUESTIONS = {"instruction_rating": "rating", "response": "text", "response_rating": "rating"}
DPO_QUESTIONS = {"ranking": "ranking", "rating_1": "rating", "rating_2": "rating", "topic": "label_selection"}


def sft(*answers: tuple[str, int], statuses=None) -> Reviewed:
    statuses = statuses or ["submitted"] * len(answers)
    reviews = tuple(Review(f"u{i}", status, {"response": text, "response_rating": rating})
                    for i, ((text, rating), status) in enumerate(zip(answers, statuses)))
    return Reviewed(id="s", fields={"instruction": "q", "generated_response": "g"}, metadata={}, reviews=reviews)


def dpo(*answers: dict) -> Reviewed:
    reviews = tuple(Review(f"u{i}", "submitted", values) for i, values in enumerate(answers))
    return Reviewed(id="p", fields={"instruction": "q", "response_1": "a", "response_2": "b"}, metadata={}, reviews=reviews)


def ranked(first: int, **more) -> dict:
    second = 2 if first == 1 else 1
    return {"ranking": [{"value": f"response_{first}", "rank": 1}, {"value": f"response_{second}", "rank": 2}], **more}


@pytest.mark.parametrize(
    "record, agreement, expected",
    [
        (sft(("Same", 4), (" Same ", 4)), "majority", ()),  # whitespace is no correction
        (sft(("A", 4), ("B", 4)), "majority", ("response",)),  # differing corrections
        (sft(("A", 4), ("A", 4), ("B", 4)), "majority", ()),  # the majority decides: export keeps it
        (sft(("A", 4), ("A", 4), ("B", 4)), "unanimous", ("response",)),
        (sft(("A", 5), ("A", 3)), "majority", ("response_rating",)),  # rating spread of 2
        (sft(("A", 5), ("A", 4)), "majority", ()),  # spread of 1: not worth a reviewer
        (sft(("A", 4)), "majority", ()),  # one answer cannot disagree
        (sft(("A", 4), ("B", 4), statuses=["submitted", "draft"]), "majority", ()),  # drafts do not count
    ],
)
def test_sft_conflicts(record, agreement, expected):
    assert conflict_questions(record, FORMATS["sft"], SFT_QUESTIONS, agreement) == expected


def test_preference_conflicts():
    fmt = FORMATS["dpo"]
    assert conflict_questions(dpo(ranked(1), ranked(1)), fmt, DPO_QUESTIONS, "majority") == ()
    assert conflict_questions(dpo(ranked(1), ranked(2)), fmt, DPO_QUESTIONS, "majority") == ("ranking",)
    spread = dpo(ranked(1, rating_1=5, rating_2=1), ranked(1, rating_1=2, rating_2=2))
    assert conflict_questions(spread, fmt, DPO_QUESTIONS, "majority") == ("rating_1",)
    labels = dpo(ranked(1, topic="math"), ranked(1, topic="code"))
    assert conflict_questions(labels, fmt, DPO_QUESTIONS, "majority") == ("topic",)
    # The dataset asks for 3 submissions: two that disagree wait for the third.
    assert conflict_questions(dpo(ranked(1), ranked(2)), fmt, DPO_QUESTIONS, "majority", min_submitted=3) == ()


def test_answers_show_names_and_rankings_never_ids():
    record = dpo(ranked(2, critique="too long\nand vague"), {"ranking": [{"value": "response_1", "rank": 1},
                                                                         {"value": "response_2", "rank": 1}]})
    names = {"u0": "alice", "u1": "bob"}
    text = answers_text(record, names.get, ["ranking", "critique"])
    assert text == ("alice:\n  ranking: response_2 > response_1\n  critique: too long\n    and vague\n\n"
                    "bob:\n  ranking: response_1 = response_2")
