"""Answer 422 to an `offset` query parameter the database cannot take, before argilla-server sees it.

argilla-server's record list (`GET /api/v1/datasets/{id}/records`) declares `offset: int` with
no bounds and hands it to SQL: beyond 64-bit integers SQLite's bind overflows and PostgreSQL's
bigint does too, and PostgreSQL refuses a negative OFFSET; each answered a bare 500. Its record
searches bound the offset below only. One check in front of every API path, as an ASGI
middleware (the handlers' own parameters cannot be overridden): an integer offset lies in
0..2**63-1. What is not an integer at all is left to FastAPI's validation, which answers 422.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

INT64_MAX = 2**63 - 1
BOUNDED_PARAMS = ("offset",)
_INTEGER = re.compile(r"\s*([+-]?)0*([0-9]*)\s*")
_SHOWN_DIGITS = 30  # a 5,000-digit offset is quoted by its start


def out_of_bounds(query_string: bytes) -> str | None:
    """Why the query's offset cannot be served (one sentence), or None when it can."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        match = _INTEGER.fullmatch(value) if name in BOUNDED_PARAMS else None
        if match is None or not value.strip():
            continue
        sign, digits = match.groups()
        shown = value.strip() if len(value.strip()) <= _SHOWN_DIGITS else value.strip()[:_SHOWN_DIGITS] + "..."
        if sign == "-" and digits:
            return f"The {name} {shown} is negative: it counts the records to skip, 0 or more."
        # Compared by length first: int() of thousands of digits costs, and Python refuses it.
        if len(digits) > len(str(INT64_MAX)) or int(digits or 0) > INT64_MAX:
            return f"The {name} {shown} is beyond {INT64_MAX}, the largest this server takes."
    return None


class OffsetBounds:
    """ASGI middleware: a 422 with the reason for an API request whose offset is out of bounds."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "/api/" in scope["path"]:
            problem = out_of_bounds(scope.get("query_string", b""))
            if problem is not None:
                from starlette.responses import JSONResponse

                await JSONResponse({"detail": problem}, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def add_offset_bounds(app) -> None:
    """Put `OffsetBounds` in front of argilla-server's app. Idempotent."""
    if getattr(app, "_curation_offset_bounds", False):
        return
    app.add_middleware(OffsetBounds)
    app._curation_offset_bounds = True
