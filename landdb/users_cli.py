"""`landdb users create|list|disable|reset-password`: accounts of the web application."""

from __future__ import annotations

import sys

import click

from . import users
from .config import Settings
from .db import session_scope


@click.group("users")
def users_group() -> None:
    """Create, list, disable web-application accounts and reset their passwords."""


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password from standard input (first line), or a new random one (then shown once)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return users.new_password(), True


@users_group.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(users.ROLES),
              help="officer and admin read owners (each read logged); viewer reads rights without owners")
@click.option("--name", "full_name", default="", help="the person's full name, shown in the application")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input instead of making one")
@click.pass_obj
def users_create(settings: Settings, username: str, role: str, full_name: str, password_stdin: bool) -> None:
    """Make an account; without --password-stdin a random password is printed once."""
    password, generated = _password(password_stdin)
    with session_scope(settings) as session:
        row = users.create_user(session, username, role, password, full_name)
        line = f"user {row.id} {row.username!r}, role {row.role}"
    if generated:
        click.echo(password)
        click.echo(f"{line}: store the password above now, it will not be shown again.", err=True)
    else:
        click.echo(line)


@users_group.command("list")
@click.pass_obj
def users_list(settings: Settings) -> None:
    """Show each account's id, user name, name, role, last sign-in, lock and state (never a hash)."""
    with session_scope(settings) as session:
        rows = [
            (str(u.id), u.username, u.full_name or "-", u.role,
             f"{u.last_sign_in_at:%Y-%m-%d %H:%M}" if u.last_sign_in_at else "-",
             f"{u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until else "-",
             "disabled" if u.disabled_at else "active")
            for u in users.list_users(session)
        ]
    header = ("ID", "USER", "NAME", "ROLE", "LAST SIGN-IN (UTC)", "LOCKED UNTIL (UTC)", "STATE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


@users_group.command("disable")
@click.argument("user")
@click.pass_obj
def users_disable(settings: Settings, user: str) -> None:
    """Disable an account (by id or user name): its sessions end at their next request."""
    with session_scope(settings) as session:
        row = users.disable_user(session, user)
        line = f"disabled user {row.id} {row.username!r}"
    click.echo(line)


@users_group.command("reset-password")
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="read the new password from standard input")
@click.pass_obj
def users_reset_password(settings: Settings, user: str, password_stdin: bool) -> None:
    """Set a new password (printed once unless read from stdin), lift a lock, end open sessions."""
    password, generated = _password(password_stdin)
    with session_scope(settings) as session:
        row = users.reset_password(session, user, password)
        line = f"new password for user {row.id} {row.username!r}"
    if generated:
        click.echo(password)
        click.echo(f"{line}: store it now, it will not be shown again.", err=True)
    else:
        click.echo(line)
