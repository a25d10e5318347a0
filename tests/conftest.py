"""Shared fixtures live in tests/fixtures/, one module per real component."""

import importlib.util
import os
from pathlib import Path

from tests.server_side import is_server_side

pytest_plugins = [
    "tests.fixtures.ci",
    "tests.fixtures.model",
    "tests.fixtures.server",
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.workspace",
]


def pytest_ignore_collect(collection_path: Path, config):
    """Each test file runs in one environment (tests/server_side.py): the client's `.venv` has no
    argilla-server, so it leaves the server-side files to the server's Python, which scripts/test.sh
    runs over them with CURATION_TEST_SIDE=server (and then leaves the client's files alone)."""
    is_test_file = collection_path.suffix == ".py" and collection_path.name.startswith("test_")
    if not is_test_file:
        # A folder whose conftest.py needs the server's packages stays out of the client's run.
        if collection_path.is_dir() and os.environ.get("CURATION_TEST_SIDE") != "server" \
                and importlib.util.find_spec("argilla_server") is None and is_server_side(collection_path):
            return True
        return None
    if os.environ.get("CURATION_TEST_SIDE") == "server":
        return not is_server_side(collection_path) or None
    if importlib.util.find_spec("argilla_server") is None and is_server_side(collection_path):
        return True
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "stops_shared_servers: stops a session's shared server under it; runs last")


def pytest_collection_modifyitems(config, items):
    # A test that stops a shared server (PostgreSQL, redis) under the production server leaves pooled
    # connections that can fail one later request: it runs after every other test, whatever its file name.
    items.sort(key=lambda item: item.get_closest_marker("stops_shared_servers") is not None)
