"""Options that carry a secret (--password, --api-key, --token, a database URL with a password).

A value typed on the command line shows in `ps` to every local user while the command runs,
so each such option also reads an environment variable and, given bare (`--token` with no
value), asks for the secret without echoing it. A secret typed on the command line still
works, with a one-line warning on stderr that never repeats the value.
"""

from __future__ import annotations

import click
from click.core import ParameterSource


def _typed(ctx: click.Context, param: click.Parameter, value) -> bool:
    return bool(value) and ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE


def warn_typed(option: str, instead: str) -> None:
    """The warning for secret `option` given on the command line: one line on stderr, no value."""
    click.echo(f"Warning: the value of {option} shows in `ps` while this command runs; {instead} instead.", err=True)


def secret_option_kwargs(option: str, *, envvar: str | None, what: str, confirm: bool = False) -> dict:
    """click.option keywords for secret `option`: read from `envvar`, asked for (hidden) when given
    bare, and a warning when typed after the option."""
    ways = f"set {envvar}, or pass a bare {option} to be asked for it" if envvar else \
        f"pass a bare {option} to be asked for it"

    def warn(ctx: click.Context, param: click.Parameter, value):
        if _typed(ctx, param, value):
            warn_typed(option, ways)
        return value

    kwargs = dict(prompt=what, prompt_required=False, hide_input=True, confirmation_prompt=confirm, callback=warn)
    if envvar:
        kwargs.update(envvar=envvar, show_envvar=True)
    return kwargs


def secret_option(*decls: str, envvar: str | None = None, what: str, confirm: bool = False, **kwargs):
    """A click option for a secret (see the module's docstring); `what` is the prompt."""
    return click.option(*decls, **secret_option_kwargs(decls[0], envvar=envvar, what=what, confirm=confirm), **kwargs)


def warn_database_password(option: str, envvar: str | None):
    """A click callback for a database URL option: warn when the URL typed holds a password."""
    def callback(ctx: click.Context, param: click.Parameter, value):
        if _typed(ctx, param, value):
            from curation.server.database import has_password

            try:
                holds = has_password(value)
            except Exception:  # not a URL at all: the command itself says so
                holds = False
            if holds:
                where = f"{envvar}, PGPASSWORD or ~/.pgpass" if envvar else "PGPASSWORD or ~/.pgpass"
                warn_typed(option, f"give the password by {where}")
        return value
    return callback
