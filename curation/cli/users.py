"""`curate users ...`: the people who review in Argilla."""

from __future__ import annotations

import json
from pathlib import Path

import click

from curation.cli.secret_options import secret_option, warn_database_password
from curation.cli.server import DATA_DIR_OPTION
from curation.errors import BadInput


@click.group()
def users() -> None:
    """Manage the people who review in Argilla: on the embedded server, or on any Argilla 2.x
    at ARGILLA_API_URL. Argilla lets only owners manage users: run these with an owner's key
    (the embedded server's own commands use its owner's key by themselves). For a server
    started with `curate server start --data-dir DIR`, pass the same --data-dir (or set
    CURATION_SERVER_DIR).

    \b
    Example:
      curate users add alice --workspace team      # prints alice's password once
      curate users list
      curate users reset-password alice            # prints the new password once
      curate users rotate-key alice                # prints the new API key once
      curate users remove alice --yes
    """


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["annotator", "admin", "owner"]), default="annotator",
              show_default=True, help="annotator: reviews records; admin: also manages datasets "
              "in its workspaces; owner: manages everything.")
@click.option("--workspace", required=True, envvar="ARGILLA_WORKSPACE", show_envvar=True,
              help="Workspace to add the user to; created if it does not exist.")
@secret_option("--password", envvar="CURATION_USER_PASSWORD", what="Password", confirm=True,
               help="The new user's password (8 to 100 characters); a bare --password asks for it "
               "(hidden). If omitted, one is generated and printed once.")
@DATA_DIR_OPTION
def add(name: str, role: str, workspace: str, password: str | None, data_dir: Path | None) -> None:
    """Create user NAME with a role and add it to a workspace.

    If NAME already exists, it is only added to the workspace; its role and password are left
    as they are.
    """
    from curation.argilla.users import add_user
    from curation.server.embedded import new_secret

    generated = password is None
    password = password or new_secret()
    created, ws_created = add_user(name, role=role, workspace=workspace, password=password, data_dir=data_dir)
    if ws_created:
        click.echo(f"Created workspace {workspace!r}.")
    if not created:
        click.echo(f"User {name!r} already exists; added to workspace {workspace!r} (role and password unchanged).")
        return
    click.echo(f"Created {role} {name!r} in workspace {workspace!r}.")
    if generated:
        click.echo(f"  password: {password}  (shown once: pass it on to {name})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {username, role, workspaces}.")
@DATA_DIR_OPTION
def list_(as_json: bool, data_dir: Path | None) -> None:
    """List every user with its role and workspaces (an owner sees every workspace)."""
    from dataclasses import asdict

    from curation.argilla.users import list_people

    people = list_people(data_dir)
    if as_json:
        click.echo(json.dumps([asdict(p) | {"workspaces": list(p.workspaces)} for p in people], indent=2))
        return
    width = max([len("NAME")] + [len(p.username) for p in people])
    click.echo(f"{'NAME':<{width}}  {'ROLE':<9}  WORKSPACES")
    for person in people:
        click.echo(f"{person.username:<{width}}  {person.role:<9}  {', '.join(person.workspaces) or '-'}")


@users.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@DATA_DIR_OPTION
def remove(name: str, yes: bool, data_dir: Path | None) -> None:
    """Delete user NAME. Their key, password and signed-in sessions stop working at once.

    Argilla deletes the user's responses with the user: export what you need first. Records
    that were completed only thanks to those responses are pending again (back in the review
    queue, counted pending by `curate status`); the command says how many, per dataset.
    """
    from curation.argilla.users import remove_user

    if not yes and not _confirmed(f"Delete user {name!r} and every response they gave "
                                  "(records they completed go back to pending)?"):
        raise BadInput(f"user {name!r} was not removed", hint="pass --yes to remove without being asked")
    datasets = remove_user(name, data_dir)
    click.echo(f"Removed user {name!r}.")
    if datasets is None:
        click.echo("The server did not say what became of their records (not a curate server): Argilla "
                   "deleted their responses, and records only they completed may still count as completed.",
                   err=True)
        return
    for dataset in datasets:
        click.echo(f"  {dataset.dataset}: {_count(dataset.responses, 'response')} deleted; "
                   f"{_count(dataset.pending_again, 'record')} they had completed "
                   f"{'is' if dataset.pending_again == 1 else 'are'} pending again.")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _confirmed(question: str) -> bool:
    try:
        return click.confirm(question, default=False)
    except click.Abort:  # no answer (end of input)
        return False


@users.command("reset-password")
@click.argument("name")
@secret_option("--password", what="New password", confirm=True,
               help="The new password (8 to 100 characters); a bare --password asks for it (hidden). "
               "If omitted, one is generated and printed once.")
@DATA_DIR_OPTION
def reset_password(name: str, password: str | None, data_dir: Path | None) -> None:
    """Give user NAME a new password; the old one stops working at once, and so do the
    browser sessions signed in before (on a curate server).

    The user's API key is unchanged: see `rotate-key`.
    """
    from curation.argilla.users import reset_password as reset
    from curation.server.embedded import new_secret

    generated = password is None
    password = password or new_secret()
    reset(name, password, data_dir)
    click.echo(f"Set a new password for {name!r}.")
    if generated:
        click.echo(f"  password: {password}  (shown once: pass it on to {name})")


@users.command("rotate-key")
@click.argument("name")
@click.option("--database-url", metavar="URL", callback=warn_database_password("--database-url", None),
              help="For a server other than the embedded one: its database (its ARGILLA_DATABASE_URL, "
              "e.g. postgresql+asyncpg://USER@HOST/argilla), which this machine must reach. Argilla's "
              "API cannot change a key, so the new key is written there.")
@DATA_DIR_OPTION
def rotate_key(name: str, database_url: str | None, data_dir: Path | None) -> None:
    """Replace user NAME's API key with a new one; the old key, and the user's signed-in
    browser sessions (on a curate server), are refused from then on.

    Works for the owner too: when NAME is the embedded server's owner, the key later `curate`
    commands read from its data folder is updated as well. For an embedded server started with
    --data-dir DIR, pass the same --data-dir; on another server, pass --database-url.
    """
    from curation.argilla.users import rotate_key as rotate

    rotated = rotate(name, database_url=database_url, data_dir=data_dir)
    click.echo(f"Rotated the API key of {name!r}; the old key no longer works.")
    if rotated.owner_file_updated:
        click.echo(f"  API key: {rotated.api_key}  (shown once)")
        click.echo("Later curate commands use the new key (stored in the server's data folder).")
    else:
        click.echo(f"  API key: {rotated.api_key}  (shown once: pass it on to {name})")
    if rotated.env_key_stale:
        click.echo("ARGILLA_API_KEY holds the old key: export ARGILLA_API_KEY=<the new key> for the next commands.",
                   err=True)
