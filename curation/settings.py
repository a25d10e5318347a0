"""Where curation keeps its data, and how to reach Argilla; env vars override defaults."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The data folder: `$CURATION_HOME`, else `~/.curation`."""
    return Path(os.environ.get("CURATION_HOME") or Path.home() / ".curation").expanduser()


def batches_dir() -> Path:
    return home() / "batches"


def cache_dir() -> Path:
    """distilabel's pipeline cache, so an interrupted generation resumes."""
    return home() / "cache"


def server_dir() -> Path:
    """The embedded Argilla server's data (database, search index, redis socket)."""
    return home() / "server"
