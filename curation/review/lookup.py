"""Find a dataset by name, in one workspace or in whichever workspace holds it."""

from __future__ import annotations

from curation.errors import BadInput


def find_dataset(client, name: str, workspace: str | None = None):
    """The `argilla.Dataset` named `name` (in `workspace` if given), or None if there is none."""
    matches = [m for m in client.api.datasets.list() if m.name == name]
    if workspace is not None:
        ws = client.workspaces(name=workspace)
        matches = [m for m in matches if ws is not None and m.workspace_id == ws.id]
    if not matches:
        return None
    if len(matches) > 1:
        names = ", ".join(sorted(client.workspaces(id=m.workspace_id).name for m in matches))
        raise BadInput(f"dataset {name!r} exists in several workspaces ({names})", hint="pass --workspace")
    from argilla import Dataset

    return Dataset.from_model(model=matches[0], client=client).get()  # get() loads the settings


def require_dataset(client, name: str, workspace: str | None = None):
    """Like `find_dataset`, but a missing dataset is a one-line error."""
    dataset = find_dataset(client, name, workspace)
    if dataset is None:
        where = f" in workspace {workspace!r}" if workspace else ""
        raise BadInput(f"no dataset {name!r}{where} on the server", hint="`curate push BATCH --dataset NAME` creates it")
    return dataset
