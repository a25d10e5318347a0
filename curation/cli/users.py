"""`curate users ...`: the people who review in Argilla."""

from __future__ import annotations

import json

import click

from curation.errors import BadInput


@click.group()
def users() -> None:
    """Manage the people who review in Argilla: on the embedded server, or on any Argilla 2.x
    at ARGILLA_API_URL. Argilla lets only owners manage users: run these with an owner's key
    (the embedded server's own commands use its owner's key by themselves).

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
@click.option("--password", envvar="CURATION_USER_PASSWORD", show_envvar=True,
              help="The new user's password (8 to 100 characters). If omitted, one is generated "
              "and printed once.")
def add(name: str, role: str, workspace: str, password: str | None) -> None:
    """Create user NAME with a role and add it to a workspace.

    If NAME already exists, it is only added to the workspace; its role and password are left
    as they are.
    """
    from curation.argilla.users import add_user
    from curation.server.embedded import new_secret

    generated = password is None
    password = password or new_secret()
    created, ws_created = add_user(name, role=role, workspace=workspace, password=password)
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
def list_(as_json: bool) -> None:
    """List every user with its role and workspaces (an owner sees every workspace)."""
    from dataclasses import asdict

    from curation.argilla.users import list_people

    people = list_people()
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
def remove(name: str, yes: bool) -> None:
    """Delete user NAME. Their key and password stop working at once.

    Argilla deletes the user's responses with the user: export what you need first.
    """
    from curation.argilla.users import remove_user

    if not yes and not _confirmed(f"Delete user {name!r} and every response they gave?"):
        raise BadInput(f"user {name!r} was not removed", hint="pass --yes to remove without being asked")
    remove_user(name)
    click.echo(f"Removed user {name!r}.")


def _confirmed(question: str) -> bool:
    try:
        return click.confirm(question, default=False)
    except click.Abort:  # no answer (end of input)
        return False


@users.command("reset-password")
@click.argument("name")
@click.option("--password", help="The new password (8 to 100 characters). If omitted, one is "
              "generated and printed once.")
def reset_password(name: str, password: str | None) -> None:
    """Give user NAME a new password; the old one stops working for new sign-ins.

    Browser sessions signed in before keep working until their token expires (a day, by
    argilla-server's default). The user's API key is unchanged: see `rotate-key`.
    """
    from curation.argilla.users import reset_password as reset
    from curation.server.embedded import new_secret

    generated = password is None
    password = password or new_secret()
    reset(name, password)
    click.echo(f"Set a new password for {name!r}.")
    if generated:
        click.echo(f"  password: {password}  (shown once: pass it on to {name})")


@users.command("rotate-key")
@click.argument("name")
@click.option("--database-url", metavar="URL",
              help="For a server other than the embedded one: its database (its ARGILLA_DATABASE_URL, "
              "e.g. postgresql+asyncpg://USER@HOST/argilla), which this machine must reach. Argilla's "
              "API cannot change a key, so the new key is written there.")
def rotate_key(name: str, database_url: str | None) -> None:
    """Replace user NAME's API key with a new one; the old key is refused from then on.

    Works for the owner too: when NAME is the embedded server's owner, the key later `curate`
    commands read from its data folder is updated as well. On another server, pass
    --database-url.
    """
    from curation.argilla.users import rotate_key as rotate

    rotated = rotate(name, database_url=database_url)
    click.echo(f"Rotated the API key of {name!r}; the old key no longer works.")
    if rotated.owner_file_updated:
        click.echo(f"  API key: {rotated.api_key}  (shown once)")
        click.echo("Later curate commands use the new key (stored in the server's data folder).")
    else:
        click.echo(f"  API key: {rotated.api_key}  (shown once: pass it on to {name})")
    if rotated.env_key_stale:
        click.echo("ARGILLA_API_KEY holds the old key: export ARGILLA_API_KEY=<the new key> for the next commands.",
                   err=True)
