"""Less work in a submit: the question settings it validates against are parsed with one adapter.

A submit costs argilla-server 2.8.0 about 20 ms of CPU on these machines, and one server process
runs everybody's calls on one core, so each millisecond spent here is one every other annotator
waits. Corrects models/database.py (site-packages is never edited): `Question.parsed_settings`
builds a pydantic `TypeAdapter(QuestionSettings)` (a schema build, about 1 ms) on every call, and
a submit's validation calls it once per question: py-spy put 6.6% of a search-and-submit cycle's
CPU there. Here one adapter per process validates them all, the same way.

`install()` runs in every server process (`curation.server.app.speed_up_writes`); idempotent. It
refuses an argilla-server whose property is not the one this correction was written for.
"""

from __future__ import annotations

from curation.upstream import UpstreamChanged


def _parsed_settings_with_one_adapter() -> property:
    from pydantic import TypeAdapter

    from argilla_server.api.schemas.v1.questions import QuestionSettings

    adapter = TypeAdapter(QuestionSettings)

    def parsed_settings(self):
        return adapter.validate_python(self.settings)

    parsed_settings.curation_fix = True
    return property(parsed_settings)


def install() -> None:
    """Install the correction in this process. Idempotent."""
    from curation.upstream.argilla_server import Question

    current = getattr(Question.__dict__.get("parsed_settings"), "fget", None)
    if getattr(current, "curation_fix", False):
        return
    if "TypeAdapter" not in getattr(getattr(current, "__code__", None), "co_names", ()):
        raise UpstreamChanged(f"argilla-server's Question.parsed_settings is not 2.8.0's: {__name__} was written "
                              "for that one")
    Question.parsed_settings = _parsed_settings_with_one_adapter()
