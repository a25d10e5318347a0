"""The built wheel holds every package and the review settings: a non-editable install works."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for top in ("curation", "pipelines")
        for path in (ROOT / top).rglob("__init__.py")
    }
    assert found | {"curation.argilla_configs"} == listed


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip install --no-deps .` (not editable) into a folder of its own; returns that folder."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT),
                    "-w", str(work)], check=True, capture_output=True)
    (wheel,) = work.glob("curation-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"curation/argilla_configs/sft.yaml", "curation/argilla_configs/preference.yaml"} <= set(names)
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return target


def run_installed(target: Path, code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Python with the installed copy first on the path, outside the checkout."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=target.parent,
                          env={**os.environ, "PYTHONPATH": str(target), **env}, timeout=300)


def test_the_installed_package_finds_its_settings(installed):
    done = run_installed(installed, "import curation, curation.review.config as c; print(curation.__file__); "
                                    "print(c.default_config_path('sft'))")
    assert done.returncode == 0, done.stderr
    module, sft = done.stdout.split()
    assert module.startswith(str(installed)) and sft.startswith(str(installed)) and Path(sft).is_file()


@pytest.mark.slow
def test_the_installed_cli_pushes_with_the_default_settings(installed, argilla_server, review_workspace, tmp_path):
    from tests.review.sample_batches import write_sample_batch

    batch = write_sample_batch(tmp_path, "sft", 3)
    name = f"installed-{uuid.uuid4().hex[:6]}"
    done = run_installed(installed, "import sys; from curation.cli import main; sys.argv[0] = 'curate'; main()",
                         "push", str(batch.path), "-d", name, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert f"Pushed 3 new record(s) of batch {batch.id} to dataset '{name}' (created)" in done.stdout
