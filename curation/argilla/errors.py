"""Argilla's SDK and HTTP failures as our one-line errors: the one table, applied everywhere.

=====================================  =======================  ====
failure                                error                    exit
=====================================  =======================  ====
HTTP 401 (key refused)                 AccessRefused            2
HTTP 403 (the key's role may not)      AccessRefused            2
HTTP 404, 409, 422 and other 4xx       BadInput                 2
HTTP 5xx                               ArgillaUnavailable       1
connection refused, lost, timed out    ArgillaUnavailable       1
=====================================  =======================  ====

The API key is never part of a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from curation.errors import AccessRefused, ArgillaUnavailable, BadInput

KEY_HINT = "check ARGILLA_API_KEY (the key itself is not shown here)"


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an SDK or httpx error, if there is one."""
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def detail_of(exc: BaseException) -> str:
    """The server's own explanation of a refusal (its `detail`), on one short line."""
    response = getattr(exc, "response", None)
    detail = None
    try:
        body = response.json() if response is not None else None
        detail = body.get("detail") if isinstance(body, dict) else None
    except Exception:  # not JSON: fall back to the exception's text
        detail = None
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("code") or detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        detail = "; ".join(str(d.get("msg", d)) for d in detail[:3])
    text = str(detail if detail is not None else exc)
    return " ".join(text.split())[:300]


def translate(exc: BaseException, doing: str) -> Exception | None:
    """The error to raise for `exc` (an SDK or HTTP failure) while `doing`, or None if not ours."""
    import httpx

    from curation.upstream.argilla import ArgillaCredentialsError, ArgillaError

    if not isinstance(exc, (httpx.HTTPError, ArgillaError)):
        return None
    status = status_of(exc)
    if status == 401 or isinstance(exc, ArgillaCredentialsError):
        return AccessRefused(f"Argilla refused the API key (HTTP 401) while {doing}", hint=KEY_HINT)
    if status == 403:
        return AccessRefused(
            f"Argilla forbids this API key's user {doing} (HTTP 403)",
            hint="use the owner's API key, or that of an admin of the dataset's workspace",
        )
    if status is not None and 400 <= status < 500:
        return BadInput(f"Argilla refused {doing} (HTTP {status}): {detail_of(exc)}")
    if status is not None:
        return ArgillaUnavailable(f"Argilla failed {doing} (HTTP {status})")
    if isinstance(exc, httpx.HTTPError):
        return ArgillaUnavailable(
            f"cannot reach Argilla while {doing} ({type(exc).__name__})",
            hint="start the server (`curate server start`) or fix ARGILLA_API_URL, then run the command again",
        )
    return ArgillaUnavailable(f"Argilla failed {doing}: {detail_of(exc)}")


@contextmanager
def argilla_errors(doing: str | Callable[[], str]) -> Iterator[None]:
    """Inside the block, SDK and HTTP failures become one-line errors that say what was being done
    (`doing` may be a callable, read only when a failure happens)."""
    try:
        yield
    except Exception as exc:
        mapped = translate(exc, doing() if callable(doing) else doing)
        if mapped is None:
            raise
        raise mapped from None


def after_server_error(request: Callable):
    """`request()` (an idempotent read), once more if the connection fails: after argilla-server
    answers a 500 (e.g. a unique-index clash of two pushes), its error middleware closes the
    connection, and the client's next request may reuse that dead pooled connection."""
    import httpx

    try:
        return request()
    except (httpx.TransportError, ArgillaUnavailable):  # raw, or as argilla_errors reports it
        return request()
