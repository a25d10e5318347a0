"""A search engine that accepts every call and finds nothing: the benchmark baseline.

Registered in argilla-server as "curation-noop". A server started with it is identical to
the real embedded server but for search, so timing the two isolates what search costs.
Never use it for review: record listings come from search, so annotators would see nothing.
"""

from __future__ import annotations

from curation.upstream.argilla_server import (
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataPropertyType,
    SearchEngine,
    SearchResponses,
    TermsMetrics,
)

ENGINE_NAME = "curation-noop"


@SearchEngine.register(engine_name=ENGINE_NAME)
class NoopSearchEngine(SearchEngine):
    """Every write is accepted and dropped; every read is empty."""

    @classmethod
    async def new_instance(cls) -> "NoopSearchEngine":
        return cls()

    async def close(self):
        pass

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {"engine": ENGINE_NAME}

    async def create_index(self, dataset):
        pass

    async def delete_index(self, dataset):
        pass

    async def configure_metadata_property(self, dataset, metadata_property):
        pass

    async def index_records(self, dataset, records):
        pass

    async def partial_record_update(self, record, **update):
        pass

    async def delete_records(self, dataset, records):
        pass

    async def update_record_response(self, response):
        pass

    async def delete_record_response(self, response):
        pass

    async def update_record_suggestion(self, suggestion):
        pass

    async def delete_record_suggestion(self, suggestion):
        pass

    async def get_dataset_progress(self, dataset) -> dict:
        return {"total": 0}

    async def get_dataset_user_progress(self, dataset, user) -> dict:
        return {"total": 0}

    async def search(self, dataset, query=None, filter=None, sort=None, offset=0, limit=100,
                     user_id=None) -> SearchResponses:
        return SearchResponses(items=[], total=0)

    async def compute_metrics_for(self, metadata_property):
        metadata_type = metadata_property.type
        if metadata_type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics()
        if metadata_type == MetadataPropertyType.float:
            return FloatMetadataMetrics()
        return TermsMetrics(total=0)

    async def similarity_search(self, dataset, vector_settings, value=None, record=None, query=None,
                                filter=None, max_results=100, order=None, threshold=None) -> SearchResponses:
        return SearchResponses(items=[], total=0)
