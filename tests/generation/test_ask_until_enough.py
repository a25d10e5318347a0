"""AskUntilEnough: the instruction-writing step stops calling the model once it has enough usable instructions."""

import math

from curation.backends import build_llm, parse_backend
from curation.cleaning import clean_instructions
from pipelines.prompt import TEMPLATE
from pipelines.steps import AskUntilEnough

# Sampled as the recipe samples (greedy, the bundled model answers "I'm ready to assist", no question):
# about 4 answers in 5 hold a usable question, so 12 topics leave room far beyond what 2 need.
TOPICS = ["cooking", "astronomy", "gardening", "physics", "travel planning", "mathematics", "history", "music",
          "personal finance", "climate science", "writing emails", "python programming"]


def ask(enough: int) -> AskUntilEnough:
    step = AskUntilEnough(name="ask", enough=enough, template=TEMPLATE, columns=["topic"],
                          llm=build_llm(parse_backend("llamacpp"),
                                        generation_kwargs={"max_new_tokens": 48, "temperature": 0.7}))
    step.load()
    return step


def test_it_asks_only_while_it_needs_more_and_sends_the_rest_on_empty():
    step = ask(enough=2)
    [rows] = list(step.process([{"topic": t} for t in TOPICS]))

    assert [r["topic"] for r in rows] == TOPICS  # every row goes on, in order
    asked = [r for r in rows if r["generation"] is not None]
    seen: set[str] = set()
    usable = [len(clean_instructions(r["generation"], seen)) for r in asked]
    # Asked in chunks sized to the remaining need (2 needed at 0.8 a row: 3 rows, then what is missing),
    # and not one chunk after the count reached 2.
    count = position = 0
    while count < 2:
        size = math.ceil((2 - count) / step.expected_yield)
        count += sum(usable[position:position + size])
        position += size
    assert len(asked) == position < len(TOPICS) and sum(usable) >= 2
    skipped = rows[len(asked):]
    assert all(r["generation"] is None and r["model_name"] == step.llm.model_name for r in skipped)


def test_a_later_batch_is_not_asked_once_the_count_is_reached():
    step = ask(enough=1)
    [first] = list(step.process([{"topic": t} for t in TOPICS[:6]]))
    assert any(clean_instructions(r["generation"]) for r in first)
    [later] = list(step.process([{"topic": t} for t in TOPICS[6:]]))
    assert [r["generation"] for r in later] == [None] * 6
