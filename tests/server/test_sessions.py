"""Sign-in tokens end when the user's access does (curation/server/sessions.py), on the real
embedded server: a UI session signed in before `curate users rotate-key`, `reset-password` or
`remove` is refused (401) at once, and a fresh sign-in works.

The token is the web UI's: `POST /api/v1/token` with the user's name and password, then
`Authorization: Bearer <token>` on every call, as the browser does.
"""

from __future__ import annotations

import argilla as rg
import httpx
import pytest
from click.testing import CliRunner

from curation.cli import main

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-pass"


def _invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def _add(name: str, workspace: str, role: str = "annotator") -> None:
    _invoke("users", "add", name, "--role", role, "--workspace", workspace, "--password", PASSWORD)


def _sign_in(url: str, username: str, password: str = PASSWORD) -> str:
    response = httpx.post(f"{url}/api/v1/token", data={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _me(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/me", headers=_bearer(token))


@pytest.fixture
def server(argilla_server, monkeypatch):
    """The session server, known as the embedded one (rotate-key writes its database)."""
    monkeypatch.setenv("CURATION_SERVER_DIR", str(argilla_server.data_dir))
    return argilla_server


def test_rotate_key_ends_the_users_sessions(server):
    _add("sess-rotate", "sess-team")
    _add("sess-bystander", "sess-team")
    token = _sign_in(server.url, "sess-rotate")
    bystander = _sign_in(server.url, "sess-bystander")
    assert _me(server.url, token).status_code == 200

    new_key = _invoke("users", "rotate-key", "sess-rotate").output.split("API key: ")[1].split()[0]

    refused = _me(server.url, token)
    assert refused.status_code == 401
    assert new_key not in refused.text  # the old session used to read the new key here
    fresh = _me(server.url, _sign_in(server.url, "sess-rotate"))
    assert fresh.status_code == 200 and fresh.json()["api_key"] == new_key
    # Only that user's sessions end.
    assert _me(server.url, bystander).status_code == 200


def test_reset_password_ends_the_users_sessions(server):
    _add("sess-reset", "sess-team")
    token = _sign_in(server.url, "sess-reset")
    assert _me(server.url, token).status_code == 200

    _invoke("users", "reset-password", "sess-reset", "--password", "another-pass-2")

    assert _me(server.url, token).status_code == 401
    assert _me(server.url, _sign_in(server.url, "sess-reset", "another-pass-2")).status_code == 200


def test_a_removed_users_token_does_not_sign_in_as_a_new_user_of_that_name(server, argilla_client):
    # alice, an annotator of one workspace, signs in; then she is removed and another alice,
    # an admin of another workspace, is made.
    _add("sess-alice", "sess-alice-old")
    old_token = _sign_in(server.url, "sess-alice")
    assert _me(server.url, old_token).json()["role"] == "annotator"
    _invoke("users", "remove", "sess-alice", "--yes")
    _add("sess-alice", "sess-alice-new", role="admin")
    workspace = argilla_client.workspaces(name="sess-alice-new")
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    dataset = rg.Dataset(name="sess-secret", workspace=workspace, settings=settings, client=argilla_client).create()
    dataset.records.log([{"text": "only for the new alice"}])
    records_url = f"{server.url}/api/v1/datasets/{dataset.id}/records"

    assert _me(server.url, old_token).status_code == 401
    assert httpx.get(records_url, headers=_bearer(old_token)).status_code == 401

    new_token = _sign_in(server.url, "sess-alice")
    assert _me(server.url, new_token).json()["role"] == "admin"
    assert httpx.get(records_url, headers=_bearer(new_token)).json()["total"] == 1



def test_sessions_end_in_every_worker_in_production_mode(argilla_pg_server, monkeypatch):
    """PostgreSQL, 2 uvicorn workers: each worker refuses the old token (the fix is installed where
    every server process builds the app). The commands find the server by its --data-dir."""
    info = argilla_pg_server
    for name in ("ARGILLA_API_URL", "ARGILLA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    data_dir = str(info.data_dir)
    _invoke("users", "add", "sess-prod", "--workspace", "sess-prod-team", "--password", PASSWORD, "--data-dir", data_dir)
    token = _sign_in(info.url, "sess-prod")
    # New connections each time: the kernel spreads them over both workers.
    assert {_me(info.url, token).status_code for _ in range(12)} == {200}

    _invoke("users", "reset-password", "sess-prod", "--password", "another-pass-2", "--data-dir", data_dir)

    assert {_me(info.url, token).status_code for _ in range(12)} == {401}
    token = _sign_in(info.url, "sess-prod", "another-pass-2")
    assert _me(info.url, token).status_code == 200

    # rotate-key finds the server's PostgreSQL database through its data folder.
    rotated = _invoke("users", "rotate-key", "sess-prod", "--data-dir", data_dir)
    new_key = rotated.output.split("API key: ")[1].split()[0]
    assert {_me(info.url, token).status_code for _ in range(12)} == {401}
    me = httpx.get(f"{info.url}/api/v1/me", headers={"X-Argilla-Api-Key": new_key})
    assert me.status_code == 200 and me.json()["username"] == "sess-prod"
