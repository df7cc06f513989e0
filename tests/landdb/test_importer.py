"""Tests of `landdb import`: reading, mapping, reprojection, the validation report, all-or-nothing,
idempotence, and the journal row — against the real PostGIS, with files built in tmp dirs."""

from __future__ import annotations

import datetime as dt
import warnings

import geopandas as gpd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from pyproj import Transformer
from shapely.geometry import Polygon, box
from sqlalchemy import text

from landdb.errors import InvalidInput
from landdb.importer import import_parcels

from ..factories import TEST_AREA, make_parcel, square

ON = dt.date(2024, 6, 1)  # Hồng Gai (06691) is a ward on this date
WARD = "06691"
X0, Y0 = TEST_AREA


def lot(i: int, y: float = 0.0, size: float = 10.0) -> Polygon:
    """A square lot in the test area, the i-th along a row."""
    x = X0 + 500 + i * size
    return box(x, Y0 + 500 + y, x + size, Y0 + 500 + y + size)


def bow_tie(i: int, y: float = 0.0) -> Polygon:
    x, yy = X0 + 500 + i * 10, Y0 + 500 + y
    return Polygon([(x, yy), (x + 10, yy + 10), (x + 10, yy), (x, yy + 10), (x, yy)])


def frame(geoms, sheet=701, crs="EPSG:5899", **columns) -> gpd.GeoDataFrame:
    n = len(geoms)
    data = {"ward_code": [WARD] * n, "sheet_no": [sheet] * n, "parcel_no": list(range(1, n + 1)),
            "land_use": ["ODT"] * n, "legal_area_m2": [100.0] * n,
            "address": [f"{k} Phố Thử, Hồng Gai" for k in range(1, n + 1)]}
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=crs)


def write(gdf: gpd.GeoDataFrame, path, driver=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio warns when a file gets no CRS: that is the point
        pyogrio.write_dataframe(gdf, path, driver=driver, **kwargs)
    return path


def count(session, sql: str, **params) -> int:
    return session.execute(text(sql), params).scalar_one()


def state(session) -> tuple[int, int, int]:
    return (count(session, "SELECT count(*) FROM parcels"), count(session, "SELECT count(*) FROM parcel_versions"),
            count(session, "SELECT count(*) FROM transactions"))


@pytest.fixture
def three_bad(tmp_path):
    """Seven rows; row 2 is a bow-tie, row 4 has no parcel number, row 6 overlaps row 1."""
    geoms = [lot(0), bow_tie(1, y=20), lot(2), lot(3), lot(4), box(X0 + 505, Y0 + 505, X0 + 512, Y0 + 512), lot(7)]
    gdf = frame(geoms)
    gdf["parcel_no"] = gdf["parcel_no"].astype("Int64")
    gdf.loc[3, "parcel_no"] = None
    return write(gdf, tmp_path / "three_bad.gpkg")


def test_three_bad_rows_are_reported_and_nothing_is_imported(session, three_bad):
    before = state(session)
    result = import_parcels(session, three_bad, on=ON)
    assert result.rejected
    assert sorted({p.row for p in result.errors}) == [2, 4, 6]
    by_row = {p.row: p for p in result.errors}
    assert "Self-intersection" in by_row[2].message
    assert "parcel_no is missing" in by_row[4].message
    assert "overlaps row 1" in by_row[6].message
    assert state(session) == before
    assert result.imported == 0 and result.transaction_id is None


def test_skip_invalid_imports_the_rest_and_a_second_import_changes_nothing(session, three_bad):
    before = state(session)
    result = import_parcels(session, three_bad, on=ON, skip_invalid=True, actor="test")
    assert not result.rejected
    assert result.imported == 4 and result.skipped_rows == [2, 4, 6]
    parcels, versions, txs = state(session)
    assert (parcels, versions, txs) == (before[0] + 4, before[1] + 4, before[2] + 1)
    tx = session.execute(text("SELECT kind, seq, hash, payload FROM transactions WHERE id = :id"),
                         {"id": result.transaction_id}).one()
    assert tx.kind == "import" and tx.seq is not None and len(tx.hash) == 64
    assert tx.payload["source"] == "three_bad.gpkg" and tx.payload["skipped_rows"] == [2, 4, 6]
    assert tx.payload["counts"]["imported"] == 4 and len(tx.payload["sha256"]) == 64
    assert count(session, "SELECT count(*) FROM transaction_parcels WHERE transaction_id = :t AND role = 'target'",
                 t=result.transaction_id) == 4
    codes = session.execute(text(
        "SELECT p.parcel_code FROM transaction_parcels tp JOIN parcels p ON p.id = tp.parcel_id "
        "WHERE tp.transaction_id = :t ORDER BY p.parcel_no"), {"t": result.transaction_id}).scalars().all()
    assert codes == ["06691-701-1", "06691-701-3", "06691-701-5", "06691-701-7"]

    again = import_parcels(session, three_bad, on=ON, skip_invalid=True)
    assert again.imported == 0 and again.unchanged == 4 and again.transaction_id is None
    assert state(session) == (parcels, versions, txs)


def test_dry_run_writes_nothing(session, tmp_path):
    path = write(frame([lot(0), lot(1)]), tmp_path / "ok.gpkg")
    before = state(session)
    result = import_parcels(session, path, on=ON, dry_run=True)
    assert result.imported == 2 and not result.errors
    assert state(session) == before


def test_geojson_in_wgs84_lands_where_pyproj_puts_it(session, tmp_path):
    to_5899 = Transformer.from_crs("EPSG:4326", "EPSG:5899", always_xy=True)
    to_4326 = Transformer.from_crs("EPSG:5899", "EPSG:4326", always_xy=True)
    lon, lat = to_4326.transform(X0 + 800, Y0 + 800)
    ring = [(lon, lat), (lon + 0.0002, lat), (lon + 0.0002, lat + 0.0002), (lon, lat + 0.0002), (lon, lat)]
    path = write(frame([Polygon(ring)], sheet=702, crs="EPSG:4326"), tmp_path / "wgs84.geojson", driver="GeoJSON")
    result = import_parcels(session, path, on=ON)
    assert result.imported == 1, result.problems
    wkb = session.execute(text(
        "SELECT ST_AsBinary(v.geom), ST_SRID(v.geom) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
        "WHERE p.parcel_code = '06691-702-1' AND v.valid_to IS NULL")).one()
    assert wkb[1] == 5899
    stored = shapely.get_coordinates(shapely.from_wkb(bytes(wkb[0])))
    expected = [to_5899.transform(x, y) for x, y in ring]
    assert stored.shape == (5, 2)
    for (ex, ey), (sx, sy) in zip(expected, stored):
        assert abs(ex - sx) < 0.003 and abs(ey - sy) < 0.003


def test_shapefile_without_prj_needs_crs(session, tmp_path):
    path = write(frame([lot(0, y=40)], sheet=703, crs=None), tmp_path / "noprj.shp")
    assert not (tmp_path / "noprj.prj").exists()
    with pytest.raises(InvalidInput, match="--crs"):
        import_parcels(session, path, on=ON)
    result = import_parcels(session, path, on=ON, crs="EPSG:5899")
    assert result.imported == 1 and result.crs == "EPSG:5899"


def test_field_mapping(session, tmp_path):
    gdf = gpd.GeoDataFrame({"Xa": [WARD, WARD], "To": [704, 704], "Thua": [11, 12], "Loai": ["odt", "CLN"],
                            "DT": [99.5, 101.0]}, geometry=[lot(0, y=60), lot(1, y=60)], crs="EPSG:5899")
    path = write(gdf, tmp_path / "mapped.gpkg")
    with pytest.raises(InvalidInput, match="no field for ward_code, sheet_no, parcel_no, land_use"):
        import_parcels(session, path, on=ON)
    with pytest.raises(InvalidInput, match=r"no field 'SoThua'.*Thua"):
        import_parcels(session, path, on=ON, mapping={"parcel_no": "SoThua"})
    mapping = {"ward_code": "Xa", "sheet_no": "To", "parcel_no": "Thua", "land_use": "Loai", "legal_area_m2": "DT"}
    result = import_parcels(session, path, on=ON, mapping=mapping)
    assert result.imported == 2, result.problems
    rows = session.execute(text(
        "SELECT p.parcel_code, v.land_use, v.legal_area_m2 FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
        "WHERE p.ward_code = :w AND p.sheet_no = 704 ORDER BY p.parcel_no"), {"w": WARD}).all()
    assert [(r[0], r[1], float(r[2])) for r in rows] == [("06691-704-11", "ODT", 99.5), ("06691-704-12", "CLN", 101.0)]


def test_vietnamese_field_names_and_missing_area(session, tmp_path):
    gdf = gpd.GeoDataFrame({"SoHieuToBanDo": [705], "SoThuTuThua": [3], "KyHieuMucDichSuDung": ["ODT"]},
                           geometry=[box(X0 + 500, Y0 + 900, X0 + 512.34, Y0 + 910)], crs="EPSG:5899")
    path = write(gdf, tmp_path / "vn.shp")
    result = import_parcels(session, path, on=ON, ward=WARD)
    assert result.imported == 1, result.problems
    assert result.area_from_geometry_rows == [1]
    assert any(p.code == "area_from_geometry" and p.severity == "warning" for p in result.problems)
    area = session.execute(text("SELECT legal_area_m2 FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id "
                                "WHERE p.parcel_code = '06691-705-3'")).scalar_one()
    assert float(area) == 123.4


def test_make_valid_repairs_a_bow_tie_only_when_asked(session, tmp_path):
    path = write(frame([bow_tie(0, y=100)], sheet=706), tmp_path / "bowtie.gpkg")
    refused = import_parcels(session, path, on=ON)
    assert refused.rejected and [p.code for p in refused.errors] == ["invalid_geometry"]
    assert count(session, "SELECT count(*) FROM parcels WHERE sheet_no = 706") == 0
    result = import_parcels(session, path, on=ON, make_valid=True)
    assert result.imported == 1 and result.repaired_rows == [1]
    geom = session.execute(text(
        "SELECT ST_IsValid(v.geom), ST_NumGeometries(v.geom), ST_Area(v.geom) FROM parcel_versions v "
        "JOIN parcels p ON p.id = v.parcel_id WHERE p.sheet_no = 706")).one()
    assert geom[0] and geom[1] == 2 and abs(geom[2] - 50.0) < 1e-6


def test_overlap_with_an_active_parcel_names_it(session, tmp_path):
    parcel_id, _ = make_parcel(session, wkt=square(X0 + 500, Y0 + 1200, 20), sheet_no=707, parcel_no=1)
    code = count(session, "SELECT parcel_code FROM parcels WHERE id = :i", i=parcel_id)
    path = write(frame([box(X0 + 510, Y0 + 1210, X0 + 530, Y0 + 1230), box(X0 + 520, Y0 + 1200, X0 + 530, Y0 + 1205)],
                       sheet=708), tmp_path / "over.gpkg")
    result = import_parcels(session, path, on=ON)
    assert result.rejected
    assert [(p.row, p.code) for p in result.errors] == [(1, "overlaps_register")]
    assert code in result.errors[0].message and "100.00 m²" in result.errors[0].message


def test_code_already_active_with_another_geometry_is_an_error(session, tmp_path):
    make_parcel(session, wkt=square(X0 + 500, Y0 + 1300, 10), sheet_no=709, parcel_no=1)
    path = write(frame([box(X0 + 500, Y0 + 1300, X0 + 511, Y0 + 1310)], sheet=709), tmp_path / "moved.gpkg")
    result = import_parcels(session, path, on=ON)
    assert [p.code for p in result.errors] == ["code_exists"]
    same = write(frame([box(X0 + 500, Y0 + 1300, X0 + 510, Y0 + 1310)], sheet=709), tmp_path / "same.gpkg")
    result = import_parcels(session, same, on=ON)
    assert not result.errors and result.unchanged == 1 and result.imported == 0


def test_attribute_errors_are_reported_with_row_numbers(session, tmp_path):
    geoms = [lot(i, y=1400) for i in range(6)]
    gdf = frame(geoms, sheet=710, land_use=["ODT", "XYZ", "ODT", "ODT", "ODT", "ODT"],
                legal_area_m2=[100.0, 100.0, -5.0, 100.0, 100.0, 100.0],
                parcel_no=[1, 2, 3, 4, 4, 6], ward_code=[WARD, WARD, WARD, WARD, WARD, "99999"])
    path = write(gdf, tmp_path / "attrs.gpkg")
    result = import_parcels(session, path, on=ON)
    assert sorted((p.row, p.code) for p in result.errors) == [
        (2, "unknown_land_use"), (3, "non_positive_area"), (4, "duplicate"), (5, "duplicate"), (6, "unknown_ward")]
    # The same ward code means nothing after the 2025 reorganisation abolished ward 06691.
    later = import_parcels(session, write(frame([lot(0, y=1420)], sheet=711), tmp_path / "late.gpkg"),
                           on=dt.date(2025, 8, 1))
    assert [p.code for p in later.errors] == ["unknown_ward"]


def test_dxf_closed_polylines_and_layer_field(session, tmp_path):
    gdf = gpd.GeoDataFrame({"Layer": ["21", "22"]}, geometry=[lot(0, y=1500), lot(1, y=1500)], crs=None)
    path = write(gdf, tmp_path / "survey.dxf", driver="DXF")
    result = import_parcels(session, path, on=ON, crs="EPSG:5899", ward=WARD, mapping={"parcel_no": "Layer"},
                            constants={"sheet_no": "712", "land_use": "ONT"})
    assert result.imported == 2, result.problems
    assert count(session, "SELECT count(*) FROM parcels WHERE sheet_no = 712 AND parcel_no IN (21, 22)") == 2


def test_dgn_single_parcel_survey(session, tmp_path):
    gdf = gpd.GeoDataFrame(geometry=[lot(0, y=1600)], crs=None)
    path = write(gdf, tmp_path / "trich_do.dgn", driver="DGN")
    result = import_parcels(session, path, on=ON, crs="EPSG:5899", ward=WARD,
                            constants={"sheet_no": "713", "parcel_no": "5", "land_use": "ODT"})
    assert result.imported == 1, result.problems
    assert count(session, "SELECT ST_Area(v.geom) FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id "
                          "WHERE p.parcel_code = '06691-713-5'") == pytest.approx(100.0)


def test_bad_options_raise_invalid_input(session, tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        import_parcels(session, tmp_path / "nothing.gpkg", on=ON)
    (tmp_path / "junk.gpkg").write_text("not a geopackage")
    with pytest.raises(InvalidInput, match="not a file GDAL can read"):
        import_parcels(session, tmp_path / "junk.gpkg", on=ON)
    path = write(frame([lot(0)]), tmp_path / "one.gpkg")
    with pytest.raises(InvalidInput, match="unknown target field"):
        import_parcels(session, path, on=ON, mapping={"owner": "x"})
    with pytest.raises(InvalidInput, match="unknown CRS"):
        import_parcels(session, path, on=ON, crs="EPSG:0")
    with pytest.raises(InvalidInput, match="no layer 'roads'"):
        import_parcels(session, path, on=ON, layer="roads")


def test_cli_reports_rows_and_exits_1(database_url, three_bad, engine):
    from landdb.cli import main

    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
    runner = CliRunner()
    out = runner.invoke(main, ["import", str(three_bad), "--date", "2024-06-01"],
                        env={"DATABASE_URL": database_url})
    assert out.exit_code == 1, out.output
    for row in ("row 2: invalid geometry", "row 4: parcel_no is missing", "row 6: overlaps row 1"):
        assert row in out.output
    assert "nothing imported" in out.output and "read 7" in out.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transactions")).scalar_one() == before
    bad = runner.invoke(main, ["import", str(three_bad), "--map", "sheet_no"], env={"DATABASE_URL": database_url})
    assert bad.exit_code == 1 and "TARGET=VALUE" in bad.output


def test_overlap_between_rows_of_an_otherwise_clean_file(session, tmp_path):
    # Clean files go straight to the insert; the database's trigger refuses the overlap and the
    # importer then finds and reports the rows itself.
    geoms = [lot(0, y=1700), lot(1, y=1700), box(X0 + 515, Y0 + 2205, X0 + 522, Y0 + 2212), lot(3, y=1700)]
    path = write(frame(geoms, sheet=714), tmp_path / "overlap_rows.gpkg")
    before = state(session)
    result = import_parcels(session, path, on=ON)
    assert result.rejected and [(p.row, p.code) for p in result.errors] == [(3, "overlaps_row")]
    assert "overlaps row 2 of the file by 25.00 m²" in result.errors[0].message
    assert state(session) == before
    result = import_parcels(session, path, on=ON, skip_invalid=True)
    assert result.imported == 3 and result.skipped_rows == [3]
    assert state(session) == (before[0] + 3, before[1] + 3, before[2] + 1)


def test_large_imports_write_in_two_slices(session, tmp_path, monkeypatch):
    import landdb.importer as importer

    monkeypatch.setattr(importer, "_FIRST_SLICE", 2)  # the slicing starts above 5 slices' worth
    geoms = [lot(i, y=1800) for i in range(12)] + [box(X0 + 505, Y0 + 2305, X0 + 508, Y0 + 2308)]
    path = write(frame(geoms, sheet=715), tmp_path / "large.gpkg")
    before = state(session)
    result = import_parcels(session, path, on=ON)
    assert [(p.row, p.code) for p in result.errors] == [(13, "overlaps_row")]
    assert state(session) == before
    result = import_parcels(session, path, on=ON, skip_invalid=True)
    assert result.imported == 12 and result.skipped_rows == [13]
    assert count(session, "SELECT count(*) FROM parcels WHERE sheet_no = 715") == 12


def test_z_is_dropped_and_polygons_become_multipolygons(session, tmp_path):
    x, y = X0 + 500, Y0 + 1900
    poly_z = Polygon([(x, y, 5.0), (x + 10, y, 5.5), (x + 10, y + 10, 6.0), (x, y + 10, 5.0), (x, y, 5.0)])
    path = write(frame([poly_z], sheet=716), tmp_path / "with_z.gpkg")
    result = import_parcels(session, path, on=ON)
    assert result.imported == 1, result.problems
    kind, dims = session.execute(text(
        "SELECT GeometryType(v.geom), ST_NDims(v.geom) FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id "
        "WHERE p.parcel_code = '06691-716-1'")).one()
    assert (kind, dims) == ("MULTIPOLYGON", 2)
