"""Under CI=true a skip fails the run (tests/fixtures/ci.py); outside CI it stays a skip."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = '''
import shutil
import pytest

@pytest.mark.skipif(shutil.which("no-such-browser") is None, reason="no-such-browser is not installed")
def test_needs_a_browser():
    pass

def test_needs_a_server():
    pytest.skip("postgresql is not installed")

@pytest.mark.outside_ci
@pytest.mark.skipif(True, reason="needs HF_TOKEN for the real Hub")
def test_real_hub():
    pass

@pytest.mark.xfail(strict=True, reason="a known upstream bug")
def test_known_bug():
    assert False

def test_plain():
    pass
'''


def run(pytester, monkeypatch, ci: str):
    pytester.makepyfile(test_sample=SAMPLE)
    monkeypatch.setenv("CI", ci)  # the pytest subprocess inherits both
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return pytester.runpytest_subprocess("-p", "tests.fixtures.ci", "-p", "no:cacheprovider")


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_skip_fails_under_ci(pytester, monkeypatch, ci):
    result = run(pytester, monkeypatch, ci)
    # A skip in setup (a skipif mark, a fixture that finds no server) is reported as an error, one
    # in the test's body as a failure: either fails the run.
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped under CI=true*no-such-browser is not installed*",
                                 "*skipped under CI=true*postgresql is not installed*"])


def test_a_skip_stays_a_skip_outside_ci(pytester, monkeypatch):
    run(pytester, monkeypatch, "").assert_outcomes(passed=1, skipped=3, xfailed=1)
