"""One way for every command to reach Argilla.

With ARGILLA_API_URL set (production: any Argilla 2.x), connect there with ARGILLA_API_KEY.
Otherwise connect to the embedded server that `curate server start` runs, with the owner key
it stored. Failures become one-line errors that never include the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curation import settings
from curation.argilla.errors import argilla_errors
from curation.errors import ArgillaUnavailable, BadInput

if TYPE_CHECKING:
    from pathlib import Path

    import argilla as rg


def connect(data_dir: "Path | None" = None) -> "rg.Argilla":
    """An `argilla.Argilla` client, checked with a call as the key's user. `data_dir`: the
    embedded server's data folder (default: CURATION_SERVER_DIR's)."""
    url = settings.argilla_api_url()
    if url:
        key = settings.argilla_api_key()
        if not key:
            raise BadInput(
                f"ARGILLA_API_URL is set ({url}) but ARGILLA_API_KEY is not",
                hint="export ARGILLA_API_KEY=<your key> (see 'My settings' in the Argilla UI)",
            )
        where = url
    else:
        from curation.server import embedded

        info = embedded.status(data_dir)
        if info is None:
            raise ArgillaUnavailable(
                "the embedded Argilla server is not running and ARGILLA_API_URL is not set",
                hint="run `curate server start`, or export ARGILLA_API_URL and ARGILLA_API_KEY",
            )
        url, key, where = info.url, info.api_key, f"the embedded server at {info.url}"
    import argilla as rg

    import curation.upstream.argilla  # noqa: F401  (the SDK's version, checked before it is used)

    with argilla_errors(f"connecting to {where}"):
        return rg.Argilla(api_url=url, api_key=key, retries=1)


def review_url(client) -> str:
    """The address annotators open: ARGILLA_API_URL's, else the one the embedded server listens on
    (its URL for other machines when it was started with --host beyond loopback)."""
    if settings.argilla_api_url():
        return client.api_url.rstrip("/")
    from curation.server import embedded

    info = embedded.status()
    if info is None or embedded.is_loopback(info.host):
        return client.api_url.rstrip("/")
    return embedded.public_url(info.host, embedded.port_of(info.url))
