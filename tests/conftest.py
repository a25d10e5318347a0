"""Shared fixtures live in tests/fixtures/, one module per real component."""

pytest_plugins = [
    "tests.fixtures.ci",
    "tests.fixtures.model",
    "tests.fixtures.server",
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.workspace",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "stops_shared_servers: stops a session's shared server under it; runs last")


def pytest_collection_modifyitems(config, items):
    # A test that stops a shared server (PostgreSQL, redis) under the production server leaves pooled
    # connections that can fail one later request: it runs after every other test, whatever its file name.
    items.sort(key=lambda item: item.get_closest_marker("stops_shared_servers") is not None)
