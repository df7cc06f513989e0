"""Drafts of split, merge and correction: a line drawn in WGS 84 cuts the parent in EPSG:5899 and the
register accepts the children as they come; uploads in several formats and CRSs; the merge
selection's adjacency; nothing is written."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO

import pytest
from pyproj import Transformer

from landdb import drafts, registry
from landdb.errors import InvalidInput, NotFound

from ..registry_helpers import X0, Y0, code_of, counts, first_registration_body, person, rect

X, Y = X0 + 2000, Y0 + 1000  # this module's part of the test area
TO_WGS84 = Transformer.from_crs(5899, 4326, always_xy=True)


def first(session, x=X, y=Y, **kw):
    answer, _ = registry.register(session, first_registration_body(x, y, **kw), actor="test drafts")
    return code_of(answer)


def wgs84_line(*points):
    return {"type": "LineString", "coordinates": [list(TO_WGS84.transform(x, y)) for x, y in points]}


def test_a_line_drawn_in_wgs84_splits_the_parent_and_the_register_takes_the_children(session):
    code = first(session, w=20)  # 20 × 10 m
    before = counts(session)
    draft = drafts.split_by_line(session, code, wgs84_line((X + 12, Y - 3), (X + 12, Y + 13)))
    assert counts(session) == before  # a draft writes nothing
    assert draft["ok"] and draft["problem"] is None
    assert [round(c["area_m2"]) for c in draft["children"]] == [120, 80]  # west to east
    assert abs(draft["sum_m2"] - 200) < 0.01 and abs(draft["difference_m2"]) < 0.01
    assert draft["crs"] == "EPSG:5899" and draft["tolerance_m2"] == registry.TOLERANCE_M2
    # the children are in EPSG:5899, exactly what a split body carries
    xs = [x for c in draft["children"] for ring in c["geometry"]["coordinates"][0] for x, _ in ring]
    assert min(xs) == pytest.approx(X) and max(xs) == pytest.approx(X + 20)
    # the cut lies where it was drawn, to the datum shift's precision (PROJ both ways)
    assert sorted({round(x, 2) for x in xs}) == [round(X, 2), round(X + 12, 2), round(X + 20, 2)]
    answer, _ = registry.register(session, {
        "kind": "split", "parcel": code, "expected_version": 1, "effective_date": "2024-09-01", "crs": draft["crs"],
        "children": [{"geometry": c["geometry"], "legal_area_m2": round(c["area_m2"], 1)} for c in draft["children"]]})
    assert len(answer["opened"]["parcels"]) == 2


def test_two_lines_make_three_children_and_a_line_that_misses_is_refused(session):
    code = first(session, x=X + 40, w=30)
    lines = {"type": "MultiLineString", "coordinates": [
        wgs84_line((X + 50, Y - 2), (X + 50, Y + 12))["coordinates"],
        wgs84_line((X + 60, Y - 2), (X + 60, Y + 12))["coordinates"]]}
    draft = drafts.split_by_line(session, code, lines)
    assert [round(c["area_m2"]) for c in draft["children"]] == [100, 100, 100] and draft["ok"]
    with pytest.raises(InvalidInput, match="does not cut"):
        drafts.split_by_line(session, code, wgs84_line((X + 50, Y - 2), (X + 50, Y + 5)))  # ends inside
    with pytest.raises(InvalidInput, match="LineString"):
        drafts.split_by_line(session, code, {"type": "Point", "coordinates": list(TO_WGS84.transform(X + 50, Y))})
    with pytest.raises(NotFound):
        drafts.split_by_line(session, "06691-799-99999", wgs84_line((X, Y), (X + 1, Y + 1)))


def test_uploaded_children_are_checked_against_the_parent(session):
    code = first(session, x=X + 80, w=20)
    whole = [rect(X + 80, Y, 12, 10), rect(X + 92, Y, 8, 10)]
    draft = drafts.split_children(session, code, whole)
    assert draft["ok"] and [round(c["area_m2"]) for c in draft["children"]] == [120, 80]
    short = drafts.split_children(session, code, [rect(X + 80, Y, 12, 10), rect(X + 92, Y, 7, 10)])
    assert not short["ok"] and "leave 10.00 m² of the parent uncovered" in short["problem"]
    assert round(short["difference_m2"]) == -10
    over = drafts.split_children(session, code, [rect(X + 80, Y, 13, 10), rect(X + 92, Y, 8, 10)])
    assert not over["ok"] and "overlap" in over["problem"]


def _feature_collection(geometries, crs=None):
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": g}
                                                    for g in geometries]}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(fc).encode()


def test_uploads_geojson_in_metres_or_degrees_and_a_zipped_shapefile_and_nothing_else(session, tmp_path):
    import shapely

    code = first(session, x=X + 120, w=20)
    halves = [rect(X + 120, Y, 10, 10), rect(X + 130, Y, 10, 10)]
    # survey software's GeoJSON: VN-2000 metres with no crs member
    draft = drafts.draft_from_upload(session, "split", code, _feature_collection(halves), "tach.geojson")
    assert draft["ok"] and [round(c["area_m2"]) for c in draft["children"]] == [100, 100]
    # a line in degrees (RFC 7946)
    line = wgs84_line((X + 125, Y - 2), (X + 125, Y + 12))
    draft = drafts.draft_from_upload(session, "split", code, _feature_collection([line]), "line.geojson")
    assert [round(c["area_m2"]) for c in draft["children"]] == [50, 150]
    # a Shapefile in EPSG:5899, zipped with its sidecar files
    import geopandas

    shp = tmp_path / "tach.shp"
    geopandas.GeoDataFrame({"n": [1, 2]}, geometry=[shapely.geometry.shape(g) for g in halves],
                           crs="EPSG:5899").to_file(shp)
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for part in tmp_path.glob("tach.*"):
            z.write(part, part.name)
    draft = drafts.draft_from_upload(session, "split", code, buf.getvalue(), "tach.zip")
    assert draft["ok"] and [round(c["area_m2"]) for c in draft["children"]] == [100, 100]
    # a GeoPackage in WGS 84
    gpkg = tmp_path / "tach.gpkg"
    geopandas.GeoDataFrame({"n": [1, 2]}, geometry=[shapely.geometry.shape(g) for g in halves],
                           crs="EPSG:5899").to_crs(4326).to_file(gpkg, driver="GPKG")
    draft = drafts.draft_from_upload(session, "split", code, gpkg.read_bytes(), "tach.gpkg")
    assert draft["ok"] and [round(c["area_m2"]) for c in draft["children"]] == [100, 100]
    # GDAL picks its driver by content: a VRT named .geojson (which would read a file of the
    # server), a zip with more than a Shapefile, a KML are refused before GDAL sees them
    vrt = (b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
           b'</OGRVRTLayer></OGRVRTDataSource>')
    extra = BytesIO()
    with zipfile.ZipFile(BytesIO(buf.getvalue())) as src, zipfile.ZipFile(extra, "w") as z:
        for name in src.namelist():
            z.writestr(name, src.read(name))
        z.writestr("x.vrt", vrt)
    for data, name, message in [(b"", "x.geojson", "empty"), (b"not json", "x.geojson", "not JSON"),
                                (vrt, "x.geojson", "not JSON"), (vrt, "x.gpkg", "not a GeoPackage"),
                                (extra.getvalue(), "x.zip", "one Shapefile"), (b"PK", "x.zip", "not a zip"),
                                (b"<kml/>", "x.kml", "must be GeoJSON"), (b"{}", "x.txt", "must be GeoJSON"),
                                (_feature_collection(halves, "urn:ogc:def:crs:EPSG::32648"), "x.geojson", "EPSG:32648")]:
        with pytest.raises(InvalidInput, match=message):
            drafts.draft_from_upload(session, "split", code, data, name)


def test_a_correction_shows_the_old_and_the_new_area(session):
    code = first(session, x=X + 160, w=20)
    fixed = drafts.correction(session, code, rect(X + 160, Y, 20, 10.5))
    assert fixed["old_area_m2"] == pytest.approx(200, abs=0.01) and fixed["area_m2"] == pytest.approx(210, abs=0.01)
    assert fixed["difference_m2"] == pytest.approx(10, abs=0.01)
    with pytest.raises(InvalidInput, match="one polygon"):
        drafts.correction(session, code, [rect(X + 160, Y), rect(X + 170, Y)])


def test_merge_selection_says_which_parcels_are_apart(session):
    holders = [dict(person(1), share=1)]
    a = first(session, x=X + 200, holders=holders)
    b = first(session, x=X + 210, holders=holders)
    c = first(session, x=X + 230, holders=holders)  # a 10 m gap
    d = first(session, x=X + 200, y=Y + 10, holders=[dict(person(5), share=1)])
    good = drafts.merge_selection(session, [a, b])
    assert good["ok"] and good["apart"] == [] and good["area_m2"] == pytest.approx(200, abs=0.01)
    assert [p["code"] for p in good["parcels"]] == [a, b] and good["parcels"][0]["version"] == 1
    apart = drafts.merge_selection(session, [a, b, c])
    assert not apart["ok"] and apart["apart"] == [c]
    other = drafts.merge_selection(session, [a, d])
    assert not other["ok"] and other["differing_holders"] == [d]
    with pytest.raises(InvalidInput):
        drafts.merge_selection(session, ["nonsense"])


def test_editing_vertices_moves_only_those_and_keeps_the_others_exact(session):
    code = first(session, x=X + 240, w=20)
    lon, lat = TO_WGS84.transform(X + 260, Y + 12)
    edited = drafts.edit_vertices(session, code, [{"i": 2, "lon": lon, "lat": lat}])  # the NE corner, 2 m up
    assert edited["area_m2"] == pytest.approx(220, abs=0.01) and edited["old_area_m2"] == pytest.approx(200, abs=0.01)
    ring = [tuple(c) for c in edited["geometry"]["coordinates"][0][0]]
    assert (X + 240, Y) in ring and (X + 260, Y) in ring and (X + 240, Y + 10) in ring  # untouched, to the bit
    moved = next(c for c in ring if c[1] > Y + 11)
    assert moved == pytest.approx((X + 260, Y + 12), abs=0.001)
    # editing the edited boundary again, from the form's hidden field
    lon, lat = TO_WGS84.transform(X + 260, Y + 10)
    back = drafts.edit_vertices(session, code, [{"i": ring.index(moved), "lon": lon, "lat": lat}],
                                base=edited["geometry"])
    assert back["area_m2"] == pytest.approx(200, abs=0.01)
    with pytest.raises(InvalidInput, match="does not exist"):
        drafts.edit_vertices(session, code, [{"i": 9, "lon": lon, "lat": lat}])
    with pytest.raises(InvalidInput, match="outside Vietnam"):
        drafts.edit_vertices(session, code, [{"i": 0, "lon": lat, "lat": lon}])
