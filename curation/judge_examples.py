"""The judge learns from its corrections (`--judge-examples argilla:DATASET[:K]`).

The records of a reviewed preference dataset that the export policy admits (the same selection
as `--examples` and `curate export`, adjudications first: `curation.examples.read_admitted`) and
where the humans' chosen response is not the judge's become worked examples in the UltraFeedback
judge's prompt (`pipelines.worked_examples.JudgeUltraFeedbackWithExamples`).

- The judge's choice is what `curate push` suggested: the first place of its `ranking`
  suggestion (its `chosen_index`, else its best rating; `curation.review.records`). It disagrees
  with the humans where that first place, read by `top_choice` as the report's judge-human
  agreement reads it ("a|b" for a tie), is not the response the admitted answer chose. A record
  without a ranking suggestion (the judge's ratings were incomplete) has no judge's choice and
  never disagrees.
- Each example shows the instruction, the two responses of the humans' answer (chosen and
  rejected) in the record's order, and their ranking as ratings (`ranking_ratings`: rank 1 → 5).
- K of the disagreeing records are picked for diversity, as `--examples` picks them (farthest-first
  over vectors, else MinHash signatures of the instructions; the first record by id starts).

The manifest's `judge_examples` names them (`record_ids`), so `curate report` holds them out of
every judge-human agreement figure; they never become rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from curation import contract as c
from curation.errors import BadInput

OPTION = "--judge-examples"
RATING_LOW, RATING_HIGH = 1, 5  # UltraFeedback's scale


@dataclass(frozen=True)
class JudgeExamples:
    """The worked examples ({instruction, generations, ratings}) and the manifest's `judge_examples` entry."""

    examples: list[dict]
    entry: dict


def ranking_ratings(ranks: list[int], low: int = RATING_LOW, high: int = RATING_HIGH) -> list[int]:
    """Ratings for responses ranked `ranks` (1 = best; ties share a rank): rank 1 → `high`, the last
    rank → `low`, the ranks between spread evenly over the scale and rounded (half up).

    [1, 2] → [5, 1]; [2, 1] → [1, 5]; [1, 2, 3] → [5, 3, 1]; [1, 2, 3, 4] → [5, 4, 2, 1]; all tied → all 5.
    """
    last = max(ranks)
    if last == min(ranks):
        return [high for _ in ranks]
    distinct = sorted(set(ranks))
    step = (high - low) / (len(distinct) - 1)
    return [int(high - distinct.index(r) * step + 0.5) for r in ranks]


def judge_disagrees(suggested_ranking, humans_choice: str) -> bool:
    """Whether the judge's first place (its ranking suggestion, read as the report reads it) is not
    the response field the humans chose; False when the judge suggested no ranking."""
    from curation.argilla.responses import top_choice

    return bool(suggested_ranking) and top_choice(suggested_ranking) != humans_choice


def humans_pair(record, row: dict) -> tuple[str, str] | None:
    """(chosen field, rejected field) of an admitted preference record: the `response_i` fields
    holding the export row's chosen and rejected texts, the first of each in field order."""
    chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
    names = list(itertools.takewhile(lambda n: n in record.fields, map(c.response_field, itertools.count(1))))
    chosen_field = next((n for n in names if record.fields[n] == chosen), None)
    rejected_field = next((n for n in names if n != chosen_field and record.fields[n] == rejected), None)
    if chosen_field is None or rejected_field is None:
        return None
    return chosen_field, rejected_field


def worked_example(record, row: dict, pair: tuple[str, str]) -> dict:
    """The example an admitted record gives: its instruction, the chosen and rejected responses in
    the record's field order, and the humans' ratings of them (`ranking_ratings`)."""
    fields = sorted(pair, key=c.candidate_number)
    ranks = [1 if name == pair[0] else 2 for name in fields]
    return {
        c.COL_INSTRUCTION: row["prompt"][0]["content"],
        c.COL_GENERATIONS: [record.fields[name] for name in fields],
        c.COL_RATINGS: ranking_ratings(ranks),
    }


def load_judge_examples(value, *, workspace: str | None = None, agreement: str = "majority",
                        min_submitted: int | None = None, client=None) -> JudgeExamples:
    """K diverse admitted preference records of `argilla:DATASET[:K]` whose humans' choice is not the judge's.

    Unknown dataset or workspace, K not a whole number >= 1, an sft dataset, nothing admitted, or no
    admitted record that disagrees with the judge: a one-line BadInput (exit 2), before any model loads.
    """
    from curation.examples import read_admitted

    admitted = read_admitted(value, option=OPTION, use="take the judge's examples from", kind="preference",
                             workspace=workspace, agreement=agreement, min_submitted=min_submitted, client=client)
    rankings = _judge_rankings(admitted.client, admitted.dataset)
    disagreeing, examples = [], {}
    for index, (_, record, row) in enumerate(admitted.records):
        pair = humans_pair(record, row)
        if pair is not None and judge_disagrees(rankings.get(str(record.id)), pair[0]):
            disagreeing.append(index)
            examples[index] = worked_example(record, row, pair)
    if not disagreeing:
        raise BadInput(
            f"no admitted record of {admitted.name!r} disagrees with the judge ({len(admitted.records)} admitted, "
            f"{admitted.counts.seen} seen); no correction to show it",
            hint="the judge chose as the humans did on every admitted record, or its ranking was not suggested",
        )
    picked, measure = admitted.pick(admitted.k, disagreeing)
    return JudgeExamples([examples[i] for i in picked],
                         admitted.entry(picked, measure, disagreeing=len(disagreeing)))


def _judge_rankings(client, dataset) -> dict[str, list]:
    """Record id (as `Reviewed.id` names it) -> the judge's `ranking` suggestion, for records that have one."""
    from curation.argilla.errors import argilla_errors
    from curation.argilla.records import iter_records

    with argilla_errors("reading the dataset's questions"):
        ranking_ids = {str(q.id) for q in dataset.settings.questions if q.name == c.RANKING}
    found = {}
    for item in iter_records(client, dataset.id, include=("suggestions",)):
        for suggestion in item.get("suggestions") or []:
            if str(suggestion.get("question_id")) in ranking_ids and suggestion.get("value"):
                found[str(item.get("external_id") or item["id"])] = suggestion["value"]
    return found
