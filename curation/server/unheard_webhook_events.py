"""Webhook events of a submit built only when a webhook listens for them.

Corrects argilla_server/webhooks/v1/records.py and webhooks/v1/responses.py (2.8.0) as the
submit path calls them: `notify_record_event` and `notify_response_event` first build the event
(a query that loads the record's or response's dataset with its workspace, fields, questions,
metadata properties and vector settings: six statements, then a pydantic dump) and only then
ask whether any enabled webhook wants it. A submit notifies two or three events, so with no
webhook at all (the usual case) half of its 41 SQL statements built events nobody received,
on the one event loop that also answers every other annotator.

Here the enabled webhooks are read first (one statement, as upstream reads them anyway) and the
event is built, exactly as upstream builds it, only when one of them subscribes to it.

Replaced where the submit path binds them: `notify_record_event_v1` in contexts/distribution.py
(a record's status after each response) and `notify_response_event_v1` in contexts/datasets.py
(response created, updated, upserted). Other callers (bulk record pushes) keep upstream's: their
later serialization may rely on what building the event loaded into the session.
"""

from __future__ import annotations

import functools

from curation.upstream import UpstreamChanged

# (module, name it binds, upstream module and function it must be): the submit path's callers,
# as curation.upstream.argilla_server names those modules.
REPLACED = (
    ("distribution", "notify_record_event_v1", "record_webhooks", "notify_record_event"),
    ("datasets_context", "notify_response_event_v1", "response_webhooks", "notify_response_event"),
)


async def is_heard(db, event) -> bool:
    """Whether an enabled webhook subscribes to `event` (upstream's own test, made first)."""
    from curation.upstream.argilla_server import webhooks

    return any(event in webhook.events for webhook in await webhooks.list_enabled_webhooks(db))


def _when_heard(notify):
    @functools.wraps(notify)
    async def notify_when_heard(db, event, resource):
        if not await is_heard(db, event):
            return []  # what upstream returns when no webhook takes the event
        return await notify(db, event, resource)

    notify_when_heard.curation_fix = True
    return notify_when_heard


def install() -> None:
    """Wrap the submit path's webhook notifications in this process. Idempotent."""
    from curation.upstream import argilla_server as upstream

    for module_name, name, upstream_module, upstream_name in REPLACED:
        module = getattr(upstream, module_name)
        current = getattr(module, name, None)
        if getattr(current, "curation_fix", False):
            continue
        if current is None or current is not getattr(getattr(upstream, upstream_module), upstream_name, None):
            raise UpstreamChanged(f"{module.__name__}.{name} is not argilla-server 2.8.0's "
                                  f"{getattr(upstream, upstream_module).__name__}.{upstream_name}: "
                                  f"{__name__} was written for that one")
        setattr(module, name, _when_heard(current))
