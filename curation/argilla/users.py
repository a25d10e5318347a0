"""People in Argilla: add, list and remove users, reset a password, rotate an API key.

argilla-server 2.x lets only an owner manage users, over these endpoints: create
(POST /api/v1/users), list, delete, and PATCH /api/v1/users/{id}, which changes the password
but not the API key. No endpoint sets or regenerates a key (the key is made once, when the
user is created). `rotate_key` therefore writes a new key into the server's database with
argilla-server's own model, after checking through the API that the caller may manage users
and that the user exists: the embedded server's database, or for a server elsewhere the one
named by `database_url`. Deleting and re-creating the user instead is not an option: the
server deletes a user's responses with the user.

Every call takes `data_dir`, the embedded server's data folder (default: CURATION_SERVER_DIR's),
used when ARGILLA_API_URL is not set and by `rotate_key` to find that server's database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from curation import settings
from curation.argilla.client import connect
from curation.argilla.errors import argilla_errors
from curation.errors import ArgillaUnavailable, BadInput
from curation.server import environment
from curation.server.user_removal import HEADER as REMOVAL_HEADER

ROLES = ("annotator", "admin", "owner")
PASSWORD_LENGTH = (8, 100)  # argilla-server's limits
WORKSPACE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")  # what the SDK and the server's URLs accept
LIST_HINT = "`curate users list` shows who is on the server"
DATABASE_HINT = "--database-url must be the database of the server at ARGILLA_API_URL"


class UnknownUser(BadInput):
    """No user by that name on the server."""


@dataclass(frozen=True)
class Person:
    """A user as `curate users list` shows it (never with its key)."""

    username: str
    role: str
    workspaces: tuple[str, ...]


@dataclass(frozen=True)
class DatasetAfterRemoval:
    """What a user's removal did in one dataset: their responses went, records reopened."""

    dataset: str  # workspace/name
    responses: int  # the removed user's responses deleted with them
    pending_again: int  # records that were completed and are pending again


@dataclass(frozen=True)
class RotatedKey:
    api_key: str = field(repr=False)
    owner_file_updated: bool  # the embedded server's owner.json held this user's key: now the new one
    env_key_stale: bool  # ARGILLA_API_KEY held the old key: the caller must export the new one


def check_name(name: str) -> None:
    if not name.strip():
        raise BadInput("the user name must not be empty")
    if any(c.isspace() for c in name):
        raise BadInput(f"invalid user name {name!r}: it must not contain spaces")


def check_password(password: str) -> None:
    low, high = PASSWORD_LENGTH
    if len(password) < low:
        raise BadInput(f"the password must have at least {low} characters")
    if len(password) > high:
        raise BadInput(f"the password must have at most {high} characters")


def check_workspace_name(workspace: str) -> None:
    if not WORKSPACE_NAME.match(workspace):
        raise BadInput(f"invalid workspace name {workspace!r}: use only letters, digits, '-' and '_'")


def find_user(client, name: str):
    """The `argilla.User` called `name`; UnknownUser if there is none."""
    with argilla_errors(f"looking up user {name!r}"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns when a lookup finds nothing
        user = client.users(username=name)
    if user is None:
        raise UnknownUser(f"no user {name!r} on the Argilla server", hint=LIST_HINT)
    return user


def add_user(name: str, *, role: str, workspace: str, password: str,
             data_dir: Path | None = None) -> tuple[bool, bool]:
    """Create the user (unless it exists) and make it a member of `workspace` (created if
    needed). Returns (user created, workspace created)."""
    import argilla as rg

    check_name(name)
    check_workspace_name(workspace)
    check_password(password)
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r} (choose from {', '.join(ROLES)})")
    client = connect(data_dir)
    with argilla_errors(f"adding user {name!r} to workspace {workspace!r}"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns when a lookup finds nothing
        ws = client.workspaces(name=workspace)
        user = client.users(username=name)
        ws_created = ws is None
        if ws is None:
            ws = rg.Workspace(name=workspace, client=client).create()
        created = user is None
        if user is None:
            user = rg.User(username=name, role=role, password=password, client=client).create()
        if name not in {member.username for member in ws.users}:
            user.add_to_workspace(ws)
    return created, ws_created


def list_people(data_dir: Path | None = None) -> list[Person]:
    """Every user with its role and workspaces (an owner's: every workspace), oldest first."""
    client = connect(data_dir)
    with argilla_errors("listing the users"):
        people = []
        for user in client.api.users.list():
            names = sorted(w.name for w in client.api.workspaces.list_by_user_id(user.id))
            people.append(Person(username=user.username, role=str(user.role.value), workspaces=tuple(names)))
    return people


def remove_user(name: str, data_dir: Path | None = None) -> list[DatasetAfterRemoval] | None:
    """Delete user `name`; the server deletes the user's responses with it.

    Our server (`curation.server.user_removal`) then puts the records back in the queue that
    were completed and are not any more, and says per dataset what it did: returned here. None:
    the server did not say (another Argilla), so those records may still count as completed.
    """
    check_name(name)
    client = connect(data_dir)
    user = find_user(client, name)
    with argilla_errors("checking whose key this is"):
        me = client.me.username
    if me == name:
        raise BadInput(f"{name!r} is the user whose API key this command runs with; it cannot remove itself",
                       hint="run it with another owner's key")
    with argilla_errors(f"removing user {name!r}"):
        # The SDK's user.delete() drops the answer's headers, which carry the report.
        answer = client.api.http_client.delete(f"/api/v1/users/{user.id}")
        answer.raise_for_status()
    report = answer.headers.get(REMOVAL_HEADER)
    if report is None:
        return None
    return [DatasetAfterRemoval(**entry) for entry in json.loads(report)]


def reset_password(name: str, password: str, data_dir: Path | None = None) -> None:
    """Give user `name` a new password (the server's PATCH /api/v1/users/{id})."""
    check_name(name)
    check_password(password)
    client = connect(data_dir)
    user = find_user(client, name)
    with argilla_errors(f"setting the password of {name!r}"):
        user.password = password
        user.update()


def rotate_key(name: str, *, database_url: str | None = None, data_dir: Path | None = None) -> RotatedKey:
    """Replace user `name`'s API key with a new one; the old one is refused from then on.

    The database is the embedded server's (when that is the server in use; PostgreSQL when it
    was started with --database) or `database_url`.
    When the user is the embedded server's owner, owner.json gets the new key too, so later
    `curate` commands keep working.
    """
    from curation.server import database, embedded

    check_name(name)
    client = connect(data_dir)
    user = find_user(client, name)  # as the owner: others get HTTP 403 here, before any write
    with argilla_errors("checking whose key this is"):
        own_key = client.me.id == user.id
    server_dir = None
    if database_url is None:
        server_dir = _embedded_data_dir(client.api_url, data_dir)
        # Production mode's folder names its PostgreSQL database; else its own SQLite one.
        database_url = database.stored_url(server_dir) or database.sqlite_url(server_dir)
    new_key = _write_new_key(database_url, str(user.id), home=server_dir, given=server_dir is None)
    updated = server_dir is not None and embedded.update_owner_key(server_dir, name, new_key)
    env_key_stale = own_key and settings.argilla_api_url() is not None  # connect() used ARGILLA_API_KEY
    return RotatedKey(api_key=new_key, owner_file_updated=updated, env_key_stale=env_key_stale)


def _embedded_data_dir(api_url: str, data_dir: Path | None) -> Path:
    """The data folder of the embedded server at `api_url`; BadInput for any other server."""
    from curation.server import embedded

    info = embedded.status(data_dir)
    if info is not None and info.url.rstrip("/") == api_url.rstrip("/"):
        return info.data_dir
    raise BadInput(
        f"the Argilla API cannot change an API key (argilla-server 2.x has no endpoint for it) "
        f"and {api_url} is not the embedded server of {embedded.resolve_data_dir(data_dir)}",
        hint="for a server started with `curate server start --data-dir DIR`, pass the same --data-dir; "
        "for another, run it where that server's database is reachable, with --database-url set to "
        "the server's ARGILLA_DATABASE_URL (e.g. postgresql+asyncpg://USER@HOST/argilla)",
    )


def _write_new_key(database_url: str, user_id: str, *, home: Path | None, given: bool) -> str:
    """Run `_set_new_key` in a process of its own (argilla-server reads its database settings
    from the environment once, at import). `given`: the user named the database, so a failure
    to use it is theirs to fix."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARGILLA_")}
        # argilla-server creates its home folder at import: the server's own, else a throwaway one.
        env.update(ARGILLA_DATABASE_URL=database_url, ARGILLA_HOME_PATH=str(home or scratch))
        done = subprocess.run(
            [environment.python(), "-m", "curation.argilla.users"], input=json.dumps({"user_id": user_id}).encode(),
            capture_output=True, env=env, umask=0o077,  # SQLite's journal beside a private database
        )
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    result = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    if result is None:
        errors = done.stderr.decode(errors="replace").strip().splitlines()
        reason = _hide_password(errors[-1] if errors else f"exit status {done.returncode}", database_url)
        if given:
            raise BadInput(f"could not write the new key into the database of --database-url: {reason}",
                           hint=DATABASE_HINT)
        raise ArgillaUnavailable(f"could not write the new key into the server's database: {reason}")
    if "error" in result:
        raise BadInput(result["error"], hint=DATABASE_HINT)
    return result["api_key"]


def _hide_password(text: str, database_url: str) -> str:
    from curation.server.database import password_of

    password = password_of(database_url)
    return text.replace(password, "***") if password else text


async def _set_new_key(user_id: str) -> dict:
    """In the database of ARGILLA_DATABASE_URL: give the user a new key, made as argilla-server makes them."""
    from uuid import UUID

    from curation.upstream.argilla_server import AsyncSessionLocal, User, generate_user_api_key

    async with AsyncSessionLocal() as session:
        user = await User.get(session, UUID(user_id))
        if user is None:
            return {"error": "the user the API names is not in that database"}
        api_key = generate_user_api_key()
        await user.update(session, api_key=api_key)
        return {"api_key": api_key}


if __name__ == "__main__":
    import asyncio

    request = json.load(sys.stdin)
    sys.stdout.write("\n" + json.dumps(asyncio.run(_set_new_key(request["user_id"]))) + "\n")
