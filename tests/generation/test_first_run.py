"""What a newcomer sees: the README's first generation command, and what -v and --fresh change.

Each command runs the real `curate` in a subprocess from the repository root, as the README
says, so output written by distilabel's worker processes counts too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 40


def curate(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from curation.cli import main; main()", *args], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "CURATION_HOME": str(home)}, timeout=3600)


def readme_first_generate_args() -> list[str]:
    """The arguments of the first `curate generate` the README shows."""
    line = next(line for line in (ROOT / "README.md").read_text().splitlines() if "curate generate " in line)
    return line.split("curate generate ", 1)[1].split()


def only_batch(home: Path) -> Path:
    (batch,) = [p for p in (home / "batches").iterdir() if (p / "manifest.json").exists()]
    return batch


def test_readme_first_command_prints_a_progress_line_and_the_summary(tmp_path):
    args = readme_first_generate_args()
    assert args == ["self-instruct", "--seeds", "tests/data/topics.jsonl", "--num-rows", "4"]
    home = tmp_path / "home"
    result = curate(home, "generate", *args)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert len(output.splitlines()) <= MAX_LINES, output
    batch = only_batch(home)
    assert result.stdout.splitlines()[-1].startswith(f"Batch {batch.name}: ")
    assert "rows" in result.stderr and "tokens/s" in result.stderr  # the progress display
    for noise in ("Processing batch", "Untracked error", "bs4", "HTTP Request", "Generating train split"):
        assert noise not in output, noise
    # distilabel's full log went to the batch folder instead.
    log = (batch / "generation.log").read_text()
    assert "Processing batch 0 in 'self_instruct'" in log
    assert "Untracked error: No module named 'bs4'" in log  # printed by distilabel, kept out of the console

    # -v shows distilabel's log; the same options resume from the cache, so this re-run is quick.
    verbose = curate(home, "generate", *args, "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert "['distilabel.pipeline']" in verbose.stdout and "cache" in verbose.stdout  # rich wraps its lines


def test_fresh_regenerates_instead_of_resuming(tmp_path, seed_data):
    home = tmp_path / "home"
    args = ["generate", "responses", "--seeds", str(seed_data / "instructions.jsonl"), "-n", "1",
            "--max-new-tokens", "8", "-q"]
    first = curate(home, *args, "--out", str(tmp_path / "first"))
    assert first.returncode == 0, first.stderr

    # Overwrite what distilabel cached for the finished rows with a marker no model writes.
    (cached,) = home.joinpath("cache").rglob("steps_outputs/report_progress_0/*.parquet")
    table = pq.read_table(cached)
    marker = [["CACHED-MARKER-1", "CACHED-MARKER-2"]] * table.num_rows
    pq.write_table(table.set_column(table.schema.get_field_index("generations"), "generations",
                                    pa.array(marker, type=table.schema.field("generations").type)), cached)

    resumed = curate(home, *args, "--out", str(tmp_path / "resumed"))
    assert resumed.returncode == 0, resumed.stderr
    assert pq.read_table(tmp_path / "resumed" / "rows.parquet").column("generations").to_pylist() == marker

    fresh = curate(home, *args, "--fresh", "--out", str(tmp_path / "fresh"))
    assert fresh.returncode == 0, fresh.stderr
    generations = pq.read_table(tmp_path / "fresh" / "rows.parquet").column("generations").to_pylist()
    assert generations and all(g and "CACHED-MARKER" not in g for row in generations for g in row)
