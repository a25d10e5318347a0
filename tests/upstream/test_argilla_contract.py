"""The private and undocumented names of the argilla SDK 2.8.0 that curation/argilla/ uses
(curation/upstream/argilla.py), each with the shape relied on, and the shim refusing another SDK in one line.

The low-level client's shape is read from the SDK's own classes, offline; creating and publishing a dataset with
our own request body runs against the real embedded server, as `curation.argilla.datasets.create_dataset` does.
"""

import inspect
import subprocess
import sys
import uuid

import argilla as rg
import httpx
import pytest
from argilla._api._client import ArgillaAPI

from curation.upstream import argilla as upstream
from tests.upstream.fake_version import ROOT, assert_refused_in_one_line, environment_with_version, import_with_version


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def method(cls, name: str):
    """`cls.name`, unwrapped from the SDK's `api_error_handler`, which wraps it without `functools.wraps`."""
    function = getattr(cls, name)
    for cell in function.__closure__ or ():
        inner = cell.cell_contents
        if inspect.isfunction(inner) and inner.__name__ == name:
            return inner
    return function


@pytest.mark.parametrize("error", ["ArgillaCredentialsError", "SettingsError"])
def test_sdk_errors_are_argilla_errors(error):
    assert issubclass(getattr(upstream, error), upstream.ArgillaError)


def test_a_refused_key_is_raised_as_the_credentials_error():
    # APIClient turns the 401 of its first call into ArgillaCredentialsError (curation.argilla.errors reads it).
    assert "raise ArgillaCredentialsError()" in inspect.getsource(rg.Argilla.__mro__[1].__init__)


@pytest.mark.parametrize("path, params", [
    ("users.list", ["self"]),
    ("workspaces.list", ["self"]),
    ("workspaces.list_by_user_id", ["self", "user_id"]),
    ("datasets.list", ["self", "workspace_id"]),
    ("datasets._model_from_json", ["self", "response_json"]),
    ("records.bulk_upsert", ["self", "dataset_id", "records"]),
])
def test_the_low_level_client_answers_what_curation_calls(path, params):
    api = ArgillaAPI(httpx.Client(base_url="http://127.0.0.1:9"))  # never called: no connection made
    assert isinstance(api.http_client, httpx.Client)
    holder, name = path.split(".")
    assert parameters(method(type(getattr(api, holder)), name)) == params


def test_a_client_carries_the_low_level_client():
    assert "self.api = ArgillaAPI(" in inspect.getsource(rg.Argilla.__mro__[1].__init__)


def test_a_record_has_its_api_model():
    record = rg.Record(fields={"text": "hello"})
    assert record.api_model().fields == {"text": "hello"}


def test_a_distribution_becomes_the_request_body():
    assert upstream.distribution_body(rg.TaskDistribution(min_submitted=2)) == {"strategy": "overlap",
                                                                                "min_submitted": 2}


def test_publishing_is_what_dataset_create_does_after_its_request():
    assert parameters(rg.Dataset._publish) == ["self"]
    # Resource.create sets `_model` from the server's answer; Dataset.create then publishes.
    assert "self._model = " in inspect.getsource(rg.Dataset.__mro__[1].create)
    assert "return self._publish()" in inspect.getsource(rg.Dataset.create)


def test_a_dataset_created_with_our_body_is_published(argilla_client):
    workspace = rg.Workspace(name=f"contract-{uuid.uuid4().hex[:6]}", client=argilla_client).create()
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="label", labels=["good", "bad"])])
    dataset = rg.Dataset(name="published-by-us", workspace=workspace, settings=settings, client=argilla_client)
    response = argilla_client.api.http_client.post("/api/v1/datasets", json={
        "name": "published-by-us", "workspace_id": str(workspace.id),
        "distribution": upstream.distribution_body(settings.distribution)})
    response.raise_for_status()
    draft = argilla_client.datasets("published-by-us", workspace=workspace)
    assert upstream.dataset_status(draft) == "draft"
    try:
        published = upstream.publish_created(dataset, argilla_client, response.json())
        assert upstream.dataset_status(published) == "ready"
        again = argilla_client.datasets("published-by-us", workspace=workspace)
        assert [f.name for f in again.settings.fields] == ["text"] and upstream.dataset_status(again) == "ready"
    finally:
        argilla_client.datasets("published-by-us", workspace=workspace).delete()
        workspace.delete()


def test_another_sdk_is_refused_in_one_line(tmp_path):
    result = import_with_version(tmp_path, "curation.upstream.argilla", "argilla", "9.9.9")
    assert_refused_in_one_line(result, "argilla", "9.9.9", "2.8.0")


def test_a_command_refuses_another_sdk_in_one_line_before_connecting(tmp_path):
    env = {**environment_with_version(tmp_path, "argilla", "9.9.9"),
           "ARGILLA_API_URL": "http://127.0.0.1:9", "ARGILLA_API_KEY": "not-a-key"}  # never reached
    result = subprocess.run([sys.executable, "-c", "from curation.cli import main; main()", "status", "any-dataset"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: argilla 9.9.9 is installed, but curation was written for argilla 2.8.0",
        "Hint: pip install 'argilla==2.8.0' in this environment",
    ]


def test_the_installed_sdk_is_accepted():
    assert upstream.VERSION == "2.8.0"
