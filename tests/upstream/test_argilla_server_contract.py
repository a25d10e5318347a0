"""The argilla-server 2.8.0 internals that our server modules use (curation/upstream/argilla_server.py), each with the
shape relied on, and the shim refusing another argilla-server in one line. Runs in the server's environment (it
imports argilla_server); what the patches built on these names do is tested on the real server in tests/server/.
"""

import inspect

import argilla_server  # noqa: F401  (this file runs in the server's environment)
import pytest

import curation.upstream.argilla_server as upstream
from tests.upstream.fake_version import assert_refused_in_one_line, import_with_version


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


# (name in the shim, parameters relied on): the functions our modules call or replace, as they call them.
FUNCTIONS = [
    ("record_handlers.get_record", ["db", "record_id", "current_user"]),  # the fix keeps its dependencies
    ("record_handlers.authorize", ["actor", "policy_action"]),
    ("record_handlers.RecordPolicy.get", ["record"]),
    ("Record.get_or_raise", ["db", "id", "options"]),
    ("distribution._update_record_status", ["db", "record"]),  # record_status_lock
    ("distribution.unsafe_update_records_status", ["db", "records"]),  # user_removal
    ("notify_record_event", ["db", "record_event", "record"]),
    ("response_webhooks.notify_response_event", ["db", "response_event", "response"]),
    ("webhooks.list_enabled_webhooks", ["db"]),  # unheard_webhook_events
    ("_get_async_db", ["isolation_level"]),
    ("get_search_engine", []),
    ("JWT.create", ["user"]),  # sessions
    ("JWT.decode", ["token"]),
    ("BearerTokenAuthenticationBackend.authenticate", ["self", "request"]),
    ("accounts.generate_user_token", ["user"]),
    ("accounts.delete_user", ["db", "user"]),  # user_removal
    ("accounts.get_user_by_username", ["db", "username"]),  # app: the owner
    ("accounts.hash_password", ["password"]),
    ("User.get", ["db", "id", "options"]),
    ("migrate_db", ["revision"]),  # app: setup, import-sqlite
    ("generate_user_api_key", []),  # curation/argilla/users.py: users rotate-key
    ("Reindexer.reindex_dataset", ["db", "search_engine", "dataset_id"]),  # reindex
    ("Reindexer.reindex_dataset_records", ["db", "search_engine", "dataset"]),
]


def resolve(name: str):
    value = upstream
    for part in name.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.parametrize("name, params", FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_functions_take_what_curation_passes(name, params):
    assert parameters(resolve(name)) == params


@pytest.mark.parametrize("name", ["_get_async_db", "get_search_engine"])
def test_sessions_and_engines_come_from_async_generators(name):
    assert inspect.isasyncgenfunction(resolve(name))


def test_update_record_status_is_the_serializable_one_record_status_lock_replaces():
    upstream_function = upstream.distribution.update_record_status.__wrapped__  # under backoff
    assert "SERIALIZABLE" in upstream_function.__code__.co_consts
    assert parameters(upstream_function) == ["search_engine", "record_id"]


@pytest.mark.parametrize("module, name, webhook_module, webhook_name", [
    ("distribution", "notify_record_event_v1", "record_webhooks", "notify_record_event"),
    ("datasets_context", "notify_response_event_v1", "response_webhooks", "notify_response_event"),
])
def test_the_submit_path_binds_the_webhook_notifications(module, name, webhook_module, webhook_name):
    assert getattr(resolve(module), name) is getattr(resolve(webhook_module), webhook_name)


def test_retry_budget_is_seconds():
    assert isinstance(upstream.MAX_TIME_RETRY_SQLALCHEMY_ERROR, (int, float)) and upstream.MAX_TIME_RETRY_SQLALCHEMY_ERROR > 0


def test_the_relationships_loaded_exist():
    # The fix loads Vector.vector_settings through Record.vectors; record_status_lock loads responses_submitted.
    for attribute in (upstream.Record.vectors, upstream.Vector.vector_settings, upstream.Record.responses_submitted,
                      upstream.Record.dataset, upstream.Record.responses, upstream.Record.suggestions):
        assert attribute.property is not None


def test_enums_have_the_members_used():
    assert {upstream.RecordEvent.updated, upstream.RecordEvent.completed}
    assert {upstream.RecordStatus.pending, upstream.RecordStatus.completed}
    assert upstream.UserRole.owner


def test_tokens_carry_an_extra_claim():
    info = upstream.UserInfo(identity="1", name="A", username="a", role="owner", credentials="x")
    assert info["credentials"] == "x" and info.username == "a"
    assert isinstance(upstream.JWT.secret, str)


def test_not_found_is_the_error_for_a_missing_record():
    assert issubclass(upstream.NotFoundError, Exception)


def test_search_engines_are_registered_by_name():
    assert isinstance(upstream.SearchEngine.registered_classes, dict)


@pytest.mark.parametrize("name", sorted(set(upstream.__all__) | set(upstream._FROM_CLI)))
def test_every_name_the_shim_lends_exists(name):
    assert resolve(name) is not None


@pytest.mark.parametrize("engine", ["curation.server.search_engine:SQLiteSearchEngine",
                                    "curation.server.noop_engine:NoopSearchEngine"])
def test_our_search_engines_implement_the_whole_interface(engine):
    """An argilla-server whose SearchEngine asks for a method ours lack would fail here, not on a request."""
    import importlib

    module, name = engine.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, upstream.SearchEngine) and not cls.__abstractmethods__
    for method in upstream.SearchEngine.__abstractmethods__:
        ours = inspect.signature(getattr(cls, method)).parameters
        theirs = inspect.signature(getattr(upstream.SearchEngine, method)).parameters
        # Ours take every argument argilla-server passes; any more of ours are optional.
        assert list(theirs) == [name for name in ours if name in theirs], method
        assert all(ours[name].default is not inspect.Parameter.empty for name in ours if name not in theirs), method


def test_the_processes_find_their_connections():
    assert upstream.DatabaseModel.metadata.sorted_tables
    for name in ("sync_engine", "async_engine", "AsyncSessionLocal", "DEFAULT_QUEUE", "HIGH_QUEUE", "REDIS_CONNECTION"):
        assert resolve(name) is not None


def test_another_argilla_server_is_refused_in_one_line(tmp_path):
    result = import_with_version(tmp_path, "curation.upstream.argilla_server", "argilla-server", "9.9.9")
    assert_refused_in_one_line(result, "argilla-server", "9.9.9", "2.8.0")


def test_the_installed_argilla_server_is_accepted():
    assert upstream.VERSION == "2.8.0"
