"""Read a dataset's records straight from argilla-server's listing, page by page.

The listing is read from the database (not the search index), so it sees every committed
record; it returns plain JSON, which is all push and status need and much cheaper than
building SDK objects for every record.
"""

from __future__ import annotations

from typing import Iterator

PAGE = 1000  # the server's maximum page size


def iter_records(client, dataset_id, include: tuple[str, ...] = ()) -> Iterator[dict]:
    """Every record of the dataset as the API returns it; `include` adds e.g. "responses"."""
    offset = 0
    while True:
        params = {"offset": offset, "limit": PAGE}
        if include:
            params["include"] = list(include)
        response = client.api.http_client.get(f"/api/v1/datasets/{dataset_id}/records", params=params)
        response.raise_for_status()
        items = response.json()["items"]
        yield from items
        if len(items) < PAGE:
            return
        offset += len(items)
