"""`curate export` / `curate pull` as users run them: subprocesses against the real server and a Hub stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import datasets
import pytest

from tests.export.hub_standin import HubStandIn
from tests.export.test_export import read_back, sft_expected

pytestmark = pytest.mark.slow

CURATE = Path(sys.executable).parent / "curate"
TOKEN = "hf_standin_" + uuid.uuid4().hex


EMPTY_HF_HOME = Path(__import__("tempfile").mkdtemp(prefix="hf-home-"))  # no saved token in it


# huggingface_hub >= 2 uploads through Xet (hf_xet's own storage protocol) when hf_xet is installed;
# the stand-in speaks the Hub's git/LFS commit endpoints, which huggingface_hub still uses without it
# (HF_HUB_DISABLE_XET). The real Hub serves both: test_real_hub_round_trip takes the Xet path.
STANDIN_HUB_ENV = {"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}


def curate(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `curate` with the session's Argilla env, no inherited Hub token (HF_TOKEN or saved), plus `env`."""
    # The reviewed datasets live in their own workspace: no session-wide ARGILLA_WORKSPACE either.
    base = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT", "ARGILLA_WORKSPACE")}
    base["HF_HOME"] = str(EMPTY_HF_HOME)
    return subprocess.run(
        [str(CURATE), *args], capture_output=True, text=True, timeout=300, env={**base, **STANDIN_HUB_ENV, **env}
    )


@pytest.fixture
def hub(tmp_path):
    with HubStandIn(tmp_path / "hub", TOKEN) as standin:
        yield standin


def test_export_to_folder_then_pull(reviewed, argilla_server, tmp_path):
    out = tmp_path / "export"
    done = curate("export", reviewed.sft, "--format", "sft", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Exported 5 of 10 records as sft (agreement majority, min submitted 1); dropped: " in done.stdout
    assert "discarded 2, too_few_submitted 2, disagreement 1" in done.stdout
    assert read_back(out) == sft_expected(reviewed, "majority")

    pulled = curate("pull", str(out), "--head", "1")
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.startswith("5 rows in split 'train'; columns: messages, edited, batch_id,")
    assert '"role": "assistant"' in pulled.stdout.splitlines()[1]


def test_pull_help_shows_the_load_dataset_equivalent():
    done = curate("pull", "--help")
    assert 'load_dataset("REPO_OR_DIR", split="train")' in done.stdout


def test_push_to_the_hub_endpoints(reviewed, argilla_server, hub):
    repo = "curation-org/reviewed-sft"
    hub.seed(repo, "data/train-00000-of-00002.parquet", b"a shard of an older, larger export")
    hub.seed(repo, "notes.md", b"not the export's: stays")

    done = curate("export", reviewed.sft, "--format", "sft", "--repo-id", repo, "--private",
                  HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    assert f"Pushed {repo}: {hub.url}/datasets/{repo}/commit/" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert hub.files(repo) == ["README.md", "data/train-00000-of-00001.parquet", "notes.md"]
    assert hub.private[repo] is True
    assert [c["ops"] for c in hub.commits] == [
        [("deletedFile", "data/train-00000-of-00002.parquet"), ("file", "README.md"), ("lfsFile", "data/train-00000-of-00001.parquet")]
    ]
    assert read_back(hub.repo_dir(repo)) == sft_expected(reviewed, "majority")
    readme = (hub.repo_dir(repo) / "README.md").read_text()
    assert f'load_dataset("{repo}", split="train")' in readme

    # A re-export is one new commit that replaces the data: never the same record twice.
    again = curate("export", reviewed.sft, "--format", "sft", "--repo-id", repo, "--agreement", "unanimous",
                   HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN)
    assert again.returncode == 0, again.stderr
    assert len(hub.commits) == 2
    assert read_back(hub.repo_dir(repo)) == sft_expected(reviewed, "unanimous")
    assert datasets.load_dataset(str(hub.repo_dir(repo)), split="train").num_rows == 4


@pytest.mark.parametrize(
    "args, env, code, message",
    [
        (["--repo-id", "not a repo"], {"HF_TOKEN": TOKEN}, 2, "Error: invalid repo id 'not a repo'"),
        (["--repo-id", "a/b/c"], {"HF_TOKEN": TOKEN}, 2, "Error: invalid repo id 'a/b/c'"),
        (["--repo-id", "org/name"], {}, 2, "Error: pushing to the Hub needs a token"),
        ([], {}, 2, "Error: nothing to export to: give an output folder (--out) and/or a Hub repo (--repo-id)"),
        (["--repo-id", "org/name", "--token", "hf_wrong_secret"], {}, 2, "Error: the Hub refused 'org/name' (HTTP 401)"),
    ],
)
def test_bad_input(reviewed, argilla_server, hub, args, env, code, message):
    done = curate("export", reviewed.sft, "--format", "sft", *args, HF_ENDPOINT=hub.url, **env)
    assert done.returncode == code, done.stderr
    # A --token typed on the command line is warned about first (it shows in `ps`).
    stderr = "".join(line for line in done.stderr.splitlines(keepends=True)
                     if not line.startswith("Warning: the value of --token shows in `ps`"))
    assert stderr.splitlines()[0] == message or stderr.startswith(message)
    assert ("--token" in args) == ("Warning: the value of --token" in done.stderr)
    assert "Traceback" not in done.stderr
    assert "hf_wrong_secret" not in done.stdout + done.stderr and TOKEN not in done.stdout + done.stderr
    assert hub.commits == []


def test_the_token_saved_by_hf_auth_login_is_used(reviewed, argilla_server, hub, tmp_path):
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    (hf_home / "token").write_text(TOKEN)  # where `hf auth login` saves it (huggingface_hub's HF_TOKEN_PATH)
    done = curate("export", reviewed.sft, "--format", "sft", "--repo-id", "org/saved-token",
                  HF_ENDPOINT=hub.url, HF_HOME=str(hf_home))
    assert done.returncode == 0, done.stderr
    assert hub.files("org/saved-token") == ["README.md", "data/train-00000-of-00001.parquet"]
    assert TOKEN not in done.stdout + done.stderr


def test_nothing_selected_pushes_nothing(reviewed, argilla_server, hub):
    done = curate("export", reviewed.empty, "--format", "sft", "--repo-id", "org/empty", HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN)
    assert done.returncode == 2  # the user must review more or relax the policy
    assert done.stderr.startswith(f"Error: no record of {reviewed.empty!r} passes the policy (2 seen;")
    assert hub.requests == []  # not even the repo was created


def test_unknown_dataset_and_folder(argilla_server, tmp_path):
    done = curate("export", "no-such-dataset", "--format", "dpo", "--out", str(tmp_path))
    assert (done.returncode, done.stderr.splitlines()[0]) == (2, "Error: no Argilla dataset 'no-such-dataset' in any workspace")
    done = curate("pull", str(tmp_path / "missing folder"))
    assert done.returncode == 2
    assert "is neither a folder nor a Hub repo id" in done.stderr


def test_pull_a_folder_without_data(tmp_path):
    done = curate("pull", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"Error: cannot load {str(tmp_path)!r}: ")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_out_must_be_empty_or_an_earlier_export(argilla_server, tmp_path):
    (tmp_path / "README.md").write_text("# My project\n")
    done = curate("export", "any-dataset", "--format", "sft", "--out", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == (
        f"Error: {tmp_path} is not empty and holds no earlier `curate export`; refusing to replace its files"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


def test_a_wrong_api_key_is_one_line(reviewed, argilla_server, tmp_path):
    secret = "argilla.apikey." + uuid.uuid4().hex
    done = curate("export", reviewed.sft, "--format", "sft", "--out", str(tmp_path / "out"), ARGILLA_API_KEY=secret)
    assert done.returncode == 2, done.stderr  # the user must change the key
    assert done.stderr.splitlines()[0] == (
        f"Error: Argilla refused the API key (HTTP 401) while connecting to {argilla_server.url}"
    )
    assert "Traceback" not in done.stderr and secret not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()


def member_key(owner, workspace: str, role: str) -> str:
    """The API key of a new user with `role` in `workspace` (the owner may read it)."""
    import argilla as rg

    user = rg.User(username=f"{role}-key-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex, role=role,
                   client=owner).create()
    owner.workspaces(workspace).add_user(user)
    return owner.api.http_client.get(f"/api/v1/users/{user.id}").json()["api_key"]


def test_an_annotator_key_may_not_export(reviewed, argilla_client, argilla_server, tmp_path):
    """Exporting reads every annotator's responses, which the server allows only owners and admins."""
    key = member_key(argilla_client, reviewed.workspace, "annotator")
    done = curate("export", reviewed.sft, "--format", "sft", "--out", str(tmp_path / "out"), ARGILLA_API_KEY=key)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == (
        "Error: Argilla forbids this API key's user listing the dataset's records (HTTP 403)"
    )
    assert "Traceback" not in done.stderr and key not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()


def test_an_admin_key_exports_with_user_ids_for_names(reviewed, argilla_client, argilla_server, tmp_path):
    """Admins read their workspace's responses but may not list users: ids stand in for names."""
    import argilla as rg

    key = member_key(argilla_client, reviewed.workspace, "admin")
    listing = rg.Argilla(api_url=argilla_server.url, api_key=key).api.http_client.get("/api/v1/users")
    assert listing.status_code == 403  # the premise: an admin cannot list users
    done = curate("export", reviewed.sft, "--format", "sft", "--out", str(tmp_path / "out"), ARGILLA_API_KEY=key)
    assert done.returncode == 0, done.stderr
    ids = {u.username: str(u.id) for u in argilla_client.users}
    by_name = {row["record_id"]: row["annotators"] for row in sft_expected(reviewed, "majority")}
    got = {row["record_id"]: row["annotators"] for row in read_back(tmp_path / "out")}
    assert got == {rid: sorted(ids[name] for name in names) for rid, names in by_name.items()}


@pytest.mark.outside_ci
@pytest.mark.skipif(not os.environ.get("HF_TOKEN"), reason="needs HF_TOKEN for the real Hub")
def test_real_hub_round_trip(reviewed, argilla_server):
    from huggingface_hub import HfApi

    api = HfApi(token=os.environ["HF_TOKEN"])
    repo = f"{api.whoami()['name']}/curation-export-test-{uuid.uuid4().hex[:8]}"
    try:
        real_hub = {"HF_TOKEN": os.environ["HF_TOKEN"], "HF_HUB_DISABLE_XET": ""}  # Xet as users get it
        done = curate("export", reviewed.sft, "--format", "sft", "--repo-id", repo, "--private", **real_hub)
        assert done.returncode == 0, done.stderr
        pulled = curate("pull", repo, **real_hub)
        assert pulled.stdout.startswith("5 rows in split 'train'"), pulled.stderr
    finally:
        api.delete_repo(repo, repo_type="dataset", missing_ok=True)
