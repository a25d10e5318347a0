"""Secrets typed on the command line show in `ps`: every option that takes one warns (stderr,
one line, never the value), reads an environment variable instead, or asks for it hidden.

The commands run for real and fail right after parsing (no server at the URL, no such batch):
the warning comes from parsing, before any work.
"""

from __future__ import annotations


import pytest
from click.testing import CliRunner

from curation.cli import main

SECRET = "s3cret-typed-value-42"
NOWHERE = "http://127.0.0.1:9"  # nothing listens: commands that need Argilla fail at once
PG_URL = f"postgresql+asyncpg://argilla:{SECRET}@127.0.0.1:9/argilla"


def _runner() -> CliRunner:
    return CliRunner()  # click >= 8.2: result.stdout and result.stderr apart


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("ARGILLA_API_KEY", "ARGILLA_DATABASE_URL", "CURATION_API_KEY", "CURATION_USER_PASSWORD", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CURATION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARGILLA_API_URL", NOWHERE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "not-a-backup").mkdir()
    return tmp_path


# (option, its environment variable or None, the command with the secret typed after the option)
CASES = {
    "generate --api-key": ("--api-key", "CURATION_API_KEY",
                           lambda t: ["generate", "prompt", "--seeds", str(t / "none.jsonl"), "--api-key", SECRET]),
    "embed --api-key": ("--api-key", "CURATION_API_KEY", lambda t: ["embed", "no-such-batch", "--api-key", SECRET]),
    "select --api-key": ("--api-key", "CURATION_API_KEY",
                         lambda t: ["select", "no-such-batch", "-k", "1", "--api-key", SECRET]),
    "export --token": ("--token", "HF_TOKEN", lambda t: ["export", "ds", "--format", "sft", "--token", SECRET]),
    "pull --token": ("--token", "HF_TOKEN", lambda t: ["pull", str(t / "no-export"), "--token", SECRET]),
    "users add --password": ("--password", "CURATION_USER_PASSWORD",
                             lambda t: ["users", "add", "ann", "--workspace", "w", "--password", SECRET]),
    "users reset-password --password": ("--password", None,
                                        lambda t: ["users", "reset-password", "ann", "--password", SECRET]),
    "users rotate-key --database-url": ("--database-url", None,
                                        lambda t: ["users", "rotate-key", "ann", "--database-url", PG_URL]),
    "server restore --database": ("--database", "ARGILLA_DATABASE_URL",
                                  lambda t: ["server", "restore", str(t / "not-a-backup"), "--data-dir",
                                             str(t / "restored"), "--database", PG_URL]),
}


def _warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning:")]


def _no_secret(result) -> None:
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Aborted" not in result.stdout + result.stderr  # nothing asked for an answer that never came


@pytest.mark.parametrize("case", list(CASES))
def test_a_secret_typed_on_the_command_line_warns_once_without_the_value(case, env):
    option, envvar, command = CASES[case]
    result = _runner().invoke(main, command(env))
    warnings = _warnings(result)
    assert len(warnings) == 1 and option in warnings[0] and "`ps`" in warnings[0], result.stderr
    if envvar:
        assert envvar in warnings[0]
    assert result.exit_code in (1, 2), result.stderr  # it then fails as it would have: nothing there
    _no_secret(result)


@pytest.mark.parametrize("case", [c for c, (_, envvar, _) in CASES.items() if envvar])
def test_the_same_secret_from_its_environment_variable_is_silent(case, env, monkeypatch):
    option, envvar, command = CASES[case]
    argv = command(env)
    value = argv[argv.index(option) + 1]
    monkeypatch.setenv(envvar, value)
    result = _runner().invoke(main, argv[:argv.index(option)] + argv[argv.index(option) + 2:])
    assert _warnings(result) == [] and result.exit_code in (1, 2), result.stderr
    _no_secret(result)


@pytest.mark.parametrize("case", [c for c, (option, _, _) in CASES.items() if option != "--database-url"
                                  and option != "--database"])
def test_a_bare_option_asks_for_the_secret_without_echoing_it(case, env):
    option, _, command = CASES[case]
    argv = command(env)
    bare = argv[:argv.index(option) + 1] + argv[argv.index(option) + 2:]
    confirm = option == "--password"  # a new password is asked twice
    result = _runner().invoke(main, bare, input=f"{SECRET}\n" * (2 if confirm else 1))
    assert _warnings(result) == [] and result.exit_code in (1, 2), result.stderr
    asked = {"--api-key": "API key: ", "--token": "Hub token: ", "--password": "assword: "}[option]
    assert result.stdout.count(asked) == 1, result.stdout
    assert ("Repeat for confirmation: " in result.stdout) == confirm  # a new password is asked twice
    assert "Missing" not in result.stderr and "requires an argument" not in result.stderr
    _no_secret(result)  # hidden input: the answer is not echoed back


def test_the_answer_to_the_prompt_is_the_value_used(env):
    # The length check runs before any server is called: it sees the password typed at the prompt.
    result = _runner().invoke(main, ["users", "reset-password", "ann", "--password"], input="short\nshort\n")
    assert result.exit_code == 2
    assert "Error: the password must have at least 8 characters" in result.stderr, result.stderr
