"""Seed values a model can take: text that encodes as UTF-8 and is not absurdly long.

Checked when seeds are read, before anything is generated or cached: a lone surrogate
(`"\\ud800"` in JSON) crashes distilabel's step thread and leaves a cache the next run trips
over, and a 200 MB seed is sent whole to the model. Each refusal names the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from curation import settings
from curation.errors import SeedFileError

_HINT_SIZE = "shorten or split that seed, or raise CURATION_SEED_MAX_CHARS (nothing was generated or cached)"
_HINT_TEXT = "fix or remove that seed: it is not valid Unicode text (nothing was generated or cached)"


def problem(value: str, limit: int) -> tuple[str, str] | None:
    """(why, hint) when string `value` cannot be a seed value, else None."""
    if len(value) > limit:
        return f"a seed value of {len(value):,} characters (the limit is {limit:,})", _HINT_SIZE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate \\u{ord(value[exc.start]):04x}, which is not text", _HINT_TEXT
    return None


def _strings(value) -> Iterator[str]:
    """Every string in a seed row's value: keys and values of nested objects and lists too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def row_problem(row: dict, limit: int) -> tuple[str, str] | None:
    """The first reason a value of `row` cannot be a seed, or None."""
    for text in _strings(row):
        found = problem(text, limit)
        if found:
            return found
    return None


def json_line_of_problem(text: str, limit: int) -> int | None:
    """The line of valid JSON `text` holding the first string that cannot be a seed value.

    Outside strings JSON holds no quote, so every quote met while skipping string bodies
    opens a string: json's own scanner decodes each one, escapes included.
    """
    scan = json.decoder.scanstring
    position = text.find('"')
    while position != -1:
        value, end = scan(text, position + 1)
        if problem(value, limit):
            return text.count("\n", 0, position) + 1
        position = text.find('"', end)
    return None


def check_rows(rows: list[dict], where: str, lines: list[int] | None = None,
               json_text: str | None = None) -> None:
    """Raise SeedFileError naming `where` and the line (or row) of the first unusable seed value.

    `lines[i]` is the line row i starts on; for a JSON document, `json_text` locates the line.
    """
    limit = settings.seed_max_chars()
    for index, row in enumerate(rows):
        found = row_problem(row, limit)
        if found is None:
            continue
        line = json_line_of_problem(json_text, limit) if json_text is not None else None
        if line is None and lines is not None:
            line = lines[index]
        place = f"line {line}" if line is not None else f"row {index + 1}"
        why, hint = found
        raise SeedFileError(f"{where}, {place}: {why}", hint=hint)

