"""Real clients against the WFS over HTTP: GDAL/OGR (ogrinfo, ogr2ogr) and OWSLib 1.1.0 / 2.0.0."""

from __future__ import annotations

import json
import os
import subprocess

import pyogrio
import pytest
import shapely
from owslib.fes import PropertyIsEqualTo
from owslib.etree import etree as owslib_etree
from owslib.wfs import WebFeatureService
from shapely.testing import assert_geometries_equal
from sqlalchemy import text

from .conftest import current_parcel_count
from .test_wfs import grid_bbox


def run(*args: str, env: dict | None = None) -> str:
    full = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF", **(env or {})}
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, env=full)
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr, out.stderr
    return out.stdout


def test_ogrinfo_lists_both_layers(live_url):
    out = run("ogrinfo", "-ro", f"WFS:{live_url}")
    assert "landdb:parcels" in out and "landdb:wards" in out


def test_ogr2ogr_pages_through_every_parcel(live_url, grid, session, tmp_path):
    expected = current_parcel_count(session)
    page = max(2, expected // 4)
    target = tmp_path / "parcels.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(target), f"WFS:{live_url}", "landdb:parcels", "-nln", "parcels",
        env={"OGR_WFS_PAGING_ALLOWED": "ON", "OGR_WFS_PAGE_SIZE": str(page)})
    df = pyogrio.read_dataframe(target, layer="parcels")
    assert len(df) == expected and df["parcel_code"].is_unique
    assert df.geometry.is_valid.all()
    mine = df[df["parcel_code"].isin([g["code"] for g in grid])].set_index("parcel_code")
    assert len(mine) == len(grid)
    rows = session.execute(text(
        "SELECT p.parcel_code, ST_AsText(v.geom) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
        "AND v.valid_to IS NULL WHERE p.parcel_code = ANY(:c)"), {"c": [g["code"] for g in grid]}).all()
    for code, wkt in rows:
        assert_geometries_equal(shapely.normalize(mine.loc[code].geometry), shapely.normalize(shapely.from_wkt(wkt)),
                                tolerance=0.001)


def test_ogrinfo_spatial_and_attribute_filters(live_url, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    out = run("ogrinfo", "-ro", "-q", f"WFS:{live_url}", "landdb:parcels", "-spat", str(x0), str(y0),
              str(x0 + 12), str(y0 + 12))
    assert out.count("OGRFeature(") == 1 and grid[0]["code"] in out
    out = run("ogrinfo", "-ro", "-q", f"WFS:{live_url}", "landdb:parcels", "-spat", str(x0), str(y0), str(x1), str(y1),
              "-where", "land_use = 'ONT'")
    assert out.count("OGRFeature(") == sum(1 for g in grid if g["land_use"] == "ONT")
    out = run("ogrinfo", "-ro", "-q", f"WFS:{live_url}", "landdb:parcels", "-where",
              f"parcel_code = '{grid[5]['code']}'")
    assert out.count("OGRFeature(") == 1 and grid[5]["code"] in out


@pytest.mark.parametrize("version", ["1.1.0", "2.0.0"])
def test_owslib_reads_capabilities_schema_and_features(live_url, grid, version):
    wfs = WebFeatureService(live_url, version=version, timeout=60)
    assert {"landdb:parcels", "landdb:wards"} <= set(wfs.contents)
    schema = wfs.get_schema("landdb:parcels")
    assert schema["properties"]["parcel_code"] == "string"
    assert "MultiPolygon" in schema["geometry"] or "MultiSurface" in schema["geometry"]
    x0, y0, x1, y1 = grid_bbox(grid)
    srs = "urn:ogc:def:crs:EPSG::5899"
    data = wfs.getfeature(typename=["landdb:parcels"], bbox=(x0, y0, x1, y1, srs), srsname=srs,
                          outputFormat="application/json").read()
    body = json.loads(data)
    assert sorted(f["id"] for f in body["features"]) == sorted(g["fid"] for g in grid)
    if version == "1.1.0":
        flt = owslib_etree.tostring(PropertyIsEqualTo("parcel_code", grid[3]["code"]).toXML()).decode()
        flt = f'<ogc:Filter xmlns:ogc="http://www.opengis.net/ogc">{flt}</ogc:Filter>'
        data = wfs.getfeature(typename=["landdb:parcels"], filter=flt, outputFormat="application/json").read()
        assert [f["id"] for f in json.loads(data)["features"]] == [grid[3]["fid"]]
    else:
        from owslib.fes2 import Filter, PropertyIsEqualTo as Eq2

        flt2 = owslib_etree.tostring(Filter(Eq2("parcel_code", grid[3]["code"])).toXML()).decode()
        # OWSLib 0.35 sends a 2.0 filter over GET as a non-standard `query` parameter; POST is right.
        data = wfs.getfeature(typename=["landdb:parcels"], filter=flt2, outputFormat="application/json",
                              method="Post").read()
        assert [f["id"] for f in json.loads(data)["features"]] == [grid[3]["fid"]]
    pages = []
    for start in (0, 5, 10):
        data = wfs.getfeature(typename=["landdb:parcels"], bbox=(x0, y0, x1, y1, srs), startindex=start, maxfeatures=5,
                              outputFormat="application/json").read()
        pages.append([f["id"] for f in json.loads(data)["features"]])
    assert [len(p) for p in pages] == [5, 5, 2]
    assert len({f for p in pages for f in p}) == 12
