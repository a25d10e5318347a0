"""Sign-in tokens that end when the user's access ends.

Corrects argilla-server 2.8.0's `security/authentication/db/bearer_token_backend.py`, which
accepts any unexpired token it signed and loads the user *by the name in the token*, and
`contexts/accounts.py::generate_user_token`, which puts nothing in the token that changes when
the user's credentials do. So a UI session (a day, by default) survived a new password and a
new API key (`GET /api/v1/me` with it even returned the new key), and after a user was
deleted and another made under the same name, the old token signed in as the new user.

Here a token also carries `credentials`: an HMAC (under the server's token secret) of the
user's id, password hash and API key. A token is accepted only while a user with the token's
id exists and that HMAC still matches, so `curate users rotate-key`, `reset-password` and
`remove` end the user's sessions at once, with no table of sessions to keep: the check reads
the user row the upstream backend reads anyway. Tokens made before this was installed carry
no `credentials` and are refused (their holders sign in again once).

`install()` runs in every server process (`curation.server.app` builds the app through it),
so each uvicorn worker and production mode get the same rule.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Optional
from uuid import UUID

CLAIM = "credentials"
_DIGEST_CHARS = 32  # 128 bits of the HMAC: no collision to hope for, a short token


def credentials_version(user) -> str:
    """What changes whenever `user`'s password or API key does (or the id under the name)."""
    from curation.upstream.argilla_server import JWT

    message = "\0".join((str(user.id), user.password_hash or "", user.api_key or "")).encode()
    return hmac.new(JWT.secret.encode(), message, hashlib.sha256).hexdigest()[:_DIGEST_CHARS]


def generate_user_token(user) -> str:
    """argilla-server's token (identity, name, username, role, exp) plus the credentials version."""
    from curation.upstream.argilla_server import JWT, UserInfo

    return JWT.create(UserInfo(identity=str(user.id), name=user.first_name, username=user.username,
                               role=user.role, **{CLAIM: credentials_version(user)}))


async def user_of_token(db, claims: dict):
    """The user a decoded token still speaks for, or None: gone, or its credentials changed."""
    from curation.upstream.argilla_server import User

    try:
        user_id = UUID(str(claims.get("identity")))
    except ValueError:
        return None
    user = await User.get(db, user_id)
    if user is None or not hmac.compare_digest(str(claims.get(CLAIM, "")), credentials_version(user)):
        return None
    return user


async def _authenticate(self, request) -> Optional[tuple]:
    """BearerTokenAuthenticationBackend.authenticate, bound to the user's id and credentials."""
    from starlette.authentication import AuthCredentials

    from curation.upstream.argilla_server import JWT, UserInfo

    credentials = await self.scheme(request)
    if not credentials:
        return None
    user = await user_of_token(request.state.db, JWT.decode(credentials.credentials))
    if user is None:
        return None  # upstream's provider answers 401
    # The provider loads the request's user by this name: the name of the row found by id.
    return AuthCredentials(), UserInfo(username=user.username, name=user.first_name, role=user.role,
                                       identity=str(user.id))


def install() -> None:
    """Patch argilla-server in this process (idempotent): tokens made and checked as above."""
    from curation.upstream.argilla_server import BearerTokenAuthenticationBackend, accounts

    # Both the password sign-in (/api/v1/token) and the OAuth2 one call accounts.generate_user_token.
    accounts.generate_user_token = generate_user_token
    # The provider holds an instance made at import: patch the class, which that instance uses.
    BearerTokenAuthenticationBackend.authenticate = _authenticate
