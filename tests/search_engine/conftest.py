"""Fixtures for the SQLite search engine tests: an engine on a per-module index file."""

import pytest

from curation.server.search_engine import SQLiteSearchEngine


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> SQLiteSearchEngine:
    # Datasets are isolated by their own tables, so one index file serves a whole module.
    return SQLiteSearchEngine(tmp_path_factory.mktemp("search") / "index.sqlite3")
