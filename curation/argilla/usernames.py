"""User id -> username, for reports and provenance columns."""

from __future__ import annotations

from curation.argilla.errors import translate
from curation.errors import AccessRefused


class Usernames:
    """user id -> username, fetched once. Only owners may list every user: for others, ids
    stay as they are (they still identify annotators), while a lost server is still an error."""

    def __init__(self, client):
        try:
            self._names = {str(u.id): u.username for u in client.api.users.list()}
        except Exception as exc:
            mapped = translate(exc, "listing the users")
            if not isinstance(mapped, AccessRefused) or "403" not in str(mapped):
                raise (mapped or exc) from None
            self._names = {}

    def __call__(self, user_id: str) -> str:
        return self._names.get(str(user_id), str(user_id))
