"""`curate users add` and the one-line errors of commands that reach Argilla."""

from __future__ import annotations

import argilla as rg
import pytest
from click.testing import CliRunner

from curation.argilla_client import connect
from curation.cli import main
from curation.errors import ArgillaUnavailable
from tests.fixtures.server import can_sign_in, free_port

pytestmark = pytest.mark.slow


def _members(client: rg.Argilla, workspace: str) -> set[str]:
    return {user.username for user in client.workspaces(name=workspace).users}


def test_users_add_creates_workspace_and_user(argilla_server, argilla_client):
    result = CliRunner().invoke(
        main, ["users", "add", "ann-cli", "--role", "annotator", "--workspace", "cli-team", "--password", "s3cret-pass"]
    )
    assert result.exit_code == 0, result.output
    assert "Created workspace 'cli-team'." in result.output
    assert "Created annotator 'ann-cli' in workspace 'cli-team'." in result.output
    assert "s3cret-pass" not in result.output  # a given password is never echoed
    user = argilla_client.users(username="ann-cli")
    assert user.role == "annotator"
    assert "ann-cli" in _members(argilla_client, "cli-team")
    assert can_sign_in(argilla_server.url, "ann-cli", "s3cret-pass")

    # An existing user is only added to the new workspace; role and password are kept.
    again = CliRunner().invoke(main, ["users", "add", "ann-cli", "--role", "admin", "--workspace", "cli-team-2"])
    assert again.exit_code == 0, again.output
    assert "already exists" in again.output and "password:" not in again.output
    assert argilla_client.users(username="ann-cli").role == "annotator"
    assert "ann-cli" in _members(argilla_client, "cli-team-2")
    assert can_sign_in(argilla_server.url, "ann-cli", "s3cret-pass")


def test_users_add_generates_a_password_shown_once(argilla_server, argilla_client):
    result = CliRunner().invoke(main, ["users", "add", "admin-cli", "--role", "admin", "--workspace", "cli-team"])
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].split()[0]
    assert can_sign_in(argilla_server.url, "admin-cli", password)
    assert argilla_client.users(username="admin-cli").role == "admin"
    assert {"admin-cli"} <= _members(argilla_client, "cli-team")


def test_users_add_rejects_a_short_password(argilla_server):
    result = CliRunner().invoke(main, ["users", "add", "shorty", "--workspace", "cli-team", "--password", "short"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: the password must have at least 8 characters"


def test_wrong_api_key_is_one_line_and_not_printed(argilla_server, monkeypatch):
    wrong = "not-the-key-0123456789"
    monkeypatch.setenv("ARGILLA_API_KEY", wrong)
    result = CliRunner().invoke(main, ["users", "add", "nobody", "--workspace", "cli-team"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"Error: {argilla_server.url} refused the API key"
    assert all(not line.startswith("Error") for line in lines[1:])
    assert wrong not in result.output and argilla_server.api_key not in result.output


def test_server_down_is_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.setenv("CURATION_SERVER_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["users", "add", "nobody", "--workspace", "w"])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        "Error: the embedded Argilla server is not running and ARGILLA_API_URL is not set"
    )
    assert "curate server start" in result.output


def test_unreachable_url(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ARGILLA_API_URL", url)
    monkeypatch.setenv("ARGILLA_API_KEY", "some-key-123456")
    with pytest.raises(ArgillaUnavailable, match=f"cannot reach Argilla at {url}") as error:
        connect()
    assert "some-key-123456" not in str(error.value)


def test_connect_uses_the_embedded_server(argilla_server, monkeypatch):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    monkeypatch.setenv("CURATION_SERVER_DIR", str(argilla_server.data_dir))
    client = connect()
    assert client.api_url == argilla_server.url
    assert client.me.username == "owner"
