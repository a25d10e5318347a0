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
    """The embedded Argilla server's data: `$CURATION_SERVER_DIR`, else `<home>/server`."""
    override = os.environ.get("CURATION_SERVER_DIR")
    return Path(override).expanduser() if override else home() / "server"
