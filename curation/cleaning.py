"""Deterministic clean-up of what a small model returns; the rest is what human review is for."""

from __future__ import annotations

import re
from collections.abc import Iterable

_NUMBERING = re.compile(r"^\s*(?:\(?\d{1,3}[.):]|[-*•+]|#{1,6}|Q\d*[.:])\s*", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:user\s+)?(?:query|question|instruction|task|prompt)\s*\d*\s*(?:\*\*)?\s*[:\-]\s*(?:\*\*)?\s*", re.IGNORECASE)
_PREAMBLE = re.compile(
    r"^(?:here(?:'s| is| are)|sure\b|certainly|of course|okay\b|ok\b|below (?:is|are)|the following|"
    r"to (?:develop|create|generate|write)|i (?:have|will|can|would)|i'?m (?:ready|happy|glad|here)|"
    r"let'?s\b|as an ai)",
    re.IGNORECASE,
)
# "The user might ask: ...", "One-word question: ..." — a short label before the real text.
_LEAD_IN = re.compile(r"^[^:\"]{0,40}\b(?:ask|asks|question|query|prompt|instruction|user)\b[^:\"]{0,15}:\s+(?=\S)", re.IGNORECASE)
_URL_ONLY = re.compile(r"^\W*https?://\S+\W*$")
_MIN_WORDS = 2


def clean_line(text: str) -> str:
    """Strip numbering, bullets, 'Query 1:' labels, markdown emphasis and wrapping quotes."""
    line = text.strip()
    for _ in range(2):  # "1. **Query:** ..." carries two layers
        line = _NUMBERING.sub("", line, count=1)
        line = _LABEL.sub("", line, count=1)
        line = _LEAD_IN.sub("", line, count=1)
    line = line.strip().strip("*_").strip()
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
        line = line[1:-1].strip()
    return line


def is_usable_instruction(line: str) -> bool:
    """False for empty, preamble ('Here are...'), heading-like ('...:'), URL-only or tiny lines."""
    if not line or _URL_ONLY.match(line) or _PREAMBLE.match(line):
        return False
    if line.endswith(":"):
        return False
    return len(line.split()) >= _MIN_WORDS


def normalize(text: str) -> str:
    """Key for duplicate detection: case- and whitespace-insensitive, trailing punctuation ignored."""
    return " ".join(text.lower().split()).rstrip(".?!")


def split_candidates(value: str | Iterable[str] | None) -> list[str]:
    """A model output (one string or a list of strings) as candidate lines."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [line for item in items if item for line in str(item).splitlines()]


def clean_instructions(value: str | Iterable[str] | None, seen: set[str] | None = None) -> list[str]:
    """Usable, de-duplicated instructions from one output; `seen` carries duplicates across outputs."""
    seen = set() if seen is None else seen
    kept = []
    for raw in split_candidates(value):
        line = clean_line(raw)
        key = normalize(line)
        if is_usable_instruction(line) and key not in seen:
            seen.add(key)
            kept.append(line)
    return kept


def clean_response(text: str | None) -> str:
    """A response with surrounding whitespace removed; '' means unusable."""
    return (text or "").strip()
