"""Datasets and workspaces: find them, choose where a new dataset goes, create one safely.

A dataset is created in two steps on argilla-server: a *draft* (name, guidelines) that then
receives its fields and questions and is *published*. A push killed in between leaves a draft
that can hold no records. `create_dataset` marks its draft with a token that it also keeps on
this machine, so a later push can prove the draft is its own and remove it; anybody else's
draft of the same name is left alone (`ForeignDraft`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
import warnings
from pathlib import Path

from curation import settings
from curation.argilla.errors import after_server_error, argilla_errors
from curation.errors import BadInput
from curation.processes import alive

DEFAULT_WORKSPACE = "curation"  # created on a server that has no workspace yet
DRAFT_MARK = "curation_push_draft"  # dataset metadata key holding the creating push's token


class ForeignDraft(BadInput):
    """An unpublished dataset of that name that no push from this machine created."""


def _workspace_names(client) -> dict[str, str]:
    return {str(w.id): w.name for w in client.api.workspaces.list()}


def find_dataset(client, name: str, workspace: str | None = None, *, drafts: bool = False):
    """The `argilla.Dataset` named `name` (in `workspace` if given), or None.

    Unpublished drafts are left out unless `drafts`. Several matches in different
    workspaces are an error that lists them.
    """
    with argilla_errors(f"looking up dataset {name!r}"):
        names = _workspace_names(client)
        if workspace is not None and workspace not in names.values():
            available = ", ".join(sorted(names.values())) or "none"
            raise BadInput(f"no workspace {workspace!r} on the server (available: {available})",
                           hint="create it with `curate users add NAME --workspace WS`, or leave out --workspace")
        matches = [
            m for m in client.api.datasets.list()
            if m.name == name and (workspace is None or names.get(str(m.workspace_id)) == workspace)
            and (drafts or m.status == "ready")
        ]
        if not matches:
            return None
        if len(matches) > 1:
            found = ", ".join(sorted(names.get(str(m.workspace_id), "?") for m in matches))
            raise BadInput(f"dataset {name!r} exists in several workspaces ({found})", hint="pass --workspace")
        return client.datasets(id=matches[0].id).get()  # get() loads the settings


def require_dataset(client, name: str, workspace: str | None = None):
    """Like `find_dataset`, but a missing dataset is a one-line error."""
    dataset = find_dataset(client, name, workspace)
    if dataset is None:
        where = f"workspace {workspace!r}" if workspace else "any workspace"
        raise BadInput(f"no Argilla dataset {name!r} in {where}",
                       hint="`curate push BATCH --dataset NAME` creates it")
    return dataset


def workspace_for_new(client, workspace: str | None, *, create: bool = True):
    """Where a new dataset goes: the named workspace; unnamed, the server's only one.

    With several workspaces and none named, refuse (rows must not reach another team's
    annotators by accident). On a server with none, create DEFAULT_WORKSPACE (if `create`).
    """
    import argilla as rg

    with argilla_errors("choosing the workspace"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns when a lookup finds nothing
        workspaces = list(client.workspaces)
        if workspace:
            found = next((w for w in workspaces if w.name == workspace), None)
            if found is None:
                available = ", ".join(sorted(w.name for w in workspaces)) or "none"
                raise BadInput(f"no workspace {workspace!r} on the server (available: {available})",
                               hint="create it with `curate users add NAME --workspace WS`, or leave out --workspace")
            return found
        if len(workspaces) > 1:
            names = ", ".join(sorted(w.name for w in workspaces))
            raise BadInput(f"the server has several workspaces ({names}); say which one gets the dataset",
                           hint="pass --workspace (or set ARGILLA_WORKSPACE)")
        if workspaces:
            return workspaces[0]
        if not create:
            return None
        return rg.Workspace(name=DEFAULT_WORKSPACE, client=client).create()


def check_target(client, name: str, workspace: str | None) -> None:
    """Fail now, before any work, if a push to dataset `name` could not decide where it goes."""
    if find_dataset(client, name, workspace) is None:
        workspace_for_new(client, workspace, create=False)


# Markers of the drafts this process is creating right now (pushes may run in threads of one
# process: a marker with our own pid is a killed push's only when no thread here still creates it).
_CREATING: set[str] = set()
_CREATING_LOCK = threading.Lock()


def _tokens_dir() -> Path:
    return settings.home() / "push-drafts"


def _draft_marker(client, dataset_id) -> Path | None:
    """The marker of the push on this machine that created the draft, or None if it is not ours."""
    response = client.api.http_client.get(f"/api/v1/datasets/{dataset_id}")
    response.raise_for_status()
    token = str((response.json().get("metadata") or {}).get(DRAFT_MARK) or "")
    marker = _tokens_dir() / token
    return marker if token.isalnum() and marker.is_file() else None


def _creator(marker: Path) -> int:
    """The pid written in a marker (0 if unreadable: creator unknown, treated as gone)."""
    try:
        return int(marker.read_text().split()[0])
    except (ValueError, IndexError, OSError):
        return 0


def settle_draft(client, name: str, workspace: str | None, wait: float = 60):
    """Deal with an unpublished dataset `name`: None when there is none (or it was ours and abandoned,
    now removed); the dataset once published when a push on this machine is still creating it.
    Anybody else's draft is refused (`ForeignDraft`)."""
    from curation.upstream.argilla import dataset_status

    with argilla_errors(f"looking up dataset {name!r}"):
        draft = find_dataset(client, name, workspace, drafts=True)
        if draft is None:
            return None
        if dataset_status(draft) == "ready":
            return draft
        marker = _draft_marker(client, draft.id)
        if marker is None:
            raise ForeignDraft(
                f"dataset {name!r} exists unpublished (a draft) and was not created by a push from here",
                hint="someone may be setting it up in Argilla: push to another --dataset, "
                "or delete the draft in Argilla if it is abandoned",
            )
        creator = _creator(marker)
        with _CREATING_LOCK:
            creating_here = marker.name in _CREATING
        if creating_here or (alive(creator) and creator != os.getpid()):
            return _published(client, name, draft.workspace.name, wait)  # another push is finishing it
        draft.delete()  # ours, left by a push that was killed
        marker.unlink(missing_ok=True)
        return None


def create_dataset(client, name: str, workspace, settings_obj, wait: float = 60) -> tuple[object, bool]:
    """(dataset, created): create and publish dataset `name` in `workspace` (an `rg.Workspace`)
    with `settings_obj`; if another push created it meanwhile, theirs once it is published."""
    token = secrets.token_hex(16)
    with _CREATING_LOCK:
        _CREATING.add(token)
    try:
        return _create_dataset(client, name, workspace, settings_obj, token, wait)
    finally:
        with _CREATING_LOCK:
            _CREATING.discard(token)


def _create_dataset(client, name: str, workspace, settings_obj, token: str, wait: float) -> tuple[object, bool]:
    import argilla as rg

    from curation.upstream.argilla import distribution_body, publish_created

    marker = _tokens_dir() / token
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{os.getpid()} {name}")  # kept if this process is killed: the next push removes the draft
    dataset = rg.Dataset(name=name, workspace=workspace, settings=settings_obj, client=client)
    body = {"name": name, "workspace_id": str(workspace.id), "metadata": {DRAFT_MARK: token}}
    if settings_obj.guidelines:
        body["guidelines"] = settings_obj.guidelines
    if settings_obj.distribution is not None:
        body["distribution"] = distribution_body(settings_obj.distribution)
    response = client.api.http_client.post("/api/v1/datasets", json=body)
    if response.is_error:
        marker.unlink(missing_ok=True)  # nothing was created
        # Another push is creating it: 409, or 500 when both passed the server's name check at
        # once and the database's unique index refused the second insert (argilla-server 2.8).
        if response.status_code == 409 or (
            response.status_code >= 500 and after_server_error(
                lambda: find_dataset(client, name, workspace.name, drafts=True)) is not None
        ):
            return _published(client, name, workspace.name, wait), False
        response.raise_for_status()
    try:
        published = publish_created(dataset, client, response.json())  # fields, questions, ...; then publish
        client.api.http_client.patch(f"/api/v1/datasets/{published.id}", json={"metadata": None})
    except BaseException:
        with contextlib.suppress(Exception):
            dataset.delete()  # our own draft: nobody else can use it
            marker.unlink(missing_ok=True)  # only once the draft is gone
        raise
    marker.unlink(missing_ok=True)
    return published, True


def _published(client, name: str, workspace: str, seconds: float):
    """Dataset `name` once its creator has published it."""
    deadline = time.monotonic() + seconds
    while True:
        dataset = find_dataset(client, name, workspace)
        if dataset is not None:
            return dataset
        if time.monotonic() > deadline:
            raise BadInput(f"dataset {name!r} is being created by someone else and was not published "
                           f"within {seconds:.0f} s", hint="run the command again in a moment")
        time.sleep(0.5)
