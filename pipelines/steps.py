"""distilabel steps shared by the recipes: deterministic clean-up and column shaping.

No `from __future__ import annotations` here: distilabel reads the `StepInput` hint at run time.
"""


from typing import TYPE_CHECKING

from distilabel.steps import GlobalStep, Step, StepInput

from curation.cleaning import clean_instructions, clean_response

if TYPE_CHECKING:
    from distilabel.typing import StepOutput


class CleanInstructions(GlobalStep):
    """Explode `column` (a string or list of lines) into one clean, de-duplicated `instruction` per row.

    A global step so duplicates are caught across the whole batch and `limit` caps the rows
    before any response is generated for them. The uncleaned text is kept in `raw_instruction`.
    """

    column: str = "instructions"
    limit: int | None = None

    @property
    def inputs(self) -> list[str]:
        return [self.column]

    @property
    def outputs(self) -> list[str]:
        return ["instruction", "raw_instruction"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        seen: set[str] = set()
        rows = []
        for row in inputs:
            raw = row.get(self.column)
            for instruction in clean_instructions(raw, seen):
                if self.limit is not None and len(rows) >= self.limit:
                    break
                out = {k: v for k, v in row.items() if k not in (self.column, "instruction")}
                rows.append({**out, "instruction": instruction, "raw_instruction": raw})
        yield rows


class DropEmpty(Step):
    """Drop rows whose `columns` are empty after stripping (a failed or blank generation)."""

    columns: list[str] = ["generation"]

    @property
    def inputs(self) -> list[str]:
        return list(self.columns)

    @property
    def outputs(self) -> list[str]:
        return list(self.columns)

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        kept = []
        for row in inputs:
            values = [row.get(c) for c in self.columns]
            if all(isinstance(v, str) and clean_response(v) for v in values):
                kept.append({**row, **{c: clean_response(row[c]) for c in self.columns}})
        yield kept


class FlattenGenerations(Step):
    """Turn grouped per-backend generations (lists of lists) into flat `generations` + `generation_models`."""

    @property
    def inputs(self) -> list[str]:
        return ["grouped_generation", "grouped_model_name"]

    @property
    def outputs(self) -> list[str]:
        return ["generations", "generation_models"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        for row in inputs:
            generations, models = [], []
            for gens, model in zip(row.pop("grouped_generation"), row.pop("grouped_model_name")):
                for text in gens if isinstance(gens, list) else [gens]:
                    generations.append(clean_response(text))
                    models.append(model)
            row["generations"], row["generation_models"] = generations, models
        yield inputs


class WrapForDeita(Step):
    """Deita's scorers take lists: expose `instructions=[instruction]`, `responses=[response]`."""

    @property
    def inputs(self) -> list[str]:
        return ["instruction", "response"]

    @property
    def outputs(self) -> list[str]:
        return ["instructions", "responses"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        for row in inputs:
            row["instructions"] = [row["instruction"]]
            row["responses"] = [row["response"]]
        yield inputs
