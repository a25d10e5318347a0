"""Sign-ins survive a restart: the session secret is made once per data folder and kept private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import argilla as rg
import httpx
import pytest

from curation.server import embedded
from curation.server.secret import SECRET_FILE
from tests.fixtures.server import start_on_free_port

pytestmark = pytest.mark.slow


def test_a_login_token_still_works_after_a_restart(tmp_path, no_remote):
    data_dir = tmp_path / "server"
    info = start_on_free_port(data_dir)
    try:
        owner = rg.Argilla(api_url=info.url, api_key=info.api_key)
        rg.User(username="kept-annotator", role="annotator", password="kept-password", client=owner).create()
        token = httpx.post(f"{info.url}/api/v1/token",
                           data={"username": "kept-annotator", "password": "kept-password"})
        assert token.status_code == 201
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert httpx.get(f"{info.url}/api/v1/me", headers=bearer).json()["username"] == "kept-annotator"

        secret_file = data_dir / SECRET_FILE
        secret = secret_file.read_text().strip()
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        # Handed over by environment (readable by this account only), never on a command line.
        pids = embedded._read_json(data_dir / embedded.STATE_FILE)["pids"]
        for pid in (pids["server"], pids["worker"]):
            assert secret not in Path(f"/proc/{pid}/cmdline").read_text()
            assert f"ARGILLA_AUTH_SECRET_KEY={secret}" in Path(f"/proc/{pid}/environ").read_text().split("\0")
    finally:
        embedded.stop(data_dir)

    restarted = start_on_free_port(data_dir)
    try:
        me = httpx.get(f"{restarted.url}/api/v1/me", headers=bearer)
        assert me.status_code == 200 and me.json()["username"] == "kept-annotator"
        assert (data_dir / SECRET_FILE).read_text().strip() == secret
        # A token signed with another secret is still refused.
        forged = httpx.get(f"{restarted.url}/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code == 401
    finally:
        embedded.stop(data_dir)
