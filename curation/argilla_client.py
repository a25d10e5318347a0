"""One way for every command to reach Argilla.

With env ARGILLA_API_URL set (production: any Argilla 2.x), connect there with ARGILLA_API_KEY.
Otherwise connect to the embedded server that `curate server start` runs, with the owner key
it stored. Failures become one-line `ArgillaUnavailable` errors that never include the key.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from curation.errors import ArgillaUnavailable

if TYPE_CHECKING:
    import argilla as rg


def connect() -> "rg.Argilla":
    """An `argilla.Argilla` client, checked with a call as the key's user."""
    url = os.environ.get("ARGILLA_API_URL")
    if url:
        key = os.environ.get("ARGILLA_API_KEY")
        if not key:
            raise ArgillaUnavailable(
                f"ARGILLA_API_URL is set ({url}) but ARGILLA_API_KEY is not",
                hint="export ARGILLA_API_KEY=<your key> (see 'My settings' in the Argilla UI)",
            )
        where = url
    else:
        from curation.server import embedded

        info = embedded.status()
        if info is None:
            raise ArgillaUnavailable(
                "the embedded Argilla server is not running and ARGILLA_API_URL is not set",
                hint="run `curate server start`, or export ARGILLA_API_URL and ARGILLA_API_KEY",
            )
        url, key, where = info.url, info.api_key, f"the embedded server at {info.url}"
    return _client(url, key, where)


def _client(url: str, key: str, where: str) -> "rg.Argilla":
    import argilla as rg
    from argilla._exceptions import ArgillaCredentialsError, ArgillaError
    import httpx

    try:
        return rg.Argilla(api_url=url, api_key=key, retries=1)
    except ArgillaCredentialsError:
        raise ArgillaUnavailable(
            f"{where} refused the API key",
            hint="check ARGILLA_API_KEY (the key itself is not shown here)",
        ) from None
    except (httpx.HTTPError, ArgillaError, OSError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise ArgillaUnavailable(f"cannot reach Argilla at {where}: {reason}") from None
