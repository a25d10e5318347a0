"""Which database a server's data folder uses: SQLite in the folder (the default) or PostgreSQL.

`curate server start --database postgresql+asyncpg://USER[:PASSWORD]@HOST:PORT/DB` binds the
data folder to that database: the URL is kept in `database.json` (0600, like owner.json, as
it may hold the password) so later `start`, `reindex` and `backup` commands of the folder use
the same database without being told again. The URL reaches the server processes by
environment only, never on a command line (`ps` shows those to every local account);
`pg_dump`/`pg_restore` get the password by PGPASSWORD. A URL without a password works too:
asyncpg and libpq then read PGPASSWORD or ~/.pgpass themselves.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote

from curation.errors import BadInput, ServiceUnavailable
from curation.server import permissions

DATABASE_FILE = "database.json"
SQLITE_FILE = "argilla.db"


@dataclass(frozen=True)
class PostgresTarget:
    """The parts of a PostgreSQL URL that the client tools take as separate options."""

    host: str
    port: int
    user: str | None
    password: str | None
    database: str

    def tool_args(self) -> list[str]:
        args = ["--host", self.host, "--port", str(self.port), "--dbname", self.database]
        return args + (["--username", self.user] if self.user else [])

    def tool_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password  # by environment, never argv
        return env


# SQLAlchemy's URL syntax (sqlalchemy/engine/url.py `_parse_url`), parsed here without importing
# SQLAlchemy: the client environment that runs `curate server ...` holds no server package.
_URL = re.compile(
    r"""
        (?P<scheme>[\w\+]+)://
        (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
        (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X | re.S,
)


@dataclass(frozen=True)
class DatabaseUrl:
    """A database URL's parts, as SQLAlchemy reads them (user and password percent-decoded)."""

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: str | None

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        """Raises ValueError for what SQLAlchemy would refuse too."""
        match = _URL.fullmatch(url)
        if match is None:
            raise ValueError("not a database URL")
        parts = match.groupdict()
        return cls(
            drivername=parts["scheme"],
            username=None if parts["username"] is None else unquote(parts["username"]),
            password=None if parts["password"] is None else unquote(parts["password"]),
            host=parts["ipv4host"] or parts["ipv6host"],
            port=int(parts["port"]) if parts["port"] else None,
            database=parts["database"],
            query=parts["query"],
        )

    @property
    def backend(self) -> str:
        return self.drivername.split("+", 1)[0]

    def render(self, hide_password: bool = True) -> str:
        text = f"{self.drivername}://"
        if self.username is not None:
            text += quote(self.username, safe=" +")
            if self.password is not None:
                text += ":" + ("***" if hide_password else quote(self.password, safe=" +"))
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.database is not None:
            text += f"/{self.database}"
        if self.query:
            text += f"?{self.query}"
        return text


def normalize(url: str) -> str:
    """A PostgreSQL URL in the form argilla-server wants (postgresql+asyncpg://); BadInput otherwise."""
    try:
        parsed = DatabaseUrl.parse(url)
    except ValueError:
        raise BadInput("--database is not a database URL",
                       hint="e.g. postgresql+asyncpg://argilla@127.0.0.1:5432/argilla") from None
    if parsed.backend != "postgresql":
        raise BadInput(f"--database must be a PostgreSQL URL, not {parsed.backend!r}",
                       hint="the default (no --database) is SQLite in the data folder")
    if not parsed.database:
        raise BadInput("--database names no database", hint="e.g. postgresql+asyncpg://argilla@127.0.0.1:5432/argilla")
    return replace(parsed, drivername="postgresql+asyncpg").render(hide_password=False)


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    return DatabaseUrl.parse(url).render(hide_password=True)


def has_password(url: str) -> bool:
    return bool(password_of(url))


def password_of(url: str) -> str | None:
    """The URL's password; None when it has none or is no URL at all."""
    try:
        return DatabaseUrl.parse(url).password
    except ValueError:
        return None


def target(url: str) -> PostgresTarget:
    parsed = DatabaseUrl.parse(url)
    return PostgresTarget(host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=parsed.username,
                          password=parsed.password, database=parsed.database)


def _same_database(a: str, b: str) -> bool:
    """Whether two URLs name the same database (the password may have changed)."""
    ta, tb = target(a), target(b)
    return (ta.host, ta.port, ta.user, ta.database) == (tb.host, tb.port, tb.user, tb.database)


def stored_url(data_dir: Path) -> str | None:
    """The PostgreSQL URL this data folder is bound to, None for SQLite."""
    import json

    try:
        return json.loads((data_dir / DATABASE_FILE).read_text())["url"]
    except (OSError, ValueError, KeyError):
        return None


def choose(data_dir: Path, url: str | None) -> str | None:
    """The database a start of `data_dir` uses: `url` (checked against the folder's), or the one
    the folder is bound to; None means SQLite. Raises BadInput for a mismatch."""
    stored = stored_url(data_dir)
    if url is None:
        return stored
    url = normalize(url)
    if stored is not None and not _same_database(stored, url):
        raise BadInput(f"{data_dir} serves the database {redact(stored)}, not {redact(url)}",
                       hint="use another --data-dir for another database")
    if stored is None and (data_dir / SQLITE_FILE).exists():
        raise BadInput(f"{data_dir} holds an embedded server's SQLite database; --database would leave it behind",
                       hint="move it: `curate server backup DEST`, then `curate server restore DEST "
                       "--data-dir NEW_DIR --database URL` (README: Production mode)")
    return url


def bind(data_dir: Path, url: str) -> None:
    """Remember that `data_dir` serves the PostgreSQL database `url` (0600: it may hold the password)."""
    permissions.write_private_json(data_dir / DATABASE_FILE, {"url": url})


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / SQLITE_FILE}?check_same_thread=False"


def use_wal(engines) -> None:
    """Put argilla-server's SQLite database in WAL mode on every connection its `engines` open
    (no-op for PostgreSQL); call it in each server process before the first connection.

    argilla-server leaves SQLite in its rollback-journal mode, where each commit costs three
    fsyncs (20 ms here) with the write lock held, and readers and a committing writer wait for
    each other, sleeping in SQLite's busy handler. In WAL mode readers never wait and a commit is
    one fsync of the log (5 ms here). `synchronous` stays FULL (SQLite's default), so an
    acknowledged submit survives a power cut too. The mode is stored in the file: backups taken
    with SQLite's backup API and copies read by `import-sqlite` stay readable as before.
    """
    from sqlalchemy import event

    for engine in engines:
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _set_wal):
            event.listen(engine, "connect", _set_wal)


def _set_wal(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def has_database(data_dir: Path) -> bool:
    """Whether `data_dir` belongs to a server (an SQLite database, or a bound PostgreSQL one)."""
    return (data_dir / SQLITE_FILE).exists() or stored_url(data_dir) is not None


# -- PostgreSQL client tools ------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The path of `pg_dump` / `pg_restore`: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise BadInput(f"{name} is not installed", hint="apt-get install postgresql-client")
    return found


def dump(url: str, dest: Path) -> None:
    """pg_dump the database into `dest` (custom format, created 0600)."""
    pg = target(url)
    with permissions.open_private(dest, "wb"):
        pass
    done = subprocess.run([pg_tool("pg_dump"), *pg.tool_args(), "--format=custom", "--no-owner",
                           "--no-privileges", "--file", str(dest)],
                          env=pg.tool_env(), capture_output=True, text=True, umask=permissions.PRIVATE_UMASK)
    if done.returncode != 0:
        raise ServiceUnavailable(f"pg_dump of {redact(url)} failed: {_last_line(done.stderr)}")


def restore(source: Path, url: str) -> None:
    """pg_restore `source` into the database of `url` (the caller checks it holds no tables)."""
    pg = target(url)
    done = subprocess.run([pg_tool("pg_restore"), *pg.tool_args(), "--no-owner", "--no-privileges",
                           "--exit-on-error", "--single-transaction", str(source)],
                          env=pg.tool_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceUnavailable(f"pg_restore into {redact(url)} failed: {_last_line(done.stderr)}")


def table_count(url: str) -> int:
    """How many tables the database's public schema holds (0: a new database), asked with `psql`
    (like pg_dump and pg_restore: no database driver in the client's environment)."""
    pg = target(url)
    done = subprocess.run([pg_tool("psql"), *pg.tool_args(), "--no-psqlrc", "--tuples-only", "--no-align",
                           "--command", "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"],
                          env={**pg.tool_env(), "PGCONNECT_TIMEOUT": "10"}, capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceUnavailable(f"cannot connect to {redact(url)}: {_last_line(done.stderr)}")
    return int(done.stdout.strip())


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"
