"""Annotator users who answer records through the SDK, the way the Argilla UI does."""

from __future__ import annotations

import secrets

import argilla as rg


def add_annotator(owner: rg.Argilla, workspace: str, username: str) -> rg.Argilla:
    """Create an annotator in `workspace` and return a client logged in as them."""
    user = rg.User(username=username, password=secrets.token_urlsafe(12), role="annotator", client=owner).create()
    user.add_to_workspace(owner.workspaces(workspace))
    # The SDK's User hides the API key; the owner may read it from the user resource.
    api_key = owner.api.http_client.get(f"/api/v1/users/{user.id}").json()["api_key"]
    return rg.Argilla(api_url=owner.api_url, api_key=api_key)


def answer(annotator: rg.Argilla, dataset: rg.Dataset, answers: dict[str, tuple[str, dict]]) -> None:
    """As `annotator`, answer records of the owner's `dataset` by id: `answers[id] = (status, {question: value})`.

    Status is submitted, discarded or draft; a discard may have no values.
    """
    ds = dataset  # the owner's view finds the records (annotators may not list all of them)
    me = annotator.me.id
    for record in ds.records(with_responses=False, with_suggestions=False):
        if record.id not in answers:
            continue
        status, values = answers[record.id]
        for question, value in (values or {next(iter(ds.settings.questions)).name: None}).items():
            record.responses.add(rg.Response(question, value, user_id=me, status=status))
        (model,) = record.responses.api_models()
        # The endpoint the Argilla UI calls when an annotator submits, discards or saves a draft.
        annotator.api.records.create_record_response(record._server_id, model)


def responses_snapshot(client: rg.Argilla, dataset: rg.Dataset) -> dict:
    """record id -> every response as stored (values, status, user, timestamps)."""
    from curation.argilla.records import iter_records

    return {
        item["external_id"]: sorted(
            (r["user_id"], r["status"], repr(r.get("values")), r["inserted_at"], r["updated_at"])
            for r in item.get("responses") or []
        )
        for item in iter_records(client, dataset.id, include=("responses",))
    }
