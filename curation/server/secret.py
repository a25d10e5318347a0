"""The secret that signs the web UI's sessions, one per data folder.

argilla-server signs its login tokens with ARGILLA_AUTH_SECRET_KEY, whose default is a new
random value in every process: each restart would sign every annotator out. We generate it
once, keep it in the data folder (0600) and hand it to every server process by environment.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "auth-secret"
ENV_NAME = "ARGILLA_AUTH_SECRET_KEY"


def auth_secret(data_dir: Path) -> str:
    """The data folder's session secret, created (0600) the first time it is asked for."""
    path = data_dir / SECRET_FILE
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(SECRET_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    tmp.replace(path)
    return value
