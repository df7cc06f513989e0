"""The import's report for people: problems grouped by kind, rejected rows written beside the file."""

from __future__ import annotations

import pyogrio
from click.testing import CliRunner
from sqlalchemy import text

from landdb.import_report import group_problems, rejected_path
from landdb.importer import import_parcels

from .test_importer import ON, bow_tie, frame, lot, write


def _unknown_wards(tmp_path, n: int = 450):
    """n rows in a row of lots; all but the first 10 carry a ward code that does not exist, row 5 is a bow-tie."""
    geoms = [lot(i % 60, y=20.0 * (i // 60)) for i in range(n)]
    geoms[4] = bow_tie(4, y=0)
    gdf = frame(geoms, sheet=745)
    gdf["ward_code"] = ["06691"] * 10 + ["06709"] * (n - 10)
    return write(gdf, tmp_path / "wards.gpkg")


def test_problems_are_grouped_with_count_first_last_and_an_example(session, tmp_path):
    result = import_parcels(session, _unknown_wards(tmp_path), on=ON)
    groups = group_problems(result.problems)
    wards = next(g for g in groups if g.code == "unknown_ward")
    assert wards.rows == list(range(11, 451))
    line = str(wards)
    assert "440 rows (11 to 450)" in line and "e.g. row 11: no ward or commune has code '06709'" in line
    assert str(groups[0]) == line  # the largest group of errors first
    assert any(str(g).startswith("error: row 5: invalid geometry") for g in groups)


def test_the_cli_prints_one_line_per_problem_and_writes_the_rejected_rows(database_url, tmp_path, engine):
    from landdb.cli import main

    path = _unknown_wards(tmp_path)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
    out = CliRunner().invoke(main, ["import", str(path), "--date", ON.isoformat()],
                             env={"DATABASE_URL": database_url})
    assert out.exit_code == 1, out.output
    report = [ln for ln in out.output.splitlines() if ln.startswith("  ")]
    assert len(report) == 2, out.output  # not 440 lines
    target = rejected_path(path)
    assert str(target) in out.output
    rejected = pyogrio.read_dataframe(target, layer="rejected")
    assert list(rejected["landdb_row"]) == [5] + list(range(11, 451))
    assert rejected.loc[0, "landdb_problems"] == "invalid_geometry"
    assert "Self-intersection" in rejected.loc[0, "landdb_reasons"]
    assert (rejected["landdb_problems"].iloc[1:] == "unknown_ward").all()
    assert (rejected["ward_code"].iloc[1:] == "06709").all()  # the row's own fields, as read
    assert rejected.geometry.notna().all() and len(rejected) == 441
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transactions")).scalar_one() == before
