"""The `landdb` command: thin click commands over the core's functions."""

from __future__ import annotations

import sys

import click

from . import migrate, server
from .config import Settings
from .db import get_engine, session_scope
from .errors import LandDBError


class _Group(click.Group):
    """Turns the core's errors into a one-line message and exit status 1, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LandDBError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.pass_context
def main(ctx: click.Context) -> None:
    """landdb — the land database of Hạ Long."""
    ctx.obj = Settings.from_env()


# --- db ---------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Create, upgrade and inspect the database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(settings: Settings, revision: str) -> None:
    """Migrate the schema to REVISION (default: head) and sync the reference tables."""
    migrate.upgrade(settings.database_url, revision)
    if revision == "head":
        from .reference import sync_reference_data

        with session_scope(settings) as session:
            counts = sync_reference_data(session)
        click.echo("reference data: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    click.echo(f"database at {migrate.current_revision(get_engine(settings))}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_obj
def db_downgrade(settings: Settings, revision: str) -> None:
    """Take the schema back to REVISION (`base` removes every landdb table and function)."""
    migrate.downgrade(settings.database_url, revision)
    click.echo(f"database at {migrate.current_revision(get_engine(settings)) or 'base'}")


@db.command("current")
@click.pass_obj
def db_current(settings: Settings) -> None:
    """Print the schema's revision and the newest one available."""
    current = migrate.current_revision(get_engine(settings))
    head = migrate.head_revision(settings.database_url)
    click.echo(f"current: {current or 'base'}  head: {head}")


@db.command("check")
@click.pass_obj
def db_check(settings: Settings) -> None:
    """Check that the serving layer (what the public reads) equals what the register computes."""
    from .query import serving

    with session_scope(settings) as session:
        result = serving.check(session)
    if not result.ok:
        click.echo(f"serving layer: {result.rows} parcels, {result.stale} stale or extra, {result.missing} missing"
                   f" (e.g. {', '.join(result.examples)})", err=True)
        sys.exit(1)
    click.echo(f"serving layer: {result.rows} parcels, in step with the register")


# --- serve ------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--server", "server_name", type=click.Choice(server.SERVERS), default=server.DEFAULT_SERVER,
              show_default=True, envvar="LANDDB_SERVER", help="the HTTP server (env LANDDB_SERVER)")
@click.option("--workers", default=None, type=int,
              help="worker processes (default: one per core for granian, 2 × cores + 1 for gunicorn)")
@click.option("--threads", default=server.THREADS, show_default=True, type=int, help="app threads per worker")
@click.option("--dev", is_flag=True, help="Flask's reloading development server instead")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, server_name: str, workers: int | None, threads: int,
          dev: bool) -> None:
    """Serve the API and WFS (granian by default, or gunicorn; Ctrl-C stops it)."""
    import os

    # The web layer is started by name, never imported: the core knows nothing of HTTP.
    if dev:
        os.execvp(sys.executable, [sys.executable, "-m", "flask", "--app", server.APP, "run",
                                   "--debug", "--host", host, "--port", str(port)])
    n = workers or server.default_workers(server_name)
    click.echo(f"landdb serving on http://{host}:{port} with {server_name}, {n} workers × {threads} threads", err=True)
    args = server.command(server_name, host, port, n, threads)
    os.execvp(sys.executable, [sys.executable, "-m", *args])


# --- keys -------------------------------------------------------------------------------------

from .keys_cli import keys  # noqa: E402  (the group lives beside the core it drives)

main.add_command(keys)

from .users_cli import users_group  # noqa: E402

main.add_command(users_group)


# --- import -----------------------------------------------------------------------------------

from .import_cli import import_command  # noqa: E402

main.add_command(import_command)


# --- journal ----------------------------------------------------------------------------------

from .journal_cli import grant_app_role, journal_group  # noqa: E402

main.add_command(journal_group)
db.add_command(grant_app_role)

from .sample.cli import sample  # noqa: E402

main.add_command(sample)
