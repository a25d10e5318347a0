"""Import a shim in a fresh interpreter that sees another version of its upstream.

The upstream's real code stays installed; only its metadata lies: a folder holding
`<name>-<version>.dist-info/METADATA`, put first on PYTHONPATH, is what `importlib.metadata`
finds first, so `curation.upstream.require` reads that version exactly as it would read a
different install's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What a command's edge does with a CurationError (curation/cli): its message and hint, each one line.
_IMPORT_AS_THE_CLI_REPORTS = """
import importlib, sys
from curation.errors import CurationError
try:
    importlib.import_module(sys.argv[1])
except CurationError as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def environment_with_version(tmp_path: Path, distribution: str, version: str) -> dict[str, str]:
    """os.environ, with a PYTHONPATH on which `distribution` reports `version`."""
    fake = tmp_path / "fake-site"
    info = fake / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(fake), str(ROOT), os.environ.get("PYTHONPATH")]))}


def import_with_version(tmp_path: Path, module: str, distribution: str, version: str) -> subprocess.CompletedProcess:
    """Import `module` where `distribution` reports `version`; the finished process."""
    return subprocess.run([sys.executable, "-c", _IMPORT_AS_THE_CLI_REPORTS, module], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=environment_with_version(tmp_path, distribution, version))


def assert_refused_in_one_line(result: subprocess.CompletedProcess, distribution: str, installed: str,
                               expected: str) -> None:
    """The import failed with exit 2 and one line naming the distribution and both versions."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"{distribution} {installed} is installed, but curation was written for {distribution} {expected}"]
    assert "Traceback" not in result.stderr and result.stdout == ""
