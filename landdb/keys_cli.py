"""`landdb keys create|list|revoke|access-log`: API keys (the plaintext shown once) and who read personal data."""

from __future__ import annotations

import datetime as dt

import click

from . import auth
from .config import Settings
from .db import session_scope


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(auth.KEY_ROLES),
              help="officer and admin hold every scope; integration only those given")
@click.option("--name", required=True, help="who or what uses the key, e.g. 'Notary office 3'")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(auth.SCOPES),
              help="for integration keys; repeat for several")
@click.pass_obj
def keys_create(settings: Settings, role: str, name: str, scopes: tuple[str, ...]) -> None:
    """Make a key and print it once: only its hash is kept."""
    with session_scope(settings) as session:
        plaintext, row = auth.create_key(session, name, role, scopes)
        key_id, prefix, stored = row.id, row.prefix, list(row.scopes)
    click.echo(plaintext)
    held = "every scope" if role in auth.ALL_SCOPE_ROLES else (", ".join(
        sorted(set(stored) | auth.PUBLIC_SCOPES, key=auth.SCOPES.index)))
    click.echo(
        f"key {key_id} ({prefix}…) for {name!r}, role {role}: {held}.\n"
        "Store it now: it will not be shown again (only its hash is kept). "
        "Send it as `Authorization: Bearer <key>`.",
        err=True,
    )


@keys.command("list")
@click.option("--active", is_flag=True, help="leave out revoked keys")
@click.pass_obj
def keys_list(settings: Settings, active: bool) -> None:
    """Show every key's id, name, prefix, role, scopes and dates (never the key or its hash)."""
    with session_scope(settings) as session:
        rows = [
            (str(k.id), k.name, k.prefix + "…", k.role,
             "all" if k.role in auth.ALL_SCOPE_ROLES else ",".join(k.scopes) or "-",
             f"{k.created_at:%Y-%m-%d %H:%M}",
             f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-")
            for k in auth.list_keys(session, include_revoked=not active)
        ]
    header = ("ID", "NAME", "PREFIX", "ROLE", "SCOPES", "CREATED (UTC)", "REVOKED (UTC)")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


@keys.command("revoke")
@click.argument("id_or_prefix")
@click.pass_obj
def keys_revoke(settings: Settings, id_or_prefix: str) -> None:
    """Revoke the key with this id or prefix: refused from its next request on."""
    with session_scope(settings) as session:
        row = auth.revoke_key(session, id_or_prefix)
        line = f"revoked key {row.id} ({row.prefix}…) {row.name!r} at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    click.echo(line)


@keys.command("access-log")
@click.option("--key", "key_ref", default=None, help="only this key (id or prefix)")
@click.option("--since", type=click.DateTime(), default=None, help="only reads from this time on (UTC)")
@click.pass_obj
def keys_access_log(settings: Settings, key_ref: str | None, since) -> None:
    """Show who read personal data: time, key, role, endpoint, parcel and party ids, address."""
    with session_scope(settings) as session:
        key_id = auth.find_key(session, key_ref).id if key_ref else None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
        for e in auth.access_log(session, since=since, key_id=key_id):
            click.echo("\t".join([
                f"{e.at:%Y-%m-%d %H:%M:%S}", str(e.api_key_id or "-"), e.role, e.endpoint,
                "parcels=" + ",".join(map(str, e.parcel_ids)), "parties=" + ",".join(map(str, e.party_ids)),
                str(e.client_addr or "-"),
            ]))
