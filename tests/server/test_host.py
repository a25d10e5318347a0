"""`curate server start --host ADDR`: the server listens there and nowhere else.

Every server in the tests binds a 127.x address: the machine's other interfaces stay untouched.
"""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.server import embedded
from tests.fixtures.server import free_port


@pytest.mark.slow
def test_server_listens_on_the_given_address_only(tmp_path, no_remote):
    data_dir = tmp_path / "server"
    runner = CliRunner()
    for _ in range(3):  # a port taken between choosing and binding it is refused before any setup
        port = free_port()
        result = runner.invoke(main, ["server", "start", "--data-dir", str(data_dir), "--port", str(port),
                                      "--host", "127.0.0.2"])
        if "already in use" not in result.output:
            break
    try:
        assert result.exit_code == 0, result.output
        assert f"Argilla is running at http://127.0.0.2:{port}" in result.output
        assert "plain HTTP" not in result.output  # 127.0.0.2 is still this machine only
        info = embedded.status(data_dir)
        assert info.url == f"http://127.0.0.2:{port}" and info.host == "127.0.0.2"

        me = httpx.get(f"http://127.0.0.2:{port}/api/v1/me", headers={"X-Argilla-Api-Key": info.api_key})
        assert me.status_code == 200 and me.json()["username"] == "owner"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/api/v1/status")

        # Other curate commands reach it through the URL the data folder records.
        status = runner.invoke(main, ["server", "status", "--data-dir", str(data_dir)])
        assert status.exit_code == 0 and f"running at http://127.0.0.2:{port}" in status.output
    finally:
        embedded.stop(data_dir)


def test_beyond_loopback_prints_the_url_and_a_plain_http_warning():
    assert embedded.network_notice("127.0.0.2", 6900) == []
    assert embedded.network_notice("::1", 6900) == []
    url, warning = embedded.network_notice("192.168.1.20", 6900)
    assert url == "Annotators sign in at http://192.168.1.20:6900"
    assert warning.startswith("Warning: this is plain HTTP")
    url, _ = embedded.network_notice("0.0.0.0", 6900)
    assert url.startswith("Annotators sign in at http://") and "0.0.0.0" not in url
    # Curate's own commands (which send the owner's key) stay on this machine.
    assert embedded.local_url("0.0.0.0", 6900) == "http://127.0.0.1:6900"


@pytest.mark.parametrize(("host", "message"), [
    ("not-an-address", "is not an IP address"),
    ("192.0.2.1", "192.0.2.1 is not an address of this machine"),  # TEST-NET-1: never ours
])
def test_a_host_the_server_cannot_listen_on_is_refused(tmp_path, no_remote, host, message):
    result = CliRunner().invoke(main, ["server", "start", "--data-dir", str(tmp_path / "server"),
                                       "--port", str(free_port()), "--host", host])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert embedded.status(tmp_path / "server") is None
