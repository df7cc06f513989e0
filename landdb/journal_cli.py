"""`landdb journal verify|head` and `landdb db grant-app-role`: check the hash chain, print its
head, and set up the application's database role."""

from __future__ import annotations

import json
import sys

import click

from . import journal
from .config import Settings
from .db import session_scope


@click.group("journal")
def journal_group() -> None:
    """Check the tamper-evident journal of registered changes."""


@journal_group.command("verify")
@click.pass_obj
def journal_verify(settings: Settings) -> None:
    """Recompute the hash chain; exit 1 naming the first row that does not match."""
    with session_scope(settings) as session:
        result = journal.verify(session)
    if result.ok:
        click.echo(result.message())
        return
    click.echo(result.message(), err=True)
    sys.exit(1)


@journal_group.command("head")
@click.pass_obj
def journal_head(settings: Settings) -> None:
    """Print the newest row's seq, id, hash and time as JSON (keep it somewhere else)."""
    with session_scope(settings) as session:
        click.echo(json.dumps(journal.head(session)))


@click.command("grant-app-role")
@click.argument("role")
@click.option("--password", default=None, envvar="LANDDB_APP_PASSWORD",
              help="set the role's login password too (or LANDDB_APP_PASSWORD, kept off the command line)")
@click.option("--no-create", is_flag=True, help="fail instead of creating a missing role")
@click.pass_obj
def grant_app_role(settings: Settings, role: str, password: str | None, no_create: bool) -> None:
    """Give ROLE what the app needs: SELECT/INSERT/UPDATE on the register, only SELECT/INSERT
    on the journal (it can never alter or delete journal rows, nor disable their triggers).
    Run as the tables' owner; point the app's DATABASE_URL at ROLE."""
    with session_scope(settings) as session:
        for stmt in journal.grant_app_role(session, role, create=not no_create, password=password):
            click.echo(stmt)
