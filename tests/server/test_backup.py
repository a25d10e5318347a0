"""`curate server backup` of a running server, `curate server restore` into a new folder."""

from __future__ import annotations

import os
import stat

import argilla as rg
import httpx
import pytest
from argilla._models._record._response import UserResponseModel
from click.testing import CliRunner

from curation.cli import main
from curation.server import embedded
from tests.fixtures.server import can_sign_in, exposed_paths, start_on_free_port, team_dataset

TEXTS = {f"{word} backup record": label for word, label in (("alpha", "good"), ("beta", "bad"), ("gamma", None))}


def _snapshot(client: rg.Argilla) -> dict:
    dataset = client.datasets(name="backup-data", workspace="backup-ws")
    return {
        record.id: (
            record.fields["text"],
            record.status,
            sorted((str(r.user_id), r.value, str(r.status)) for r in record.responses["label"]),
            [(s.value, s.score, s.agent) for s in record.suggestions],
        )
        for record in dataset.records(with_responses=True, with_suggestions=True)
    }


@pytest.mark.slow
def test_backup_of_a_running_server_restores_into_a_new_folder(tmp_path, no_remote):
    source_dir, backup_dir, restored_dir = tmp_path / "server", tmp_path / "backup", tmp_path / "restored"
    runner = CliRunner()
    info = start_on_free_port(source_dir)
    try:
        owner = rg.Argilla(api_url=info.url, api_key=info.api_key)
        annotator, dataset = team_dataset(owner, "backup")
        dataset.records.log([
            rg.Record(fields={"text": text}, suggestions=[rg.Suggestion("label", "good", score=0.75, agent="judge")])
            for text in TEXTS
        ])

        # The annotator answers, with its own key, through the SDK.
        annotator_key = httpx.get(f"{info.url}/api/v1/users/{annotator.id}",
                                  headers={"X-Argilla-Api-Key": info.api_key}).json()["api_key"]
        as_annotator = rg.Argilla(api_url=info.url, api_key=annotator_key)
        for record in dataset.records:  # the owner lists them (annotators may only search)
            label = TEXTS[record.fields["text"]]
            if label:
                as_annotator.api.records.create_record_response(record._server_id, UserResponseModel(
                    values={"label": {"value": label}}, status="submitted", user_id=annotator.id))
        before = _snapshot(owner)
        assert sum(1 for _, _, responses, _ in before.values() if responses) == 2
        token = httpx.post(f"{info.url}/api/v1/token",
                           data={"username": "backup-annotator", "password": "backup-password"}).json()["access_token"]

        result = runner.invoke(main, ["server", "backup", str(backup_dir), "--data-dir", str(source_dir)])
        assert result.exit_code == 0, result.output
    finally:
        embedded.stop(source_dir)

    # The backup holds every API key: it is as private as the data folder, and holds no index.
    assert stat.S_IMODE(os.stat(backup_dir).st_mode) == 0o700
    assert sorted(p.name for p in backup_dir.iterdir()) == ["argilla.db", "auth-secret", "backup.json", "owner.json"]
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in backup_dir.iterdir())
    again = runner.invoke(main, ["server", "backup", str(backup_dir), "--data-dir", str(source_dir)])
    assert again.exit_code == 2 and "not empty" in again.output  # never overwrites a backup

    result = runner.invoke(main, ["server", "restore", str(backup_dir), "--data-dir", str(restored_dir)])
    assert result.exit_code == 0, result.output
    assert f"1 datasets, {len(TEXTS)} records indexed" in result.output
    assert (restored_dir / "curation-search.sqlite3").exists()
    refused = runner.invoke(main, ["server", "restore", str(backup_dir), "--data-dir", str(restored_dir)])
    assert refused.exit_code == 2 and "already holds a server database" in refused.output

    restored = start_on_free_port(restored_dir)
    try:
        assert restored.api_key == info.api_key
        assert restored.reindexed == []  # restore rebuilt the index already
        owner = rg.Argilla(api_url=restored.url, api_key=restored.api_key)
        assert _snapshot(owner) == before
        found = owner.datasets(name="backup-data", workspace="backup-ws").records(query=rg.Query(query="beta"))
        assert [r.fields["text"] for r in found] == ["beta backup record"]
        # Annotators sign in as before, and sessions signed before the backup still hold.
        assert can_sign_in(restored.url, "backup-annotator", "backup-password")
        me = httpx.get(f"{restored.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == "backup-annotator"
        assert exposed_paths(restored_dir) == []
    finally:
        embedded.stop(restored_dir)


def test_backup_and_restore_refuse_what_is_not_theirs_in_one_line(tmp_path, no_remote):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(main, ["server", "backup", str(tmp_path / "b"), "--data-dir", str(empty)])
    assert result.exit_code == 2 and "holds no server database" in result.output
    result = runner.invoke(main, ["server", "restore", str(empty), "--data-dir", str(tmp_path / "new")])
    assert result.exit_code == 2 and "is not a backup made by `curate server backup`" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "new").exists()


def _damaged_copies(good, root) -> dict:
    """Copies of the backup `good` whose argilla.db is truncated, garbage, or a link to a good one."""
    import shutil

    copies = {}
    for kind in ("truncated", "garbage", "symlink"):
        copy = root / kind
        shutil.copytree(good, copy)
        database = copy / "argilla.db"
        data = database.read_bytes()
        database.unlink()
        if kind == "truncated":
            database.write_bytes(data[: len(data) // 2])
        elif kind == "garbage":
            database.write_bytes(b"not a database at all\n" * 500)
        else:
            database.symlink_to(good / "argilla.db")
        copies[kind] = copy
    return copies


@pytest.mark.slow
def test_restore_refuses_a_damaged_backup_in_one_line_and_writes_nothing(argilla_server, tmp_path, no_remote):
    """Before: a truncated or garbage argilla.db ended in a sqlite3.DatabaseError traceback and
    left a 0-byte database in the data folder, which made the retry refuse the folder."""
    runner = CliRunner()
    good, target = tmp_path / "good", tmp_path / "restored"
    taken = runner.invoke(main, ["server", "backup", str(good), "--data-dir", str(argilla_server.data_dir)])
    assert taken.exit_code == 0, taken.output

    for kind, damaged in _damaged_copies(good, tmp_path).items():
        result = runner.invoke(main, ["server", "restore", str(damaged), "--data-dir", str(target)])

        assert result.exit_code == 2, (kind, result.output)
        lines = result.output.strip().splitlines()
        assert lines[0].startswith("Error: ") and "argilla.db" in lines[0], (kind, result.output)
        assert len(lines) == 2 and lines[1].startswith("Hint: "), (kind, result.output)
        assert "Traceback" not in result.output
        assert not target.exists(), kind  # nothing written: not even the folder

    retried = runner.invoke(main, ["server", "restore", str(good), "--data-dir", str(target)])
    assert retried.exit_code == 0, retried.output
    assert (target / "argilla.db").stat().st_size > 0
