"""A dataset's records: one paged iterator over argilla-server's listing, and bulk writes.

The listing is read from the database (not the search index), so it sees every committed
record. It returns plain JSON, much cheaper than SDK objects, and keeps what the SDK's
`Record.from_model` loses (the ranks of a ranking answer, a discard without values).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from curation.argilla.errors import argilla_errors
from curation.argilla.responses import Reviewed, reviewed

PAGE = 1000  # the server's maximum page size: fewest round trips, bounded memory
CHUNK = 500  # records per bulk write: the server's maximum
INCLUDES = ("responses", "suggestions", "vectors")


def iter_records(client, dataset_id, include: Iterable[str] = (), page_size: int = PAGE) -> Iterator[dict]:
    """Every record of the dataset as the API returns it; `include` adds responses, suggestions, vectors."""
    include = tuple(include)
    unknown = set(include) - set(INCLUDES)
    if unknown:
        raise ValueError(f"unknown include {sorted(unknown)}; choose from {INCLUDES}")
    offset = 0
    while True:
        params: dict = {"offset": offset, "limit": page_size}
        if include:
            params["include"] = list(include)
        with argilla_errors("listing the dataset's records"):
            response = client.api.http_client.get(f"/api/v1/datasets/{dataset_id}/records", params=params)
            response.raise_for_status()
        items = response.json()["items"]
        yield from items
        if len(items) < page_size:
            return
        offset += len(items)


def iter_reviewed(client, dataset_id, page_size: int = PAGE) -> Iterator[Reviewed]:
    """Every record with every annotator's response, one page in memory at a time."""
    for item in iter_records(client, dataset_id, include=("responses",), page_size=page_size):
        yield reviewed(item)


def get_reviewed(client, server_id: str) -> tuple[Reviewed, str] | None:
    """(the record with every response, its dataset's id) by argilla-server's record id; None if it is gone."""
    with argilla_errors("reading a record"):
        response = client.api.http_client.get(f"/api/v1/records/{server_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
    item = response.json()
    return reviewed(item), str(item["dataset_id"])


def external_ids(client, dataset_id, prefix: str = "") -> set[str]:
    """External ids of the dataset's records that start with `prefix`."""
    # Without `include`, the listing leaves out responses, suggestions and vectors.
    return {
        str(item["external_id"])
        for item in iter_records(client, dataset_id)
        if str(item.get("external_id") or "").startswith(prefix)
    }


def add_missing(client, dataset_id, models: list, prefix: str = "") -> int:
    """Add up to CHUNK new record models (`rg.Record.api_model()`) in one request; returns how many
    were added. If another push added some of the same ids meanwhile, the server's unique index
    makes the request fail (HTTP 500 in argilla-server 2.8): those are then left as they are
    (never updated) and the rest sent again."""
    from curation.argilla.errors import after_server_error, status_of

    try:
        client.api.records.bulk_upsert(dataset_id=dataset_id, records=models)
        return len(models)
    except Exception as exc:
        if (status_of(exc) or 0) < 500:
            raise
    present = after_server_error(lambda: external_ids(client, dataset_id, prefix))
    rest = [m for m in models if str(m.external_id) not in present]
    if rest:
        client.api.records.bulk_upsert(dataset_id=dataset_id, records=rest)
    return len(rest)
