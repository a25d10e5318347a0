"""The names push fills and export reads: the contract between review and export.

A settings file (argilla_configs/*.yaml) may add fields, questions and metadata, never rename
these. Config validation, `review/records.py` and `export/formats.py` all import them from here.
"""

from __future__ import annotations

# sft: the AI's proposal is a field; the question `response` holds the reviewed text (Argilla
# wants names unique across fields and questions, hence not `response` for both).
INSTRUCTION = "instruction"
GENERATED_RESPONSE = "generated_response"
RESPONSE = "response"
INSTRUCTION_RATING = "instruction_rating"
RESPONSE_RATING = "response_rating"
# preference: response_1..N fields, rating_1..N questions, one ranking, one critique.
RANKING = "ranking"
CRITIQUE = "critique"

CONTRACT = {
    "sft": {
        "fields": {INSTRUCTION: "text", GENERATED_RESPONSE: "text"},
        "questions": {INSTRUCTION_RATING: "rating", RESPONSE: "text", RESPONSE_RATING: "rating"},
    },
    "preference": {
        "fields": {INSTRUCTION: "text"},
        "questions": {RANKING: "ranking", CRITIQUE: "text"},
    },
}


def response_field(i: int) -> str:
    """The field showing candidate `i` (1-based) of a preference record."""
    return f"response_{i}"


def rating_question(i: int) -> str:
    """The question rating candidate `i` (1-based) of a preference record."""
    return f"rating_{i}"


def candidate_number(name: str) -> int:
    """1-based candidate number of a `response_i` or `rating_i` name."""
    return int(name.rsplit("_", 1)[1])
