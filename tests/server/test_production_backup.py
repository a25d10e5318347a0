"""Backup and restore in production mode: `curate server backup` of a server on PostgreSQL
(pg_dump), `restore --database` into an empty database (pg_restore, then the index rebuilt);
and the move of a team from the embedded mode to PostgreSQL (an SQLite backup restored with
`--database`), as the README's "Production mode" section tells it.
"""

from __future__ import annotations

import json
import os
import stat

import argilla as rg
import httpx
import pytest
from argilla._models._record._response import UserResponseModel
from click.testing import CliRunner

from curation.cli import main
from curation.server import database, embedded
from tests.fixtures.server import can_sign_in, exposed_paths, start_on_free_port, team_dataset
from tests.server.test_backup import TEXTS, _snapshot

pytestmark = pytest.mark.slow


def _populate(info) -> dict:
    """The backup test's dataset (backup-ws/backup-data): records with suggestions, two answered
    by the annotator with its own key. Returns the owner's snapshot of it."""
    owner = rg.Argilla(api_url=info.url, api_key=info.api_key)
    annotator, dataset = team_dataset(owner, "backup")
    dataset.records.log([
        rg.Record(fields={"text": text}, suggestions=[rg.Suggestion("label", "good", score=0.75, agent="judge")])
        for text in TEXTS
    ])
    key = httpx.get(f"{info.url}/api/v1/users/{annotator.id}", headers={"X-Argilla-Api-Key": info.api_key}).json()
    as_annotator = rg.Argilla(api_url=info.url, api_key=key["api_key"])
    for record in dataset.records:
        if TEXTS[record.fields["text"]]:
            as_annotator.api.records.create_record_response(record._server_id, UserResponseModel(
                values={"label": {"value": TEXTS[record.fields["text"]]}}, status="submitted", user_id=annotator.id))
    return _snapshot(owner)


def _check_restored(data_dir, before: dict, api_key: str) -> None:
    restored = start_on_free_port(data_dir)
    try:
        assert restored.api_key == api_key and restored.reindexed == []
        assert restored.database != "sqlite" and not (data_dir / "argilla.db").exists()
        owner = rg.Argilla(api_url=restored.url, api_key=restored.api_key)
        assert _snapshot(owner) == before
        found = owner.datasets(name="backup-data", workspace="backup-ws").records(query=rg.Query(query="beta"))
        assert [r.fields["text"] for r in found] == ["beta backup record"]
        assert can_sign_in(restored.url, "backup-annotator", "backup-password")
        assert exposed_paths(data_dir) == []
    finally:
        embedded.stop(data_dir)


def test_backup_of_a_postgres_server_restores_into_an_empty_database(argilla_pg_server, postgres, tmp_path,
                                                                       no_remote):
    info = argilla_pg_server
    before = _populate(info)
    backup_dir, restored_dir = tmp_path / "backup", tmp_path / "restored"
    runner = CliRunner()

    result = runner.invoke(main, ["server", "backup", str(backup_dir), "--data-dir", str(info.data_dir)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in backup_dir.iterdir()) == ["argilla.pgdump", "auth-secret", "backup.json", "owner.json"]
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in backup_dir.iterdir())
    manifest = (backup_dir / "backup.json").read_text()
    assert postgres.password not in manifest and json.loads(manifest)["database"].startswith("postgresql+asyncpg://")

    # A PostgreSQL backup needs a database to go to, and an empty one.
    result = runner.invoke(main, ["server", "restore", str(backup_dir), "--data-dir", str(restored_dir)])
    assert result.exit_code == 2 and "--database" in result.output and not restored_dir.exists()
    busy = database.stored_url(info.data_dir)
    result = runner.invoke(main, ["server", "restore", str(backup_dir), "--data-dir", str(restored_dir)],
                           env={"ARGILLA_DATABASE_URL": busy})
    assert result.exit_code == 2 and "already holds tables" in result.output
    assert postgres.password not in result.output

    target = postgres.new_database("restored")
    result = runner.invoke(main, ["server", "restore", str(backup_dir), "--data-dir", str(restored_dir)],
                           env={"ARGILLA_DATABASE_URL": target})
    assert result.exit_code == 0, result.output
    assert "records indexed" in result.output and postgres.password not in result.output
    assert database.stored_url(restored_dir) == target
    _check_restored(restored_dir, before, info.api_key)


def test_a_team_moves_from_the_embedded_server_to_postgres(postgres, tmp_path, no_remote):
    source_dir, backup_dir, moved_dir = tmp_path / "server", tmp_path / "backup", tmp_path / "moved"
    runner = CliRunner()
    info = start_on_free_port(source_dir)
    try:
        before = _populate(info)
        result = runner.invoke(main, ["server", "backup", str(backup_dir), "--data-dir", str(source_dir)])
        assert result.exit_code == 0, result.output
    finally:
        embedded.stop(source_dir)

    target = postgres.new_database("moved")
    result = runner.invoke(main, ["server", "restore", str(backup_dir), "--data-dir", str(moved_dir)],
                           env={"ARGILLA_DATABASE_URL": target})
    assert result.exit_code == 0, result.output
    assert f"1 datasets, {len(TEXTS)} records indexed" in result.output
    _check_restored(moved_dir, before, info.api_key)
