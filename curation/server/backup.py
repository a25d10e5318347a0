"""Back up a server's data folder while it runs, and restore it into a new one.

A backup is a folder, private to its owner (0700, files 0600: the database holds every
user's API key):

    argilla.db     a consistent copy of the database, taken with SQLite's online backup API
                   (writers may go on meanwhile; the copy is one committed state), or
    argilla.pgdump for a server on PostgreSQL: `pg_dump --format=custom` (one snapshot too)
    owner.json     the owner's username and API key
    auth-secret    the UI session secret (annotators' sign-ins stay valid after a restore)
    backup.json    what this folder is, and when it was taken

The search index is not copied: `restore` rebuilds it from the restored database, so the two
always agree. The PostgreSQL URL is not copied either (it may hold a password): `restore`
takes it with `--database`, an empty database. That is also how a team moves from the embedded
mode to PostgreSQL: restoring an SQLite backup with `--database` copies every row into
PostgreSQL (`curate server restore BACKUP --data-dir NEW --database URL`).
"""

from __future__ import annotations

import datetime
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from curation.errors import BadInput, ServiceUnavailable
from curation.server import database, embedded, permissions
from curation.server.secret import SECRET_FILE

DATABASE = "argilla.db"
PG_DUMP = "argilla.pgdump"
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
    postgres_url = database.stored_url(data_dir)
    if postgres_url is None and not source.exists():
        raise BadInput(f"{data_dir} holds no server database", hint="check --data-dir")
    if dest.exists() and any(dest.iterdir()):
        raise BadInput(f"{dest} already exists and is not empty", hint="back up into a new folder")
    if dest == data_dir or data_dir in dest.parents:
        raise BadInput("the backup cannot go inside the server's data folder", hint="choose another DEST")
    permissions.private_folder(dest)
    if postgres_url is None:
        _copy_database(source, dest / DATABASE)
    else:
        database.dump(postgres_url, dest / PG_DUMP)
    for name in _COPIED:
        if (data_dir / name).exists():
            _copy_private(data_dir / name, dest / name)
    manifest = {"kind": "curation server backup", "taken_at": _now(), "from": str(data_dir),
                "database": "sqlite" if postgres_url is None else database.redact(postgres_url)}
    permissions.write_private_json(dest / MANIFEST, manifest)
    return dest


def restore(src: Path, data_dir: Path | None, database_url: str | None = None) -> list[dict]:
    """Restore the backup `src` into `data_dir` (new or empty), then rebuild the search index
    from the restored database. With `database_url` (an empty PostgreSQL database) the data
    goes there: pg_restore of a PostgreSQL backup, a row-by-row copy of an SQLite one. Returns
    the datasets reindexed: [{dataset, records}]."""
    try:
        return _restore(src, data_dir, database_url)
    except OSError as exc:
        raise BadInput(f"cannot restore: {exc.strerror}: {exc.filename}") from None
    except sqlite3.Error as exc:
        raise ServiceUnavailable(f"SQLite could not copy the database: {exc}") from None


def _restore(src: Path, data_dir: Path | None, database_url: str | None) -> list[dict]:
    src = Path(src).expanduser().resolve()
    data_dir = embedded.resolve_data_dir(data_dir)
    from_postgres = (src / PG_DUMP).exists()
    if not (src / MANIFEST).exists() or not ((src / DATABASE).exists() or from_postgres):
        raise BadInput(f"{src} is not a backup made by `curate server backup`")
    if from_postgres and database_url is None:
        raise BadInput(f"{src} is a backup of a server on PostgreSQL",
                       hint="restore it with --database URL, an empty PostgreSQL database")
    _check_backup_files(src, from_postgres)
    if embedded.status(data_dir) is not None:
        raise BadInput(f"a server is running on {data_dir}", hint="stop it, or restore into a new folder")
    if database.has_database(data_dir):
        raise BadInput(f"{data_dir} already holds a server database",
                       hint="restore into a new folder (--data-dir), or move that one away first")
    if database_url is not None:
        database_url = database.normalize(database_url)
        if database.table_count(database_url):
            raise BadInput(f"the database {database.redact(database_url)} already holds tables",
                           hint="restore into a new, empty database (createdb NAME)")
    permissions.private_folder(data_dir)
    (data_dir / "curation-search.sqlite3").unlink(missing_ok=True)  # an index of another database
    if database_url is None:
        _copy_database(src / DATABASE, data_dir / DATABASE)
    elif from_postgres:
        database.restore(src / PG_DUMP, database_url)
    else:
        embedded.import_sqlite(data_dir, src / DATABASE, database_url)
    if database_url is not None:
        database.bind(data_dir, database_url)
    for name in _COPIED:
        if (src / name).exists():
            _copy_private(src / name, data_dir / name)
    return embedded.reindex(data_dir)


def _check_backup_files(src: Path, from_postgres: bool) -> None:
    """Refuse a backup whose files are links or whose SQLite database is damaged, before
    anything is written into the data folder (a half-restored folder would block a retry)."""
    hint = "restore from a folder written by `curate server backup`"
    for name in (DATABASE, PG_DUMP, *_COPIED):
        path = src / name
        # A link could make restore read any file this account can (another server's database).
        if path.is_symlink():
            raise BadInput(f"{path} is a symbolic link, not a file a backup holds", hint=hint)
        if path.exists() and not path.is_file():
            raise BadInput(f"{path} is not a regular file", hint=hint)
    if not from_postgres:
        _check_sqlite_database(src / DATABASE)


def _check_sqlite_database(path: Path) -> None:
    """A one-line BadInput unless `path` is a sound SQLite database of argilla-server."""
    hint = "restore from another backup, or take a new one with `curate server backup`"
    try:
        # Read-only: checking a backup must not change it.
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check(5)")]
            if problems != ["ok"]:
                raise BadInput(f"{path} is a damaged SQLite database: {'; '.join(problems)}", hint=hint)
            migrations = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
            if migrations.fetchone() is None:
                raise BadInput(f"{path} is not an Argilla server database (no alembic_version table)", hint=hint)
    except sqlite3.DatabaseError as exc:  # truncated, garbage, encrypted, not a database at all
        raise BadInput(f"{path} is not a readable SQLite database: {exc}", hint=hint) from None


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, private from the first byte.

    Written beside `target` and renamed into place, so a copy that fails leaves no database
    behind (an empty one would make the data folder look taken).
    """
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    with permissions.open_private(partial, "wb"):
        pass  # created 0600 and empty; SQLite fills it
    try:
        with closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)) as reader, \
                closing(sqlite3.connect(partial)) as writer:
            reader.backup(writer)
            # The server's database runs in WAL mode; a backup stays one self-contained file,
            # readable from read-only media.
            writer.execute("PRAGMA journal_mode = DELETE")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _copy_private(source: Path, target: Path) -> None:
    with open(source, "rb") as src, permissions.open_private(target, "wb") as dst:
        shutil.copyfileobj(src, dst)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
