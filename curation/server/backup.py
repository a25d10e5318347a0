"""Back up a server's data folder while it runs, and restore it into a new one.

A backup is a folder, private to its owner (0700, files 0600: the database holds every
user's API key):

    argilla.db     a consistent copy of the database, taken with SQLite's online backup API
                   (writers may go on meanwhile; the copy is one committed state)
    owner.json     the owner's username and API key
    auth-secret    the UI session secret (annotators' sign-ins stay valid after a restore)
    backup.json    what this folder is, and when it was taken

The search index is not copied: `restore` rebuilds it from the restored database, so the two
always agree.
"""

from __future__ import annotations

import datetime
import shutil
import sqlite3
from pathlib import Path

from curation.errors import BadInput, ServiceUnavailable
from curation.server import embedded, permissions
from curation.server.secret import SECRET_FILE

DATABASE = "argilla.db"
MANIFEST = "backup.json"
_COPIED = (embedded.OWNER_FILE, SECRET_FILE)


def backup(data_dir: Path | None, dest: Path) -> Path:
    """Copy the database, owner and secret files of `data_dir` into the new folder `dest`."""
    try:
        return _backup(data_dir, dest)
    except OSError as exc:
        raise BadInput(f"cannot write the backup: {exc.strerror}: {exc.filename}") from None
    except sqlite3.Error as exc:
        raise ServiceUnavailable(f"SQLite could not copy the database: {exc}") from None


def _backup(data_dir: Path | None, dest: Path) -> Path:
    data_dir = embedded.resolve_data_dir(data_dir)
    dest = Path(dest).expanduser().resolve()
    source = data_dir / DATABASE
    if not source.exists():
        raise BadInput(f"{data_dir} holds no server database", hint="check --data-dir")
    if dest.exists() and any(dest.iterdir()):
        raise BadInput(f"{dest} already exists and is not empty", hint="back up into a new folder")
    if dest == data_dir or data_dir in dest.parents:
        raise BadInput("the backup cannot go inside the server's data folder", hint="choose another DEST")
    permissions.private_folder(dest)
    _copy_database(source, dest / DATABASE)
    for name in _COPIED:
        if (data_dir / name).exists():
            _copy_private(data_dir / name, dest / name)
    manifest = {"kind": "curation server backup", "taken_at": _now(), "from": str(data_dir)}
    permissions.write_private_json(dest / MANIFEST, manifest)
    return dest


def restore(src: Path, data_dir: Path | None) -> list[dict]:
    """Restore the backup `src` into `data_dir` (new or empty), then rebuild the search index
    from the restored database. Returns the datasets reindexed: [{dataset, records}]."""
    try:
        return _restore(src, data_dir)
    except OSError as exc:
        raise BadInput(f"cannot restore: {exc.strerror}: {exc.filename}") from None


def _restore(src: Path, data_dir: Path | None) -> list[dict]:
    src = Path(src).expanduser().resolve()
    data_dir = embedded.resolve_data_dir(data_dir)
    if not (src / MANIFEST).exists() or not (src / DATABASE).exists():
        raise BadInput(f"{src} is not a backup made by `curate server backup`")
    if embedded.status(data_dir) is not None:
        raise BadInput(f"a server is running on {data_dir}", hint="stop it, or restore into a new folder")
    if (data_dir / DATABASE).exists():
        raise BadInput(f"{data_dir} already holds a server database",
                       hint="restore into a new folder (--data-dir), or move that one away first")
    permissions.private_folder(data_dir)
    (data_dir / "curation-search.sqlite3").unlink(missing_ok=True)  # an index of another database
    _copy_database(src / DATABASE, data_dir / DATABASE)
    for name in _COPIED:
        if (src / name).exists():
            _copy_private(src / name, data_dir / name)
    return embedded.reindex(data_dir)


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, private from the first byte."""
    target.unlink(missing_ok=True)
    with permissions.open_private(target, "wb"):
        pass  # created 0600 and empty; SQLite fills it
    reader = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def _copy_private(source: Path, target: Path) -> None:
    with open(source, "rb") as src, permissions.open_private(target, "wb") as dst:
        shutil.copyfileobj(src, dst)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
