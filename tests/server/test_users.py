"""`curate users ...` against the real embedded server, and the one-line errors of commands
that reach Argilla.

A user's API key is read here straight from the server's API (GET /api/v1/users, as the
owner), the way the web UI's settings page shows it, to check which keys the server accepts.
"""

from __future__ import annotations

import json

import argilla as rg
import httpx
import pytest
from click.testing import CliRunner

from curation.argilla.client import connect
from curation.argilla.users import Person, list_people, reset_password, rotate_key
from curation.cli import main
from curation.errors import ArgillaUnavailable, BadInput
from curation.server import embedded
from tests.fixtures.server import can_sign_in, free_port, start_on_free_port

pytestmark = pytest.mark.slow


def _members(client: rg.Argilla, workspace: str) -> set[str]:
    return {user.username for user in client.workspaces(name=workspace).users}


def _key_of(server, name: str) -> str:
    response = httpx.get(f"{server.url}/api/v1/users", headers={"X-Argilla-Api-Key": server.api_key})
    response.raise_for_status()
    return next(user["api_key"] for user in response.json()["items"] if user["username"] == name)


def _me_status(url: str, key: str) -> int:
    return httpx.get(f"{url}/api/v1/me", headers={"X-Argilla-Api-Key": key}).status_code


def _invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def _add(name: str, workspace: str, role: str = "annotator", password: str = "s3cret-pass"):
    result = _invoke("users", "add", name, "--role", role, "--workspace", workspace, "--password", password)
    assert result.exit_code == 0, result.output
    return result


def _assert_one_line_error(result, exit_code: int, starts: str) -> None:
    """Exactly this exit code, one `Error:` line (plus at most a `Hint:` line), no traceback."""
    assert result.exit_code == exit_code, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"Error: {starts}"), result.output
    assert all(line.startswith("Hint: ") for line in lines[1:]), result.output
    assert "Traceback" not in result.output


@pytest.fixture
def embedded_session_server(argilla_server, monkeypatch):
    """The session server, known as the embedded one (rotate-key writes its database)."""
    monkeypatch.setenv("CURATION_SERVER_DIR", str(argilla_server.data_dir))
    return argilla_server


# -- add ---------------------------------------------------------------------------------------


def test_users_add_creates_workspace_and_user(argilla_server, argilla_client):
    result = _add("ann-cli", "cli-team")
    assert "Created workspace 'cli-team'." in result.output
    assert "Created annotator 'ann-cli' in workspace 'cli-team'." in result.output
    assert "s3cret-pass" not in result.output  # a given password is never echoed
    user = argilla_client.users(username="ann-cli")
    assert user.role == "annotator"
    assert "ann-cli" in _members(argilla_client, "cli-team")
    assert can_sign_in(argilla_server.url, "ann-cli", "s3cret-pass")

    # An existing user is only added to the new workspace; role and password are kept.
    again = _invoke("users", "add", "ann-cli", "--role", "admin", "--workspace", "cli-team-2")
    assert again.exit_code == 0, again.output
    assert "already exists" in again.output and "password:" not in again.output
    assert argilla_client.users(username="ann-cli").role == "annotator"
    assert "ann-cli" in _members(argilla_client, "cli-team-2")
    assert can_sign_in(argilla_server.url, "ann-cli", "s3cret-pass")


def test_users_add_generates_a_password_shown_once(argilla_server, argilla_client):
    result = _invoke("users", "add", "admin-cli", "--role", "admin", "--workspace", "cli-team")
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].split()[0]
    assert can_sign_in(argilla_server.url, "admin-cli", password)
    assert argilla_client.users(username="admin-cli").role == "admin"
    assert {"admin-cli"} <= _members(argilla_client, "cli-team")


def test_users_add_takes_the_workspace_from_argilla_workspace(argilla_server, argilla_client, monkeypatch):
    monkeypatch.setenv("ARGILLA_WORKSPACE", "env-team")
    result = _invoke("users", "add", "ann-env", "--password", "s3cret-pass")
    assert result.exit_code == 0, result.output
    assert "ann-env" in _members(argilla_client, "env-team")


def test_users_add_rejects_a_short_password(argilla_server):
    result = _invoke("users", "add", "shorty", "--workspace", "cli-team", "--password", "short")
    assert result.exit_code == 2
    warning, error = result.output.strip().splitlines()  # typed on the command line: warned first
    assert warning.startswith("Warning: the value of --password shows in `ps`") and "short" not in warning
    assert error == "Error: the password must have at least 8 characters"


def test_users_add_rejects_bad_names_in_one_line(argilla_server, argilla_client):
    empty = _invoke("users", "add", "", "--workspace", "cli-team")
    _assert_one_line_error(empty, 2, "the user name must not be empty")

    bad_ws = _invoke("users", "add", "ann-badws", "--workspace", "bad ws!")
    _assert_one_line_error(bad_ws, 2, "invalid workspace name 'bad ws!'")
    # Refused before anything was written.
    assert argilla_client.users(username="ann-badws") is None


# -- list --------------------------------------------------------------------------------------


def test_users_list_shows_names_roles_and_workspaces(argilla_server):
    _add("ann-list", "list-a")
    _add("ann-list", "list-b")
    _add("adm-list", "list-a", role="admin")

    table = _invoke("users", "list")
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in table.output.splitlines()[1:]}
    assert rows["ann-list"] == ["annotator", "list-a, list-b"]
    assert rows["adm-list"] == ["admin", "list-a"]
    assert rows["owner"][0] == "owner"
    assert argilla_server.api_key not in table.output

    as_json = _invoke("users", "list", "--json")
    assert as_json.exit_code == 0, as_json.output
    people = {p["username"]: p for p in json.loads(as_json.output)}
    assert people["ann-list"] == {"username": "ann-list", "role": "annotator", "workspaces": ["list-a", "list-b"]}
    assert people["adm-list"]["workspaces"] == ["list-a"]
    # An owner belongs to every workspace.
    assert {"list-a", "list-b"} <= set(people["owner"]["workspaces"])
    assert "api_key" not in as_json.output


def test_list_people_is_the_library_call_behind_list(argilla_server):
    _add("ann-lib", "lib-team")
    people = {p.username: p for p in list_people()}
    assert people["ann-lib"] == Person(username="ann-lib", role="annotator", workspaces=("lib-team",))


# -- remove ------------------------------------------------------------------------------------


def test_users_remove_refuses_the_removed_users_key(argilla_server, argilla_client):
    _add("ann-gone", "gone-team")
    key = _key_of(argilla_server, "ann-gone")
    assert _me_status(argilla_server.url, key) == 200

    result = _invoke("users", "remove", "ann-gone", "--yes")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Removed user 'ann-gone'."
    assert _me_status(argilla_server.url, key) == 401
    assert not can_sign_in(argilla_server.url, "ann-gone", "s3cret-pass")
    assert argilla_client.users(username="ann-gone") is None


def test_users_remove_asks_first(argilla_server, argilla_client):
    _add("ann-kept", "kept-team")
    declined = _invoke("users", "remove", "ann-kept", input="n\n")
    assert declined.exit_code == 2, declined.output
    assert "Error: user 'ann-kept' was not removed" in declined.output
    no_answer = _invoke("users", "remove", "ann-kept", input="")
    assert no_answer.exit_code == 2, no_answer.output
    assert argilla_client.users(username="ann-kept") is not None

    confirmed = _invoke("users", "remove", "ann-kept", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert argilla_client.users(username="ann-kept") is None


def test_users_remove_will_not_remove_the_caller(argilla_server, argilla_client):
    result = _invoke("users", "remove", "owner", "--yes")
    _assert_one_line_error(result, 2, "'owner' is the user whose API key this command runs with")
    assert _me_status(argilla_server.url, argilla_server.api_key) == 200


# -- reset-password ----------------------------------------------------------------------------


def test_users_reset_password_prints_a_new_one_once(argilla_server):
    _add("ann-reset", "reset-team")
    key = _key_of(argilla_server, "ann-reset")

    result = _invoke("users", "reset-password", "ann-reset")
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].split()[0]
    assert can_sign_in(argilla_server.url, "ann-reset", password)
    assert not can_sign_in(argilla_server.url, "ann-reset", "s3cret-pass")
    assert _key_of(argilla_server, "ann-reset") == key  # the API key is left alone

    given = _invoke("users", "reset-password", "ann-reset", "--password", "chosen-pass-1")
    assert given.exit_code == 0, given.output
    assert "chosen-pass-1" not in given.output
    assert can_sign_in(argilla_server.url, "ann-reset", "chosen-pass-1")


def test_reset_password_checks_the_length_before_calling(argilla_server):
    _add("ann-reset-short", "reset-team")
    with pytest.raises(BadInput, match="at least 8 characters"):
        reset_password("ann-reset-short", "short")
    assert can_sign_in(argilla_server.url, "ann-reset-short", "s3cret-pass")


# -- rotate-key --------------------------------------------------------------------------------


def test_users_rotate_key_replaces_the_old_key(embedded_session_server):
    server = embedded_session_server
    _add("ann-rotate", "rotate-team")
    old = _key_of(server, "ann-rotate")

    result = _invoke("users", "rotate-key", "ann-rotate")
    assert result.exit_code == 0, result.output
    new = result.output.split("API key: ")[1].split()[0]
    assert new != old and new == _key_of(server, "ann-rotate")
    assert _me_status(server.url, old) == 401
    me = httpx.get(f"{server.url}/api/v1/me", headers={"X-Argilla-Api-Key": new}).json()
    assert me["username"] == "ann-rotate"
    assert "Later curate commands" not in result.output  # the owner's key is untouched
    assert _me_status(server.url, server.api_key) == 200
    assert can_sign_in(server.url, "ann-rotate", "s3cret-pass")  # the password is untouched


def test_rotate_key_elsewhere_needs_the_database(argilla_server, monkeypatch, tmp_path):
    # ARGILLA_API_URL names a server that is not the embedded one of CURATION_SERVER_DIR.
    monkeypatch.setenv("CURATION_SERVER_DIR", str(tmp_path / "no-server-here"))
    _add("ann-remote", "remote-team")
    old = _key_of(argilla_server, "ann-remote")

    refused = _invoke("users", "rotate-key", "ann-remote")
    _assert_one_line_error(refused, 2, "the Argilla API cannot change an API key")
    assert "--database-url" in refused.output
    assert _key_of(argilla_server, "ann-remote") == old

    database_url = f"sqlite+aiosqlite:///{argilla_server.data_dir / 'argilla.db'}"
    rotated = rotate_key("ann-remote", database_url=database_url)
    assert rotated.api_key == _key_of(argilla_server, "ann-remote") != old
    assert not rotated.owner_file_updated and not rotated.env_key_stale
    assert _me_status(argilla_server.url, old) == 401
    assert _me_status(argilla_server.url, rotated.api_key) == 200

    other_db = tmp_path / "other.db"
    wrong = _invoke("users", "rotate-key", "ann-remote", "--database-url", f"sqlite+aiosqlite:///{other_db}")
    _assert_one_line_error(wrong, 2, "could not write the new key into the database of --database-url")
    assert _key_of(argilla_server, "ann-remote") == rotated.api_key


def test_rotating_the_embedded_owners_key_keeps_curate_working(tmp_path, monkeypatch):
    """On a server of its own: the session server's owner key must stay valid."""
    for name in ("ARGILLA_API_URL", "ARGILLA_API_KEY", "ARGILLA_REDIS_URL", "CURATION_SEARCH_DB"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "own-server"
    info = start_on_free_port(data_dir, owner_api_key=embedded.new_secret(), owner_password=embedded.new_secret())
    monkeypatch.setenv("CURATION_SERVER_DIR", str(data_dir))
    try:
        old = info.api_key
        result = _invoke("users", "rotate-key", "owner")
        assert result.exit_code == 0, result.output
        new = result.output.split("API key: ")[1].split()[0]
        assert "Later curate commands use the new key" in result.output
        assert "export ARGILLA_API_KEY" not in result.output  # no env key was in use
        assert new != old
        assert json.loads((data_dir / embedded.OWNER_FILE).read_text())["api_key"] == new
        assert (data_dir / embedded.OWNER_FILE).stat().st_mode & 0o777 == 0o600
        assert embedded.status(data_dir).api_key == new
        assert _me_status(info.url, old) == 401
        assert _me_status(info.url, new) == 200

        # Later commands read the new key from the data folder by themselves.
        added = _invoke("users", "add", "ann-after", "--workspace", "after-team", "--password", "s3cret-pass")
        assert added.exit_code == 0, added.output
        listed = _invoke("users", "list", "--json")
        assert listed.exit_code == 0, listed.output
        assert {"owner", "ann-after"} <= {p["username"] for p in json.loads(listed.output)}

        # With ARGILLA_API_KEY holding the owner's key, the command says to export the new one.
        monkeypatch.setenv("ARGILLA_API_URL", info.url)
        monkeypatch.setenv("ARGILLA_API_KEY", new)
        again = _invoke("users", "rotate-key", "owner")
        assert again.exit_code == 0, again.output
        newest = again.output.split("API key: ")[1].split()[0]
        assert "export ARGILLA_API_KEY=<the new key>" in again.output
        assert embedded.status(data_dir).api_key == newest
        assert _me_status(info.url, new) == 401 and _me_status(info.url, newest) == 200
    finally:
        embedded.stop(data_dir)


def test_users_take_the_data_dir_of_server_start(argilla_server, monkeypatch, tmp_path):
    """For a server started with `curate server start --data-dir D`, `curate users ... --data-dir D`
    finds it (rotate-key: its database), whatever CURATION_SERVER_DIR says."""
    monkeypatch.setenv("CURATION_SERVER_DIR", str(tmp_path / "no-server-here"))
    data_dir = str(argilla_server.data_dir)
    _add("ann-data-dir", "data-dir-team")
    old = _key_of(argilla_server, "ann-data-dir")

    rotated = _invoke("users", "rotate-key", "ann-data-dir", "--data-dir", data_dir)
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.split("API key: ")[1].split()[0]
    assert new == _key_of(argilla_server, "ann-data-dir") != old
    assert _me_status(argilla_server.url, old) == 401

    # Without ARGILLA_API_URL, the commands reach the server of --data-dir as its owner.
    monkeypatch.delenv("ARGILLA_API_URL")
    monkeypatch.delenv("ARGILLA_API_KEY")
    listed = _invoke("users", "list", "--json", "--data-dir", data_dir)
    assert listed.exit_code == 0, listed.output
    assert "ann-data-dir" in {p["username"] for p in json.loads(listed.output)}
    _assert_one_line_error(_invoke("users", "list"), 1, "the embedded Argilla server is not running")


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["remove", "--yes"], ["reset-password"], ["rotate-key"]])
def test_unknown_user_is_one_line(embedded_session_server, command):
    result = _invoke("users", command[0], "nobody-here", *command[1:])
    _assert_one_line_error(result, 2, "no user 'nobody-here' on the Argilla server")
    assert "curate users list" in result.output


@pytest.mark.parametrize("role", ["annotator", "admin"])
def test_only_an_owner_may_manage_users(embedded_session_server, monkeypatch, role):
    """argilla-server 2.8 lets only owners manage users: an admin's or annotator's key gets 403."""
    server = embedded_session_server
    _add(f"{role}-caller", "perm-team", role=role)
    _add(f"target-of-{role}", "perm-team")
    target_key = _key_of(server, f"target-of-{role}")
    caller_key = _key_of(server, f"{role}-caller")
    monkeypatch.setenv("ARGILLA_API_KEY", caller_key)

    for command in (["list"], ["add", "someone-new", "--workspace", "perm-team"],
                    ["remove", f"target-of-{role}", "--yes"], ["reset-password", f"target-of-{role}"],
                    ["rotate-key", f"target-of-{role}"]):
        result = _invoke("users", *command)
        _assert_one_line_error(result, 2, "Argilla forbids this API key's user")
        assert "HTTP 403" in result.output and caller_key not in result.output

    monkeypatch.setenv("ARGILLA_API_KEY", server.api_key)
    assert _key_of(server, f"target-of-{role}") == target_key
    assert can_sign_in(server.url, f"target-of-{role}", "s3cret-pass")


def test_wrong_api_key_is_one_line_and_not_printed(argilla_server, monkeypatch):
    wrong = "not-the-key-0123456789"
    monkeypatch.setenv("ARGILLA_API_KEY", wrong)
    result = _invoke("users", "add", "nobody", "--workspace", "cli-team")
    _assert_one_line_error(result, 2, "Argilla refused the API key (HTTP 401)")
    assert wrong not in result.output and argilla_server.api_key not in result.output


def test_server_down_is_one_line(monkeypatch, tmp_path):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.setenv("CURATION_SERVER_DIR", str(tmp_path))
    result = _invoke("users", "add", "nobody", "--workspace", "w")
    _assert_one_line_error(result, 1, "the embedded Argilla server is not running and ARGILLA_API_URL is not set")
    assert "curate server start" in result.output


def test_unreachable_url(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ARGILLA_API_URL", url)
    monkeypatch.setenv("ARGILLA_API_KEY", "some-key-123456")
    with pytest.raises(ArgillaUnavailable, match=f"cannot reach Argilla while connecting to {url}") as error:
        connect()
    assert "some-key-123456" not in str(error.value)


def test_connect_uses_the_embedded_server(argilla_server, monkeypatch):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    monkeypatch.setenv("CURATION_SERVER_DIR", str(argilla_server.data_dir))
    client = connect()
    assert client.api_url == argilla_server.url
    assert client.me.username == "owner"
