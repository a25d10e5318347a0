"""Keep a server's data folder private to the account that runs it.

The folder holds every user's API key (in argilla.db, in plain text), the owner's key, the
UI session secret and everything annotators wrote, so nobody but its owner may read any of it:
the folder and its subfolders are 0700, every file and socket 0600 (or tighter), and every
process the launcher starts runs under `PRIVATE_UMASK` so what it creates is private too.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

# Files and folders created under it get no group or other permission bits.
PRIVATE_UMASK = 0o077
_GROUP_OTHER = 0o077


def make_private(root: Path) -> None:
    """Remove group and other permission bits from `root` and everything under it.

    Tightens folders made by earlier versions (0755, files 0644). Symbolic links are left
    alone and not followed.
    """
    _tighten(root)
    for folder, subfolders, files in os.walk(root):
        for name in (*subfolders, *files):
            _tighten(Path(folder) / name)


def _tighten(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:  # removed while we walked
        return
    if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & _GROUP_OTHER:
        return
    os.chmod(path, stat.S_IMODE(mode) & ~_GROUP_OTHER)


def private_folder(path: Path) -> Path:
    """Create `path` (and missing parents) and make the folder itself 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def open_private(path: Path, mode: str = "ab"):
    """Open a file for appending or writing, created 0600 (and made 0600 if it was looser)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)


def write_private_json(path: Path, data: dict) -> None:
    """Write JSON readable by this user only, atomically (by rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open_private(tmp, "w") as handle:
        json.dump(data, handle)
    tmp.replace(path)
