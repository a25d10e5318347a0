"""The review queue by priority band, as annotators get it through the API the Argilla UI calls.

The UI asks POST /api/v1/me/datasets/{id}/records/search for the annotator's pending records; opened
plainly it sends no sort (argilla-server then asks our search engine for the per-user shuffled order,
which serves higher review_priority bands first), and opened from the printed link it sorts on
metadata review_priority descending (ties in the user's shuffled order). The batch has 8 records in the
top band (priority 0.8, worked out by hand in tests/review/priority_batches.py), then 4 at 0.7, 4 at
0.25 and 4 at 0.0.
"""

from __future__ import annotations

import uuid

import pytest

from curation.argilla.datasets import find_dataset
from curation.review.push import push_batch
from tests.review.annotators import add_annotator
from tests.review.priority_batches import banded_batch

pytestmark = pytest.mark.slow

TOP = 8
# Each annotator's order within a band comes from a hash of their (random) user id, so "they do not all
# open the same record" can only be checked with odds: with 8 annotators on 8 records it fails by
# chance once in 8^7 (about 2 million) runs; with 4 it was once in 512, and CI met it.
ANNOTATORS = 8
# The body the UI sends for its pending queue (from the 2.8 UI's record repository).
PENDING = {"filters": {"and": [
    {"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]},
    {"type": "terms", "scope": {"entity": "record", "property": "status"}, "values": ["pending"]},
]}}
BY_PRIORITY = [{"scope": {"entity": "metadata", "metadata_property": "review_priority"}, "order": "desc"}]


def queue(annotator, dataset_id, sort: bool = False, limit: int = 50) -> list[str]:
    """The external ids of the annotator's pending records, in the order the UI would show them."""
    body = {"query": {}, **PENDING, **({"sort": BY_PRIORITY} if sort else {})}
    response = annotator.api.http_client.post(f"/api/v1/me/datasets/{dataset_id}/records/search",
                                              json=body, params={"offset": 0, "limit": limit})
    response.raise_for_status()
    return [item["record"]["external_id"] for item in response.json()["items"]]


@pytest.fixture(scope="module")
def banded(argilla_client, review_workspace, tmp_path_factory):
    """(dataset id, row -> priority, ANNOTATORS annotators' clients) for a pushed banded batch."""
    batch, expected = banded_batch(tmp_path_factory.mktemp("banded"), top=TOP)
    name = f"queue-{uuid.uuid4().hex[:8]}"
    push_batch(batch, name, workspace=review_workspace, client=argilla_client, show_progress=False)
    dataset = find_dataset(argilla_client, name, review_workspace)
    annotators = [add_annotator(argilla_client, review_workspace, f"queue-{uuid.uuid4().hex[:6]}")
                  for _ in range(ANNOTATORS)]
    return dataset.id, {f"{batch.id}:{row}": p for row, p in expected.items()}, annotators


@pytest.mark.parametrize("sort", [False, True], ids=["opened plainly", "printed link"])
def test_annotators_get_the_top_band_first_and_spread_within_it(banded, sort):
    dataset_id, priority, annotators = banded
    top = {record for record, p in priority.items() if p == 0.8}
    queues = [queue(a, dataset_id, sort) for a in annotators]
    for order in queues:
        assert len(order) == len(priority)
        # Bands in order: the 8 top-band records, then 0.7, then 0.25, then 0.0.
        assert [priority[r] for r in order] == sorted(priority.values(), reverse=True)
        assert set(order[:TOP]) == top
    # Within the band each annotator has their own order, so they do not all open the same record.
    assert len({order[0] for order in queues}) >= 2


def test_the_queue_moves_on_as_an_annotator_answers(banded, argilla_client):
    """Once an annotator has answered a top-band record it leaves their queue; the next comes from the top band."""
    from tests.review.annotators import answer

    dataset_id, priority, annotators = banded
    first, *rest = queue(annotators[0], dataset_id)
    dataset = argilla_client.datasets(id=dataset_id).get()
    answer(annotators[0], dataset, {first: ("discarded", None)})
    after = queue(annotators[0], dataset_id)
    assert first not in after and after[0] == rest[0] and priority[after[0]] == 0.8
    assert first in queue(annotators[1], dataset_id)[:TOP]  # a discard does not complete the record: others keep it
