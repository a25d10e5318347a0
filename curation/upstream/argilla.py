"""The argilla SDK 2.8.0: the private and undocumented names curation/argilla/ borrows.

Importing this module checks the installed version first (`curation.argilla.client.connect`
does, before every command reaches Argilla). What is borrowed (each checked by
tests/upstream/test_argilla_contract.py):

- `argilla._exceptions`: `ArgillaError` (every SDK failure), `ArgillaCredentialsError` (a key
  refused), `SettingsError` (a settings object the SDK rejects);
- creating a dataset with our own request body and publishing it as the SDK would
  (`publish_created`: `DatasetsAPI._model_from_json`, `Dataset._model`, `Dataset._publish`),
  a draft's status (`dataset_status`) and a task distribution's request body
  (`distribution_body`: `TaskDistribution._api_model`);
- the SDK's low-level client, undocumented but not underscored, used in place by the modules of
  curation/argilla/: `Argilla.api` with `http_client`, `users.list`, `workspaces.list`,
  `workspaces.list_by_user_id`, `datasets.list`, `records.bulk_upsert`, and `Record.api_model`.
"""

from __future__ import annotations

from curation.upstream import require

VERSION = require("argilla", "2.8.0")

# Imported after the version check, so another SDK fails on the line above, not on whichever of
# these it renamed.
from argilla._exceptions import ArgillaCredentialsError, ArgillaError, SettingsError

__all__ = ["ArgillaCredentialsError", "ArgillaError", "SettingsError", "VERSION", "dataset_status",
           "distribution_body", "publish_created"]


def dataset_status(dataset) -> str:
    """A dataset's status as the server last answered it: "draft" or "ready"."""
    return dataset._model.status


def distribution_body(distribution) -> dict:
    """A task distribution (`rg.TaskDistribution`) as the dataset-creation request's JSON carries it."""
    return distribution._api_model().model_dump()


def publish_created(dataset, client, created: dict):
    """Publish `dataset` (an `rg.Dataset` not yet created through the SDK) as the draft the server
    answered `created` with: its fields, questions, metadata and vectors, then publication, as
    `Dataset.create` does after its own request. Returns the published dataset."""
    dataset._model = client.api.datasets._model_from_json(created)
    return dataset._publish()
