"""The `landdb import FILE` command: a thin click wrapper over `landdb.importer.import_parcels`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import text

from .config import Settings
from .db import get_engine, make_sessionmaker
from .errors import InvalidInput
from .import_report import group_problems, write_rejected
from .importer import TARGETS, ImportResult, import_parcels

#: Stages reported by the importer, in order, for the progress bar.
STAGES = ("read", "geometry", "fields", "stage", "check", "write", "done")


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        target, sep, source = value.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise InvalidInput(f"{option} {value!r}: write it as TARGET=VALUE, TARGET one of {', '.join(TARGETS)}",
                               field=option.lstrip("-"))
        out[target.strip()] = source.strip()
    return out


def _progress_bar(enabled: bool):
    if not enabled:
        return None, (lambda stage: None)
    from tqdm import tqdm

    bar = tqdm(total=len(STAGES) - 1, unit="step", file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {elapsed}")

    def step(stage: str) -> None:
        bar.set_description(f"import: {stage}")
        bar.n = STAGES.index(stage) if stage in STAGES else bar.n  # stages done so far
        bar.refresh()

    return bar, step


def print_report(result: ImportResult, rejected: Path | None = None) -> None:
    """The validation report grouped by problem (rows are 1-based feature indices in the file),
    where the rejected rows were written, and the summary."""
    groups = group_problems(result.problems)
    if groups:
        click.echo(f"validation report for {result.source} (layer {result.layer}; rows are 1-based feature "
                   f"numbers in the file's reading order):", err=True)
        for group in groups:
            click.echo("  " + str(group).replace("\n", "\n  "), err=True)
    if rejected is not None:
        click.echo(f"rejected rows with their reasons: {rejected} (open it in QGIS, fix the rows, import again)",
                   err=True)
    if result.rejected:
        click.echo(f"{len(result.errors)} error(s): nothing imported (use --skip-invalid to import the valid rows)",
                   err=True)
    elif result.skipped_rows:
        click.echo(f"skipped {result.skipped} row(s)", err=True)
    if result.transaction_id:
        click.echo(f"journal: transaction {result.transaction_id} (import)")
    click.echo(result.summary())


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--layer", help="layer to read (needed when the file has several)")
@click.option("--map", "maps", multiple=True, metavar="TARGET=FIELD",
              help=f"take TARGET from the file's FIELD; targets: {', '.join(TARGETS)}")
@click.option("--set", "sets", multiple=True, metavar="TARGET=VALUE", help="one value of TARGET for every row")
@click.option("--crs", help="the file's CRS when it declares none, e.g. EPSG:5899 or EPSG:4326")
@click.option("--ward", help="ward/commune code for every row (instead of a ward_code field)")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="registration date (default today); ward codes must be valid on it")
@click.option("--skip-invalid", is_flag=True, help="import the valid rows and report the skipped ones")
@click.option("--make-valid", is_flag=True, help="repair invalid geometries (keeping their polygonal parts)")
@click.option("--dry-run", is_flag=True, help="validate and report, write nothing")
@click.option("--actor", help="who imports (recorded in the journal)")
@click.pass_obj
def import_command(settings: Settings, file: Path, layer, maps, sets, crs, ward, on, skip_invalid, make_valid,
                   dry_run, actor) -> None:
    """Import parcels from FILE (Shapefile, GeoPackage, GeoJSON, DXF, DGN, …) into the register.

    All or nothing: any error imports nothing and exits with status 1; the report groups the
    problems (count, first and last row, an example) and every rejected row is written with its
    reasons to NAME.rejected.gpkg beside the file. Rows already registered
    with the same geometry are counted as unchanged, so a second import changes nothing.
    """
    bar, step = _progress_bar(sys.stderr.isatty())
    session = make_sessionmaker(get_engine(settings))()
    try:
        # A large import legitimately runs longer than the service's statement timeout.
        session.execute(text("SET LOCAL statement_timeout = 0"))
        result = import_parcels(
            session, file, layer=layer, mapping=_pairs(maps, "--map"), constants=_pairs(sets, "--set"),
            crs=crs, ward=ward, on=on.date() if on else None, skip_invalid=skip_invalid,
            make_valid=make_valid, dry_run=dry_run, actor=actor, progress=step,
        )
        if result.rejected or dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if bar is not None:
            bar.close()
    rejected = None
    if result.errors:
        try:
            rejected = write_rejected(result, file)
        except Exception as exc:  # the report itself must still be printed
            click.echo(f"could not write the rejected rows next to {file}: {exc}", err=True)
    print_report(result, rejected)
    if result.rejected:
        sys.exit(1)
