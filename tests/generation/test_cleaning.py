"""The deterministic clean-up applied to what a small model returns."""

from curation.cleaning import clean_instructions, clean_line, is_usable_instruction


def test_measured_selfinstruct_output_is_cleaned():
    # Verbatim output of the bundled SmolLM2 for SelfInstruct (measured here).
    raw = [
        "To develop a user query that can be received by a user's AI application, let's consider the following:",
        '1. **User Query**: "What is the significance of X in Y?"',
        "Chat chat:",
        "https://t.cz/2z82b2c",
        "What are the main themes or topics that the French Revolution touched on?",
        "2. **Sentence Structure**:",
        "what are the main themes or topics that the French Revolution touched on",
    ]
    assert clean_instructions(raw) == [
        "What is the significance of X in Y?",
        "What are the main themes or topics that the French Revolution touched on?",
    ]


def test_numbering_labels_and_lead_ins_are_stripped():
    assert clean_line("3) - Describe the water cycle.") == "Describe the water cycle."
    assert clean_line("The user might ask: \"How do I boil an egg?\"") == "How do I boil an egg?"
    assert clean_line("Query 2: List three prime numbers.") == "List three prime numbers."


def test_preambles_and_fragments_are_not_instructions():
    for line in ["Here are two user queries:", "Sure! Let me help.", "", "Hi", "Certainly, here you go",
                 "I'm ready to help with your Python question. What's your request?"]:
        assert not is_usable_instruction(clean_line(line)), line
    assert is_usable_instruction("What time is it: now or later?")


def test_duplicates_are_dropped_across_outputs():
    seen: set[str] = set()
    assert clean_instructions("Explain gravity to a child.", seen) == ["Explain gravity to a child."]
    assert clean_instructions(["explain gravity to a child", "Explain tides."], seen) == ["Explain tides."]


def test_clean_up_that_keeps_nothing_stops_the_pipeline():
    """distilabel 1.5.3 hangs on an empty batch after a global step: CleanInstructions raises instead."""
    import pytest
    from distilabel.pipeline import Pipeline

    from pipelines.steps import CleanInstructions, NoUsableInstructions

    step = CleanInstructions(name="clean", column="instructions", pipeline=Pipeline(name="clean-test"))
    kept = next(step.process([{"instructions": ["Here are two queries:", "1. What is rain?"]}]))
    assert [row["instruction"] for row in kept] == ["What is rain?"]
    with pytest.raises(NoUsableInstructions, match="kept none of the 2 generated"):
        next(step.process([{"instructions": ["Here are two queries:"]}, {"instructions": "Sure!"}]))


def test_clean_up_drops_copies_of_the_worked_examples():
    """`--examples`: an instruction that repeats an example (case and punctuation aside) is no new row."""
    from distilabel.pipeline import Pipeline

    from pipelines.steps import CleanInstructions

    step = CleanInstructions(name="clean", column="instructions", exclude=["What is rain?"],
                             pipeline=Pipeline(name="clean-examples-test"))
    kept = next(step.process([{"instructions": ["what is rain", "What is snow?"]}]))
    assert [row["instruction"] for row in kept] == ["What is snow?"]
