"""Names holding rich markup print as themselves.

Users and datasets are named by whoever may create them, batch manifests and
settings by whoever writes them. Printed through rich as markup, "[/]" ended `curate status`,
`curate batches list`, `curate config` and `curate push`'s progress bar in a MarkupError
traceback, and "[red]" vanished from the output (issue 21, finding 4).
"""

from __future__ import annotations

import uuid

import argilla as rg
import pytest
from click.testing import CliRunner

from curation.batch import new_batch_id, package_versions, write_batch
from curation.cli import main
from tests.review.sample_batches import write_sample_batch

# Wide enough that rich never wraps a cell, so that each name shows whole on one line.
WIDE = {"COLUMNS": "400"}


def invoke(args: list[str], **env: str):
    return CliRunner().invoke(main, args, env={**WIDE, **env})


def assert_printed(result, *texts: str) -> None:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output
    for text in texts:
        assert text in result.output, (text, result.output)


@pytest.mark.slow
def test_status_prints_names_with_markup_as_they_are(argilla_client):
    suffix = uuid.uuid4().hex[:6]
    # Workspace names are [a-zA-Z0-9_-] (the SDK's rule); usernames and dataset names are free text.
    workspace = rg.Workspace(name=f"markup-ws-{suffix}", client=argilla_client).create()
    users = []
    for username in (f"[/]{suffix}", f"[/bold]x[red]{suffix}"):
        user = rg.User(username=username, role="annotator", password="password-1234", client=argilla_client).create()
        user.add_to_workspace(workspace)
        users.append(user)
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    dataset = rg.Dataset(name="[/bold]x[red]", workspace=workspace, settings=settings, client=argilla_client).create()
    dataset.records.log([rg.Record(id="m0", fields={"text": "one"}, responses=[
        rg.Response("label", "good", user_id=user.id, status="submitted") for user in users])])

    result = invoke(["status", "[/bold]x[red]", "--workspace", workspace.name])

    assert_printed(result, f"[/bold]x[red] (workspace markup-ws-{suffix})", *(user.username for user in users))


def test_batches_list_prints_manifests_and_folder_names_with_markup(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATION_HOME", str(tmp_path))
    batch_id = new_batch_id("prompt")
    manifest = {"batch_id": batch_id, "recipe": "prompt", "kind": "sft", "model": "models/[/]odd[red].gguf",
                "rows": {"requested": 1, "generated": 1, "kept": 1, "dropped": 0},
                "started_at": "2026-01-01T00:00:00+00:00", "versions": package_versions()}
    write_batch(tmp_path / "batches" / batch_id, [{"instruction": "Why?", "response": "Because.",
                                                    "model_name": "m", "raw_output": "{}"}], manifest)
    broken = tmp_path / "batches" / "[red]broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("not json")

    result = invoke(["batches", "list"])

    assert_printed(result, batch_id, "models/[/]odd[red].gguf", "[red]broken")


def test_config_prints_values_with_markup():
    result = invoke(["config"], CURATION_BASE_URL="http://models.internal/[/]v1[red]")

    assert_printed(result, "http://models.internal/[/]v1[red]")


@pytest.mark.slow
def test_push_progress_shows_a_dataset_name_with_markup(argilla_server, review_workspace, tmp_path):
    batch = write_sample_batch(tmp_path, "sft", 3)
    name = f"[/][/]push-{uuid.uuid4().hex[:6]}"  # the bar's "[bold]" label closes one "[/]", not two

    result = invoke(["push", str(batch.path), "--dataset", name, "--progress"])

    assert_printed(result, f"{batch.id} → {name}", f"Pushed 3 new record(s) of batch {batch.id} to dataset {name!r}")
