"""`bench/round.py --quick` runs every stage of a round end to end and prints each stage's line.

The figures themselves are not asserted (speed belongs to the bench, not the tests); what is: every
stage ran against the real pieces (a real embedded server for push, report and export), its line
carries rows/s, peak memory, a baseline and the ratio, and the quality figures say the work was done.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.server import free_port

ROOT = Path(__file__).resolve().parent.parent
FIGURES = r": [\d,]+ rows/s .*peak [\d,]+ MB .*baseline .*: [\d,]+ rows/s, peak [\d,]+ MB .*ratio \d+\.\d+"


def test_quick_round_prints_one_line_per_stage_and_size(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "round.py"), "--quick", "--port", str(free_port())],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()

    def stage(prefix: str) -> list[str]:
        found = [line for line in lines if line.startswith(prefix)]
        for line in found:
            assert re.search(FIGURES, line), line
        return found

    dedup, = stage("dedup N=2,000")
    precision, recall = map(float, re.search(r"precision ([\d.]+), recall ([\d.]+)", dedup).groups())
    assert precision > 0.8 and recall > 0.8  # the planted near-copies were found, not just exact ones
    select, = stage("select K=100 of N=2,000")
    assert "kept 100," in select and "kept together 0" in select  # the distance rule held
    assert len(stage("push K=100")) == 1
    assert [line.split(":")[0] for line in stage("report R=")] == ["report R=40", "report R=200"]
    assert [line.split(":")[0] for line in stage("export R=")] == ["export R=40", "export R=200"]
    assert any(line.startswith("report memory:") for line in lines)
