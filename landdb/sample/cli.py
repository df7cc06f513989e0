"""`landdb sample generate|load`: make the Hạ Long sample data set and load it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..config import Settings
from ..db import session_scope

REPO = Path(__file__).resolve().parents[2]


@click.group()
def sample() -> None:
    """Make and load the Hạ Long sample data set."""


@sample.command("generate")
@click.option("--parcels", "n_parcels", type=click.IntRange(1, 2_000_000), default=3000, show_default=True,
              help="current (active) parcels to lay out")
@click.option("--seed", type=int, default=1, show_default=True, help="same seed, same data")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoPackage to write (default: sample_parcels/halong_sample.gpkg for 3000 parcels, "
                   "else sample_parcels/big/halong_<N>.gpkg)")
def generate_cmd(n_parcels: int, seed: int, out: Path | None) -> None:
    """Generate a sample GeoPackage."""
    from .generate import generate

    if out is None:
        out = (REPO / "sample_parcels" / "halong_sample.gpkg" if n_parcels == 3000
               else REPO / "sample_parcels" / "big" / f"halong_{n_parcels}.gpkg")
    started = time.perf_counter()
    counts = generate(n_parcels, seed, out, progress=sys.stderr.isatty())
    click.echo(f"wrote {out} in {time.perf_counter() - started:.1f} s: "
               + ", ".join(f"{k} {v}" for k, v in counts.items()))


@sample.command("load")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--if-empty", is_flag=True, help="do nothing when the register already has parcels")
@click.pass_obj
def load_cmd(settings: Settings, path: Path | None, if_empty: bool) -> None:
    """Load a sample GeoPackage (default: the committed one) into an empty register."""
    from sqlalchemy import text

    from .load import DEFAULT_SAMPLE, load_sample

    started = time.perf_counter()
    with session_scope(settings) as session:
        # A bulk load is an operator's command, not a request: the service's timeout is not for it.
        session.execute(text("SET LOCAL statement_timeout = 0"))
        if if_empty:
            n = session.execute(text("SELECT count(*) FROM parcels")).scalar_one()
            if n:
                click.echo(f"the register already has {n} parcels: sample not loaded")
                return
        if path is None:
            # Beside the source in a checkout; from the working directory when installed as a wheel.
            local = Path.cwd() / "sample_parcels" / DEFAULT_SAMPLE.name
            path = DEFAULT_SAMPLE if DEFAULT_SAMPLE.is_file() or not local.is_file() else local
        counts = load_sample(session, path, progress=sys.stderr.isatty())
    click.echo(f"loaded in {time.perf_counter() - started:.1f} s: "
               + ", ".join(f"{k} {v}" for k, v in counts.items()))


@sample.command("check")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="compare the register as of that day")
@click.pass_obj
def check_cmd(settings: Settings, until: str | None) -> None:
    """Replay the journal and compare it with the tables (exit status 1 on any difference)."""
    import datetime as dt

    from sqlalchemy import text

    from .replay import compare, database_state, replay_database

    if until is not None:
        try:
            dt.date.fromisoformat(until)
        except ValueError:
            raise click.BadParameter("give a date as YYYY-MM-DD", param_hint="--until") from None
    started = time.perf_counter()
    with session_scope(settings) as session:
        session.execute(text("SET LOCAL statement_timeout = 0"))
        replayed = replay_database(session, until)
        problems = compare(replayed, database_state(session, until))
    for line in problems:
        click.echo(line, err=True)
    if replayed.unreplayable:
        click.echo(f"{len(replayed.unreplayable)} journal rows carry no effects (bulk imports) and were not replayed",
                   err=True)
    click.echo(f"replayed {replayed.transactions} registrations in {time.perf_counter() - started:.1f} s: "
               + ("the tables agree" if not problems else f"{len(problems)} differences"))
    if problems:
        sys.exit(1)
