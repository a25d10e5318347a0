"""The client and the server live in two environments (curation/server/environment.py).

The client's environment (this test session's `.venv`) holds no server package, imports none,
and finds the server's Python itself: from its config file (scripts/setup.sh), or by creating
`$CURATION_HOME/server-env` on the first `curate server start` of a fresh machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.server import embedded, environment
from tests.fixtures.server import free_port
from tests.server_side import SERVER_PACKAGES

REPO = Path(__file__).resolve().parents[2]
# Modules of ours that belong to the server side: they import argilla-server and run only in the
# server's processes (curation/server/app.py loads them there).
SERVER_ONLY = ("curation.server.app", "curation.server.search_", "curation.server.reindex",
               "curation.server.noop_engine",
               "curation.server.record_status_lock", "curation.server.unheard_webhook_events",
               "curation.upstream.argilla_server")

client_only = pytest.mark.skipif(
    importlib.util.find_spec("argilla_server") is not None,
    reason="runs in the client's environment (scripts/test.sh runs this file there)",
)


@client_only
def test_the_client_environment_holds_no_server_package():
    installed = [name for name in SERVER_PACKAGES if importlib.util.find_spec(name) is not None]
    assert installed == []


def test_no_client_module_imports_a_server_package():
    """Every module of curation/ and pipelines/ but the server's own imports in a fresh
    interpreter without pulling in a server package, even where one is installed."""
    modules = []
    for root in ("curation", "pipelines"):
        for path in sorted((REPO / root).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            # curation.upstream.ray needs the optional `ray` extra (scripts/test.sh installs it).
            optional = name == "curation.upstream.ray" and importlib.util.find_spec("ray") is None
            if not name.startswith(SERVER_ONLY) and not name.endswith("__main__") and not optional:
                modules.append(name)
    assert len(modules) > 40
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVER_PACKAGES!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@client_only
def test_the_client_finds_the_server_environment_setup_made():
    found = environment.python()
    assert found != sys.executable
    done = subprocess.run([found, "-c", "import argilla_server, curation; print(curation.__file__)"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == REPO / "curation" / "__init__.py"


@pytest.mark.parametrize("python, message", [
    ("/nonexistent/bin/python", "cannot run"),
    (sys.executable if importlib.util.find_spec("argilla_server") is None else "/bin/true",
     "has no argilla-server installed"),
])
def test_a_wrong_server_python_is_one_line(python, message, tmp_path):
    environment._checked.cache_clear()
    result = CliRunner().invoke(main, ["server", "start", "--data-dir", str(tmp_path / "srv"), "--port",
                                       str(free_port())], env={"CURATION_SERVER_PYTHON": python})
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: the server's Python {python} {message}")
    assert "Traceback" not in result.output
    assert not (tmp_path / "srv" / "server.json").exists()


@pytest.mark.slow
def test_first_start_on_a_fresh_machine_creates_the_server_environment(tmp_path, monkeypatch):
    """No CURATION_SERVER_PYTHON, no config file, no argilla-server here: `curate server start`
    makes $CURATION_HOME/server-env (pip's progress shown), serves from it, and the next start
    finds it without installing anything."""
    if importlib.util.find_spec("argilla_server") is not None:
        pytest.skip("the server's environment is this one: nothing to create")  # never under scripts/test.sh
    home = tmp_path / "home"
    monkeypatch.setattr(environment, "CONFIG_FILE", tmp_path / "no-config")
    env = {"CURATION_HOME": str(home), "CURATION_SERVER_PYTHON": "", "ARGILLA_API_KEY": "",
           "ARGILLA_OWNER_PASSWORD": "", "ARGILLA_DATABASE_URL": "", "ARGILLA_REDIS_URL": ""}
    data_dir = tmp_path / "srv"
    start = ["server", "start", "--data-dir", str(data_dir), "--port", str(free_port())]
    try:
        first = CliRunner().invoke(main, start, env=env, catch_exceptions=False)
        assert first.exit_code == 0, first.output
        assert "Creating the Argilla server's environment in" in first.stderr
        assert "Successfully installed" in first.stderr  # pip's own lines: the progress
        server_python = home / environment.ENV_FOLDER / "bin" / "python"
        pids = json.loads((data_dir / embedded.STATE_FILE).read_text())["pids"]
        command_line = Path(f"/proc/{pids['server']}/cmdline").read_bytes().split(b"\0")
        assert command_line[0].decode() == str(server_python)
        assert "Argilla is running at http://127.0.0.1:" in first.stdout

        assert CliRunner().invoke(main, ["server", "stop", "--data-dir", str(data_dir)], env=env).exit_code == 0
        again = CliRunner().invoke(main, start, env=env, catch_exceptions=False)
        assert again.exit_code == 0, again.output
        assert "Creating" not in again.stderr
    finally:
        embedded.stop(data_dir)


def test_the_server_environment_runs_this_curation(tmp_path):
    """The link to this package is refreshed when the package moved (a reinstall)."""
    env = Path(environment.python()).parent.parent
    if not (env / environment.READY_FILE).exists():
        pytest.skip("a single-environment install: no separate server environment")  # never under scripts/test.sh
    link = env / environment.CODE_FOLDER / "curation"
    before = os.readlink(link)
    os.remove(link)
    link.symlink_to(tmp_path, target_is_directory=True)  # as if the package had moved away
    try:
        environment.link_code(env)
        assert Path(os.readlink(link)) == REPO / "curation"
    finally:
        if not link.is_symlink():
            link.symlink_to(before, target_is_directory=True)
