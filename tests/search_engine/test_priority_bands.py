"""The review queue's priority bands in our search engine (curation/server/search_sql.priority_band).

Fixed cut points: band 3 is [0.75, 1], 2 [0.5, 0.75), 1 [0.25, 0.5), 0 [0, 0.25), a record without a
priority comes last. The bands below are written by hand from those cut points, not computed by the code.
"""

import uuid

from argilla_server.enums import DatasetStatus, SortOrder
from argilla_server.search_engine import MetadataFilterScope, Order

from curation.contract import META_REVIEW_PRIORITY
from tests.search_engine import builders as b
from tests.search_engine.builders import asynctest

# (priority, its band by hand); None: no priority.
CASES = [(1.0, 3), (0.9, 3), (0.75, 3), (0.74, 2), (0.5, 2), (0.49, 1), (0.25, 1), (0.2, 0), (0.0, 0), (None, -1)]


async def banded_dataset(engine, copies: int = 4):
    dataset = b.dataset(fields=[b.text_field("text")], metadata_properties=[b.float_property(META_REVIEW_PRIORITY)],
                        status=DatasetStatus.ready)
    band_of = {}
    for priority, band in CASES * copies:
        metadata = {} if priority is None else {META_REVIEW_PRIORITY: priority}
        record = b.record(dataset, fields={"text": "same words"}, metadata=metadata)
        band_of[record.id] = band
    await engine.create_index(dataset)
    await engine.index_records(dataset, dataset.records)
    return dataset, band_of


async def order(engine, dataset, **kwargs):
    return [item.record_id for item in (await engine.search(dataset, limit=100, **kwargs)).items]


@asynctest
async def test_an_unsorted_search_serves_bands_in_order_shuffled_per_user_within_each(engine):
    dataset, band_of = await banded_dataset(engine)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    orders = {user: await order(engine, dataset, user_id=user) for user in (alice, bob)}
    for user, ids in orders.items():
        assert [band_of[i] for i in ids] == sorted(band_of.values(), reverse=True)
        assert ids == await order(engine, dataset, user_id=user)  # stable for the user
    top = [i for i, band in band_of.items() if band == 3]
    assert set(orders[alice][:len(top)]) == set(top) and orders[alice][:len(top)] != orders[bob][:len(top)]
    # Without a user (the owner's listing), the band order still holds.
    assert [band_of[i] for i in await order(engine, dataset)] == sorted(band_of.values(), reverse=True)


@asynctest
async def test_a_text_search_keeps_its_own_order(engine):
    dataset, band_of = await banded_dataset(engine)
    ids = await order(engine, dataset, query="words", user_id=uuid.uuid4())
    assert sorted(ids) == sorted(band_of)
    assert [band_of[i] for i in ids] != sorted(band_of.values(), reverse=True)  # 40 records: not by chance


@asynctest
async def test_a_sort_breaks_ties_in_each_users_shuffle(engine):
    dataset, band_of = await banded_dataset(engine, copies=8)
    by_priority = [Order(MetadataFilterScope(META_REVIEW_PRIORITY), SortOrder.desc)]
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first = {user: await order(engine, dataset, sort=by_priority, user_id=user) for user in (alice, bob)}
    priority = {r.id: (r.metadata_ or {}).get(META_REVIEW_PRIORITY) for r in dataset.records}
    for ids in first.values():
        values = [priority[i] for i in ids]
        assert values == sorted((v for v in values if v is not None), reverse=True) + [None] * values.count(None)
    # The eight records at 1.0 tie: each user gets them in their own order (8! orders: not the same by chance).
    assert first[alice][:8] != first[bob][:8] and set(first[alice][:8]) == set(first[bob][:8])
