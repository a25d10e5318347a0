"""`curate server ...`: the embedded Argilla server."""

from __future__ import annotations

from pathlib import Path

import click

from curation import settings
from curation.cli.secret_options import warn_database_password

DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CURATION_SERVER_DIR",
    show_envvar=True,
    help="The server's data folder (database, search index, logs). "
    "Default: $CURATION_HOME/server, i.e. ~/.curation/server.",
)


@click.group()
def server() -> None:
    """Run Argilla on this machine: the real argilla-server (API and web UI) with a SQLite
    database and search index, in one data folder, with no Elasticsearch or Redis to install.

    Other `curate` commands use this server unless ARGILLA_API_URL and ARGILLA_API_KEY point
    them at another Argilla 2.x server.

    \b
    Example:
      curate server start                  # prints the URL (and the owner's credentials once)
      curate users add alice --workspace team
      curate server stop                   # data stays in the data folder
    """


@server.command()
@DATA_DIR_OPTION
@click.option("--port", type=click.IntRange(1, 65535), default=6900, show_default=True,
              envvar="CURATION_SERVER_PORT", show_envvar=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default serves this machine only; a team's server "
              "listens on the address annotators reach (0.0.0.0: every address). Plain HTTP: put "
              "a TLS reverse proxy in front of it (see the README).")
@click.option("--search-engine", type=click.Choice(["curation-sqlite", "curation-noop"]),
              default="curation-sqlite", show_default=True,
              help="Search engine: curation-sqlite (SQLite full-text index) or curation-noop, "
              "which finds nothing and only serves as a benchmark baseline.")
@click.option("--timeout", type=float, default=90, show_default=True,
              help="Seconds to wait for the server to answer before giving up.")
@click.option("--database", "database_url", metavar="URL", envvar="ARGILLA_DATABASE_URL", show_envvar=True,
              help="PostgreSQL instead of SQLite: postgresql+asyncpg://USER@HOST:PORT/DB. An empty database "
              "is set up, an existing one reused; the data folder remembers it. Give the password by "
              "ARGILLA_DATABASE_URL, PGPASSWORD or ~/.pgpass: a command line is visible to every local account.")
@click.option("--redis", "redis_url", metavar="URL", envvar="ARGILLA_REDIS_URL", show_envvar=True,
              help="A Redis server (redis://HOST:PORT/0) instead of the private one on a unix socket.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              envvar="CURATION_SERVER_WORKERS", show_envvar=True,
              help="uvicorn worker processes serving the API (more than 1 needs --database).")
def start(data_dir: Path | None, port: int, host: str, search_engine: str, timeout: float,
          database_url: str | None, redis_url: str | None, workers: int) -> None:
    """Start the server in the background and print its URL.

    The first start creates the owner account (username "owner"). Its password and API key
    are printed that one time only: store them. They come from ARGILLA_OWNER_PASSWORD and
    ARGILLA_API_KEY when set, else are generated. Later `curate` commands read the key from
    the data folder themselves. Starting a server that already runs just prints its URL;
    data persists across `curate server stop` / `start`. Logs: DATA_DIR/logs/.

    For a team (README: Production mode): `--database` (PostgreSQL), `--redis` and `--workers N`.
    """
    from curation.server import database, embedded

    password = None
    fresh_owner = not embedded.owner_exists(data_dir)
    if fresh_owner:
        password = settings.argilla_owner_password() or embedded.new_secret()
    already = embedded.status(data_dir)
    if database_url and database.has_password(database_url) and database_url not in (
            settings.argilla_database_url() or ""):
        click.echo("Warning: the password in --database shows in `ps` while this command runs; "
                   "give it by ARGILLA_DATABASE_URL, PGPASSWORD or ~/.pgpass instead.", err=True)
    info = already or embedded.start(data_dir, port, search_engine=search_engine, owner_password=password,
                                     timeout=timeout, host=host, database_url=database_url,
                                     redis_url=redis_url, workers=workers)
    state = "already running" if already else "running"
    click.echo(f"Argilla is {state} at {info.url} (data: {info.data_dir})")
    if info.database != "sqlite" or info.workers > 1:
        click.echo(f"Database: {info.database}; {info.workers} worker process(es)")
    for line in embedded.network_notice(info.host, embedded.port_of(info.url)):
        click.echo(line)
    for repaired in info.reindexed:
        click.echo(f"Reindexed {repaired['dataset']} ({repaired['records']} records): its search index "
                   "had missed changes the database holds.")
    # Only the start that really created the owner shows its credentials (a racing start doesn't).
    if info.owner_created:
        click.echo("Owner account created. Shown once, store it now:")
        click.echo("  username: owner")
        click.echo(f"  password: {password}")
        click.echo(f"  API key:  {info.api_key}")
    if data_dir is not None and info.data_dir != embedded.resolve_data_dir():
        click.echo(f"Other curate commands use this server when CURATION_SERVER_DIR={info.data_dir} is set.")


@server.command()
@DATA_DIR_OPTION
def stop(data_dir: Path | None) -> None:
    """Stop the server, its background worker and its redis. The data folder is kept."""
    from curation.server import embedded

    folder = embedded.resolve_data_dir(data_dir)
    if embedded.stop(folder):
        click.echo(f"Stopped the Argilla server (data kept in {folder}).")
    else:
        click.echo(f"No Argilla server was running for {folder}.")


@server.command()
@DATA_DIR_OPTION
def status(data_dir: Path | None) -> None:
    """Tell whether the server runs, and where. Exits 0 when it runs, 1 when it does not."""
    from curation.server import embedded

    info = embedded.status(data_dir)
    if info is None:
        click.echo(f"Argilla server: not running (data: {embedded.resolve_data_dir(data_dir)})")
        click.get_current_context().exit(1)
    click.echo(f"Argilla server: running at {info.url} (pid {info.pid}, data: {info.data_dir})")
    click.echo(f"Database: {info.database}; workers: {info.workers_running} of {info.workers} running")
    if info.workers_running < info.workers:
        click.echo(f"Warning: {info.workers - info.workers_running} worker process(es) missing; uvicorn "
                   "replaces a worker that died within seconds: if this persists, restart the server "
                   "(curate server stop, then start).")


@server.command()
@DATA_DIR_OPTION
@click.argument("dataset", required=False)
@click.option("--workspace", help="The workspace of DATASET, when several have a dataset by that name.")
def reindex(data_dir: Path | None, dataset: str | None, workspace: str | None) -> None:
    """Rebuild the search index of DATASET (a name or id), or of every dataset, from the database.

    Reviewers find records through the index; after a crash it can miss what the database
    holds (`curate server start` checks every dataset and reindexes the ones that differ).
    Works while the server runs or is stopped; while it runs, the dataset looks empty in the
    UI until its records are indexed again.
    """
    from curation.server import embedded

    done = embedded.reindex(data_dir, dataset, workspace)
    if not done:
        click.echo("No published dataset to reindex.")
    for repaired in done:
        click.echo(f"Reindexed {repaired['dataset']}: {repaired['records']} records.")


@server.command()
@DATA_DIR_OPTION
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup(data_dir: Path | None, dest: Path) -> None:
    """Back up the server into the new folder DEST, while it runs or not.

    DEST gets a consistent copy of the database (every record, response, suggestion, user and
    API key), the owner's credentials and the session secret; it is private (0700, files 0600):
    keep it as safe as the data folder. The search index is rebuilt on restore, not copied.
    """
    from curation.server.backup import backup as take_backup

    folder = take_backup(data_dir, dest)
    click.echo(f"Backed up the Argilla server to {folder}.")
    click.echo(f"Restore it with: curate server restore {folder} --data-dir NEW_DIR")


@server.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The data folder to restore into: new or empty (a running or existing server's "
              "database is never overwritten).")
@click.option("--database", "database_url", metavar="URL", envvar="ARGILLA_DATABASE_URL", show_envvar=True,
              callback=warn_database_password("--database", "ARGILLA_DATABASE_URL"),
              help="Restore into this empty PostgreSQL database (postgresql+asyncpg://...): required for a "
              "backup of a server on PostgreSQL; with a backup of an embedded (SQLite) server, this moves "
              "it to PostgreSQL.")
def restore(src: Path, data_dir: Path, database_url: str | None) -> None:
    """Restore the backup SRC into a new data folder and rebuild its search index.

    Then `curate server start --data-dir DIR` serves it: users, API keys and sign-ins are as
    they were when the backup was taken (on the PostgreSQL database given, if any).
    """
    from curation.server.backup import restore as restore_backup

    reindexed = restore_backup(src, data_dir, database_url)
    records = sum(item["records"] for item in reindexed)
    click.echo(f"Restored {src} into {data_dir}: {len(reindexed)} datasets, {records} records indexed.")

