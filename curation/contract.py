"""The names one stage writes and another reads: batch columns, record fields, questions, metadata.

A batch's rows (rows.parquet) carry the batch columns; push maps them to the record fields,
questions and metadata below; export and report read those back. A settings file
(argilla_configs/*.yaml) may add fields, questions and metadata, never rename these. Every module
that writes or reads one of these names imports it from here (tests/test_contract_names.py
checks that none spells it again); the values are what is on disk and in Argilla: never change one.
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

# Record metadata push fills (the Argilla UI's filters; a settings file declares those it wants).
META_BATCH_ID = "batch_id"
META_ROW_INDEX = "row_index"  # the record's row in its batch
META_RECIPE = "recipe"
META_MODEL = "model"  # sft: the generating model; preference: every model behind the candidates
META_JUDGE_MODEL = "judge_model"
META_INSTRUCTION_LENGTH = "instruction_length"  # characters
META_RESPONSE_LENGTH = "response_length"  # characters
META_QUALITY_SCORE = "quality_score"  # Deita, 1-6
META_COMPLEXITY_SCORE = "complexity_score"  # Deita, 1-6
META_RATING_MARGIN = "rating_margin"  # the judge's best rating minus its worst
META_CANDIDATE_ORIGIN = "candidate_origin"  # "response_i: original|evolved" for each candidate
META_REVIEW_PRIORITY = "review_priority"  # 0-1, higher = review first (curation/review/priority.py)

# An adjudication dataset (`curate adjudicate`): its records are the source's, plus a field showing
# each annotator's answer and metadata naming the questions they disagree on.
ANNOTATOR_ANSWERS = "annotator_answers"
META_CONFLICT = "conflict"
# Adaptive overlap (`curate push --overlap-policy adaptive`): a record sent to the sibling dataset
# that needs more annotators names the dataset it is the overlap part of (curation/review/siblings.py).
META_OVERLAP_OF = "overlap_of"

# Batch columns: written by the recipes (pipelines/) and the batch filters, read by the filters,
# push, the seeds of a next round and the export card.
COL_INSTRUCTION = "instruction"
COL_RESPONSE = "response"  # sft: the model's answer
COL_MODEL_NAME = "model_name"  # sft: the generating model's label
COL_GENERATIONS = "generations"  # preference: the candidate responses
COL_GENERATION_MODELS = "generation_models"  # preference: the model of each candidate
COL_CANDIDATE_ORIGIN = "candidate_origin"  # preference: "original" or "evolved" for each candidate
COL_RATINGS = "ratings"  # preference: the judge's rating of each candidate
COL_RATIONALES = "rationales"  # preference: the judge's reason for each rating
COL_CHOSEN_INDEX = "chosen_index"  # preference: the candidate the judge prefers (0-based)
COL_JUDGE_MODEL = "judge_model"
COL_QUALITY_SCORE = "quality_score"  # sft: Deita quality, 1-6
COL_COMPLEXITY_SCORE = "complexity_score"  # sft: Deita complexity, 1-6
COL_INSTRUCTION_EMBEDDING = "instruction_embedding"  # a list of floats (`curate embed`)
COL_RESPONSE_EMBEDDING = "response_embedding"
COL_EVOLVED_FROM = "evolved_from"  # preference: the original each evolved candidate rewrites
COL_RAW_OUTPUT = "raw_output"  # what the model returned before cleaning, as JSON (for audit)
COL_PARENT_ROW = "parent_row"  # dropped.parquet: the dropped row's index in the parent batch
COL_SOURCE_RECORD_ID = "source_record_id"  # seeds from a reviewed dataset (`--seeds argilla:`): the record
# (in a seed row and in each row made from it); `curate watch` derives the new record's id from it
COL_SEED_INSTRUCTION = "seed_instruction"  # evol-instruct: the instruction a row's evolved one rewrote

# Export columns that carry no metadata name (an export row also keeps batch_id, recipe, model).
EXPORT_RECORD_ID = "record_id"

CONTRACT = {
    "sft": {
        "fields": {INSTRUCTION: "text", GENERATED_RESPONSE: "text"},
        "questions": {INSTRUCTION_RATING: "rating", RESPONSE: "text", RESPONSE_RATING: "rating"},
        # Optional in a settings file; push fills each one declared, typed as here.
        "metadata": {META_BATCH_ID: "terms", META_ROW_INDEX: "integer", META_RECIPE: "terms", META_MODEL: "terms",
                     META_INSTRUCTION_LENGTH: "integer", META_RESPONSE_LENGTH: "integer",
                     META_QUALITY_SCORE: "float", META_COMPLEXITY_SCORE: "float", META_REVIEW_PRIORITY: "float"},
    },
    "preference": {
        "fields": {INSTRUCTION: "text"},
        "questions": {RANKING: "ranking", CRITIQUE: "text"},
        "metadata": {META_BATCH_ID: "terms", META_ROW_INDEX: "integer", META_RECIPE: "terms", META_MODEL: "terms",
                     META_JUDGE_MODEL: "terms", META_INSTRUCTION_LENGTH: "integer", META_RATING_MARGIN: "float",
                     META_CANDIDATE_ORIGIN: "terms", META_REVIEW_PRIORITY: "float"},
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
