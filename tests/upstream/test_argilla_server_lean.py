"""The submit path's corrections install on argilla-server 2.8.0 once: question settings parsed with one
adapter (`curation.server.lean_requests`), and API reads that yield to writes in front of its app
(`curation.server.writes_first`, whose rule tests/server/test_writes_first.py checks). bench/team.py
measures what they change."""

from pydantic import TypeAdapter

from curation.server import lean_requests, writes_first
from curation.upstream.argilla_server import Question

SETTINGS = {"type": "label_selection", "options": [{"value": "good", "text": "good"}, {"value": "bad", "text": "bad"}],
            "visible_options": None}


def test_question_settings_parse_as_upstream_parses_them_with_one_adapter():
    from argilla_server.api.schemas.v1.questions import QuestionSettings

    lean_requests.install()
    fixed = Question.__dict__["parsed_settings"]
    assert fixed.fget.curation_fix
    lean_requests.install()
    assert Question.__dict__["parsed_settings"] is fixed  # idempotent
    question = Question(name="label", title="Label", settings=SETTINGS)
    assert question.parsed_settings == TypeAdapter(QuestionSettings).validate_python(SETTINGS)


def test_reads_yield_to_writes_in_front_of_argilla_servers_app_once():
    from argilla_server._app import create_server_app

    app = create_server_app()
    writes_first.install(app)
    writes_first.install(app)
    assert [m.cls for m in app.user_middleware].count(writes_first.WritesFirst) == 1
