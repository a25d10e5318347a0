"""Annotators' answers as plain values: what status and export read from a record listing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Review:
    """One annotator's response to a record."""

    user_id: str
    status: str  # submitted | discarded | draft
    values: dict[str, Any]  # question name -> raw value (a ranking keeps its ranks)


@dataclass(frozen=True)
class Reviewed:
    """A record with every annotator's response."""

    id: str  # the external id push gave it (`<batch id>:<row>`), else the server's id
    fields: dict[str, Any]
    metadata: dict[str, Any]
    reviews: tuple[Review, ...]
    server_id: str | None = None  # argilla-server's own id of the record

    @property
    def submitted(self) -> list[Review]:
        return [r for r in self.reviews if r.status == "submitted"]

    @property
    def discards(self) -> int:
        return sum(r.status == "discarded" for r in self.reviews)


def reviewed(item: dict) -> Reviewed:
    """A record as argilla-server's listing (with `include=responses`) or its record endpoint returns it (JSON)."""
    reviews = tuple(
        Review(
            user_id=str(r["user_id"]),
            status=str(r.get("status")),
            values={q: (v or {}).get("value") for q, v in (r.get("values") or {}).items()},
        )
        for r in item.get("responses") or []
    )
    external = item.get("external_id")
    return Reviewed(
        id=str(external if external is not None else item["id"]),
        fields=dict(item.get("fields") or {}),
        metadata=dict(item.get("metadata") or {}),
        reviews=reviews,
        server_id=str(item["id"]) if item.get("id") is not None else None,
    )


def top_choice(ranking: list[dict]) -> str:
    """A ranking's first place, as one nominal category ("a|b" when tied for first)."""
    ranks = [item.get("rank") for item in ranking if item.get("rank") is not None]
    best = min(ranks) if ranks else None
    return "|".join(sorted(str(item["value"]) for item in ranking if item.get("rank") == best))
