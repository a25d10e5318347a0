"""SDK and HTTP failures as one-line errors the CLI can print (never with the API key)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from curation.errors import ArgillaUnavailable, CurationError


@contextmanager
def api_errors(what: Callable[[], str]):
    """Turn SDK and HTTP failures into one-line CurationErrors that start with `what()`."""
    import httpx
    from argilla._exceptions import ArgillaError

    try:
        yield
    except (httpx.HTTPError, ArgillaError) as exc:
        status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise ArgillaUnavailable(f"{what()}: the server refused the API key or its role") from None
        if isinstance(exc, httpx.TransportError):
            raise ArgillaUnavailable(
                f"{what()}: cannot reach Argilla ({type(exc).__name__})",
                hint="start the server (or fix ARGILLA_API_URL), then run the command again",
            ) from None
        raise CurationError(f"{what()}: {' '.join(str(exc).split())[:300]}") from None
