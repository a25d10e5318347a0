"""Accepted examples in the generating prompts (`--examples argilla:DATASET[:K]`, curation.examples),
and the humans' corrections in the judge's (`--judge-examples`, curation.judge_examples).

They reach the model through distilabel's own hook, a task's system prompt: `TextGeneration`
has a `system_prompt` attribute; `SelfInstruct` and `EvolInstruct` get one here, in subclasses
whose public `format_input` puts it first; the UltraFeedback judge's own system prompt is
followed by the corrections (`JudgeUltraFeedbackWithExamples`). The chat template stays as the
model ships it.

No `from __future__ import annotations` here: pydantic reads the field hints at run time.
"""

from typing import Any, Optional

from distilabel.steps.tasks import EvolInstruct, SelfInstruct

from curation.contract import COL_GENERATIONS, COL_INSTRUCTION, COL_RATINGS
from pipelines.steps import JudgeUltraFeedback

QUESTIONS_INTRO = (
    "Reviewers accepted the following user requests. Write new requests of the same quality and "
    "style, on new subjects; never repeat these."
)
ANSWERS_INTRO = (
    "Reviewers accepted the following answers. Answer the next request with the same quality, "
    "accuracy and style."
)
JUDGE_INTRO = (
    "Human reviewers corrected earlier ratings. In these worked examples their ratings are the right "
    "answer; rate the next texts as they would."
)


def questions_prompt(pairs: list[tuple[str, str]]) -> Optional[str]:
    """The system prompt of a question-writing step: the accepted instructions, numbered."""
    if not pairs:
        return None
    body = "\n\n".join(f"Example {i}:\n{instruction}" for i, (instruction, _) in enumerate(pairs, start=1))
    return f"{QUESTIONS_INTRO}\n\n{body}"


def answers_prompt(pairs: list[tuple[str, str]]) -> Optional[str]:
    """The system prompt of an answering step: each accepted instruction with its accepted answer."""
    if not pairs:
        return None
    body = "\n\n".join(f"Example {i}:\nRequest: {instruction}\nAnswer: {answer}"
                       for i, (instruction, answer) in enumerate(pairs, start=1))
    return f"{ANSWERS_INTRO}\n\n{body}"


def judge_prompt(examples: list[dict]) -> Optional[str]:
    """The corrections for the judge's system prompt: each example's instruction, its texts
    numbered as UltraFeedback numbers them, and the reviewers' rating of each text."""
    if not examples:
        return None
    blocks = []
    for i, example in enumerate(examples, start=1):
        texts = "\n".join(f"<text {n}> {text}" for n, text in enumerate(example[COL_GENERATIONS], start=1))
        ratings = ", ".join(f"text {n}: {r}" for n, r in enumerate(example[COL_RATINGS], start=1))
        blocks.append(f"Example {i}:\nInstruction: {example[COL_INSTRUCTION]}\nTexts:\n{texts}\n"
                      f"Reviewers' ratings: {ratings}")
    return JUDGE_INTRO + "\n\n" + "\n\n".join(blocks)


def _with_system(system_prompt: Optional[str], messages: list) -> list:
    return [{"role": "system", "content": system_prompt}, *messages] if system_prompt else messages


class SelfInstructWithExamples(SelfInstruct):
    """distilabel's SelfInstruct with a system prompt (TextGeneration's attribute, which SelfInstruct lacks)."""

    system_prompt: Optional[str] = None

    def format_input(self, input: dict[str, Any]) -> list:
        return _with_system(self.system_prompt, super().format_input(input))


class EvolInstructWithExamples(EvolInstruct):
    """distilabel's EvolInstruct with a system prompt before each mutation prompt."""

    system_prompt: Optional[str] = None

    def format_input(self, input: str) -> list:  # type: ignore[override]
        return _with_system(self.system_prompt, super().format_input(input))


class JudgeUltraFeedbackWithExamples(JudgeUltraFeedback):
    """The recipe's UltraFeedback judge with the humans' corrections after its system prompt."""

    worked_examples: Optional[str] = None

    def format_input(self, input: dict[str, Any]) -> list:
        messages = super().format_input(input)
        if not self.worked_examples:
            return messages
        system, *rest = messages  # UltraFeedback's chat: its system prompt, then the rating request
        return [{**system, "content": f"{system['content']}\n{self.worked_examples}"}, *rest]
