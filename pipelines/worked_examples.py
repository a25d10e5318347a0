"""Accepted examples in the generating prompts (`--examples argilla:DATASET[:K]`, curation.examples).

They reach the model through distilabel's own hook, a task's system prompt: `TextGeneration`
has a `system_prompt` attribute; `SelfInstruct` and `EvolInstruct` get one here, in subclasses
whose public `format_input` puts it first. The chat template stays as the model ships it.

No `from __future__ import annotations` here: pydantic reads the field hints at run time.
"""

from typing import Any, Optional

from distilabel.steps.tasks import EvolInstruct, SelfInstruct

QUESTIONS_INTRO = (
    "Reviewers accepted the following user requests. Write new requests of the same quality and "
    "style, on new subjects; never repeat these."
)
ANSWERS_INTRO = (
    "Reviewers accepted the following answers. Answer the next request with the same quality, "
    "accuracy and style."
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
