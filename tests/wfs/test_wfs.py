"""The WFS over KVP and XML: each case as GET and as POST, XML answers validated against the OGC schemas."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from lxml import etree

from landdb.crs import transform

from .conftest import SIZE
from .helpers import NS, call, compile_schema, validate

GML32 = "application/gml+xml; version=3.2"


@pytest.fixture(params=["get", "post"])
def mode(request):
    return request.param


def grid_bbox(grid, pad=1.0):
    xs = [g["x0"] for g in grid]
    ys = [g["y0"] for g in grid]
    return min(xs) - pad, min(ys) - pad, max(xs) + SIZE + pad, max(ys) + SIZE + pad


def fids(root) -> list[str]:
    return [e.get(f"{{{NS['gml']}}}id") or e.get(f"{{{NS['gml1']}}}id") or e.get("fid")
            for e in root.iter(f"{{{NS['landdb']}}}parcels")]


def get_feature(client, mode, **kvp):
    params = {"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels"}
    params.update(kvp)
    r = call(client, mode, params)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r


def exception(r, code: str, status: int, locator: str | None = None, client=None):
    assert r.status_code == status, r.get_data(as_text=True)
    root = validate(r.data, client)
    exc = next(root.iter("{*}Exception", "{*}ServiceException"))
    assert (exc.get("exceptionCode") or exc.get("code")) == code
    if locator is not None:
        assert (exc.get("locator") or "").lower() == locator.lower()


# --- GetCapabilities / DescribeFeatureType ------------------------------------------------------

@pytest.mark.parametrize("version", ["2.0.0", "1.1.0", "1.0.0"])
def test_capabilities_are_valid_and_list_both_layers(client, mode, version):
    r = call(client, mode, {"service": "WFS", "request": "GetCapabilities", "acceptVersions": version})
    assert r.status_code == 200
    root = validate(r.data, client)
    assert root.get("version") == version
    names = [e.text for e in root.iter("{*}Name") if e.getparent().tag.endswith("FeatureType")]
    assert names == ["landdb:parcels", "landdb:wards"]


def test_capabilities_declare_paging_where_qgis_and_gdal_read_it(client, mode):
    root = validate(call(client, mode, {"service": "WFS", "request": "GetCapabilities"}).data, client)
    om = root.find("ows:OperationsMetadata", NS)
    top = {c.get("name"): c.findtext("ows:DefaultValue", namespaces=NS) for c in om.findall("ows:Constraint", NS)}
    gf = om.find("ows:Operation[@name='GetFeature']", NS)
    under = {c.get("name"): c.findtext("ows:DefaultValue", namespaces=NS) for c in gf.findall("ows:Constraint", NS)}
    for where in (top, under):
        assert where["ImplementsResultPaging"] == "TRUE"
        assert int(where["CountDefault"]) > 0
    assert top["ImplementsBasicWFS"] == "TRUE" and top["KVPEncoding"] == "TRUE" and top["XMLEncoding"] == "TRUE"
    conformance = {c.get("name"): c.findtext("ows:DefaultValue", namespaces=NS)
                   for c in root.iterfind(".//fes:Conformance/fes:Constraint", NS)}
    assert conformance["ImplementsSorting"] == "TRUE" and conformance["ImplementsResourceId"] == "TRUE"


def test_capabilities_bbox_covers_the_data(client, grid):
    root = validate(client.get("/wfs?service=WFS&request=GetCapabilities").data, client)
    ft = next(f for f in root.iterfind(".//wfs:FeatureType", NS) if f.findtext("wfs:Name", namespaces=NS) == "landdb:parcels")
    lo = [float(v) for v in ft.findtext(".//ows:LowerCorner", namespaces=NS).split()]
    hi = [float(v) for v in ft.findtext(".//ows:UpperCorner", namespaces=NS).split()]
    lon, lat = transform(grid[0]["x0"] + 5, grid[0]["y0"] + 5, 5899, 4326)
    assert lo[0] <= lon <= hi[0] and lo[1] <= lat <= hi[1]


def test_version_negotiation_failure_is_an_exception_report(client, mode):
    r = call(client, mode, {"service": "WFS", "request": "GetCapabilities", "acceptVersions": "3.0.0"})
    exception(r, "VersionNegotiationFailed", 400, client=client)


@pytest.mark.parametrize("version,geom_type", [("2.0.0", "gml:MultiSurfacePropertyType"),
                                               ("1.1.0", "gml:MultiSurfacePropertyType"),
                                               ("1.0.0", "gml:MultiPolygonPropertyType")])
def test_describe_feature_type_is_one_self_contained_schema(client, mode, version, geom_type):
    r = call(client, mode, {"service": "WFS", "version": version, "request": "DescribeFeatureType",
                            "typeNames" if version == "2.0.0" else "typeName": "landdb:parcels"})
    assert r.status_code == 200
    compile_schema(r.data, client)
    root = etree.fromstring(r.data)
    assert root.get("targetNamespace") == NS["landdb"]
    elements = {e.get("name"): e.get("type") for e in root.iter(f"{{{NS['xs']}}}element") if e.get("name")}
    assert elements["geometry"] == geom_type
    assert elements["parcel_code"] == "xs:string" and elements["valid_from"] == "xs:date"
    assert not {"full_name", "id_number", "owner", "party", "birth_year"} & set(elements)


# --- GetFeature ---------------------------------------------------------------------------------

def test_get_feature_by_bbox_returns_the_grid_valid_gml32(client, mode, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    r = get_feature(client, mode, bbox=f"{x0},{y0},{x1},{y1},urn:ogc:def:crs:EPSG::5899")
    assert r.content_type.startswith(GML32)
    root = validate(r.data, client)
    assert sorted(fids(root)) == sorted(g["fid"] for g in grid)
    assert root.get("numberMatched") == "12" and root.get("numberReturned") == "12"
    first = root.find(".//landdb:parcels", NS)
    assert first.findtext("landdb:address", namespaces=NS).endswith("Phố Lưới & Co")
    pos = [float(v) for v in first.findtext(".//gml:posList", namespaces=NS).split()]
    assert 440_000 < pos[0] < 450_000 and 2_330_000 < pos[1] < 2_340_000


LAT_FIRST = ["urn:ogc:def:crs:EPSG::4326", "http://www.opengis.net/def/crs/EPSG/0/4326"]
LON_FIRST = ["EPSG:4326", "http://www.opengis.net/gml/srs/epsg.xml#4326"]


@pytest.mark.parametrize("crs", LAT_FIRST + LON_FIRST)
def test_bbox_axis_order_follows_the_crs_spelling(client, mode, grid, crs):
    target = grid[5]
    lon0, lat0 = transform(target["x0"] + 2, target["y0"] + 2, 5899, 4326)
    lon1, lat1 = transform(target["x0"] + 8, target["y0"] + 8, 5899, 4326)
    box = (lat0, lon0, lat1, lon1) if crs in LAT_FIRST else (lon0, lat0, lon1, lat1)
    r = get_feature(client, mode, bbox=",".join(map(str, box)) + "," + crs)
    assert fids(validate(r.data, client)) == [target["fid"]]


@pytest.mark.parametrize("crs", LAT_FIRST + LON_FIRST)
def test_output_axis_order_follows_the_srs_name(client, mode, grid, crs):
    r = get_feature(client, mode, resourceId=grid[0]["fid"], srsName=crs)
    root = validate(r.data, client)
    ms = root.find(".//gml:MultiSurface", NS)
    assert ms.get("srsName") == crs
    a, b = (float(v) for v in ms.findtext(".//gml:posList", namespaces=NS).split()[:2])
    lon, lat = transform(grid[0]["x0"], grid[0]["y0"], 5899, 4326)
    got = (b, a) if crs in LAT_FIRST else (a, b)
    assert got == pytest.approx((lon, lat), abs=1e-6)


@pytest.mark.parametrize("srs,expect", [("EPSG:3857", (1.19e7, 2.41e6)), ("urn:ogc:def:crs:EPSG::5899", (445_000, 2_335_000)),
                                        ("EPSG:5899", (445_000, 2_335_000))])
def test_projected_output_crs(client, mode, grid, srs, expect):
    root = validate(get_feature(client, mode, resourceId=grid[0]["fid"], srsName=srs).data, client)
    x, y = (float(v) for v in root.findtext(".//gml:posList", namespaces=NS).split()[:2])
    assert x == pytest.approx(expect[0], rel=0.01) and y == pytest.approx(expect[1], rel=0.01)


def test_paging_never_overlaps_or_skips(client, mode, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    seen, sizes, links = [], [], []
    for start in (0, 5, 10):
        root = validate(get_feature(client, mode, bbox=f"{x0},{y0},{x1},{y1}", count=5, startIndex=start).data, client)
        page = fids(root)
        sizes.append(len(page))
        seen += page
        links.append((root.get("previous") is not None, root.get("next") is not None))
        assert root.get("numberMatched") == "12" and root.get("numberReturned") == str(len(page))
    assert sizes == [5, 5, 2]
    assert sorted(seen) == sorted(g["fid"] for g in grid) and len(set(seen)) == 12
    assert seen == sorted(seen, key=lambda f: int(f.split(".")[1]))  # primary-key order
    assert links == [(False, True), (True, True), (True, False)]


def test_next_link_fetches_the_next_page(client, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    root = validate(get_feature(client, "get", bbox=f"{x0},{y0},{x1},{y1}", count=7).data, client)
    nxt = root.get("next")
    page2 = validate(client.get(nxt.replace("http://localhost", "")).data, client)
    assert len(fids(root)) == 7 and len(fids(page2)) == 5 and not set(fids(root)) & set(fids(page2))


def test_hits_counts_without_features(client, mode, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    root = validate(get_feature(client, mode, bbox=f"{x0},{y0},{x1},{y1}", resultType="hits").data, client)
    assert root.get("numberMatched") == "12" and root.get("numberReturned") == "0" and len(root) == 0


def test_sort_by_descending_area(client, mode, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    root = validate(get_feature(client, mode, bbox=f"{x0},{y0},{x1},{y1}", sortBy="legal_area_m2 DESC", count=3).data,
                    client)
    assert fids(root) == [g["fid"] for g in grid[::-1][:3]]


def test_sorted_pages_past_the_first(client, mode, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    root = validate(get_feature(client, mode, bbox=f"{x0},{y0},{x1},{y1}", sortBy="legal_area_m2 DESC", count=5,
                                startIndex=5).data, client)
    assert fids(root) == [g["fid"] for g in grid[::-1][5:10]]
    assert root.get("numberMatched") == "12"


def test_property_name_limits_the_output(client, mode, grid):
    root = validate(get_feature(client, mode, resourceId=grid[0]["fid"], propertyName="parcel_code,land_use").data,
                    client)
    feature = root.find(".//landdb:parcels", NS)
    assert [etree.QName(c).localname for c in feature] == ["parcel_code", "land_use"]


def test_geojson_is_longitude_first_whatever_the_spelling(client, mode, grid):
    r = get_feature(client, mode, resourceId=grid[0]["fid"], outputFormat="application/json",
                    srsName="urn:ogc:def:crs:EPSG::4326")
    body = json.loads(r.data)
    assert r.content_type.startswith("application/json")
    assert body["numberMatched"] == 1 and body["features"][0]["id"] == grid[0]["fid"]
    lon, lat = body["features"][0]["geometry"]["coordinates"][0][0][0]
    assert (lon, lat) == pytest.approx(transform(grid[0]["x0"], grid[0]["y0"], 5899, 4326), abs=1e-6)
    props = body["features"][0]["properties"]
    assert props["parcel_code"] == grid[0]["code"] and props["land_use"] == "ONT"
    assert set(props) == {"parcel_code", "ward_code", "ward_name", "sheet_no", "parcel_no", "national_id", "land_use",
                          "land_use_name", "legal_area_m2", "area_m2", "address", "valid_from"}


def test_geojson_paging(client, mode, grid):
    x0, y0, x1, y1 = grid_bbox(grid)
    body = json.loads(get_feature(client, mode, bbox=f"{x0},{y0},{x1},{y1}", outputFormat="application/json",
                                  count=10).data)
    assert body["numberMatched"] == 12 and body["numberReturned"] == 10 and len(body["features"]) == 10
    assert [link["rel"] for link in body["links"]] == ["next"]


@pytest.mark.parametrize("version,fmt", [("1.1.0", None), ("1.0.0", None), ("2.0.0", "text/xml; subtype=gml/3.1.1"),
                                         ("2.0.0", "text/xml; subtype=gml/2.1.2"), ("1.1.0", GML32)])
def test_older_versions_and_formats_are_valid(client, mode, grid, version, fmt):
    x0, y0, x1, y1 = grid_bbox(grid)
    kvp = {"version": version, "bbox": f"{x0},{y0},{x1},{y1}"}
    if version != "2.0.0":
        kvp.update(typeName="landdb:parcels", maxFeatures=4)
    else:
        kvp["count"] = 4
    if fmt:
        kvp["outputFormat"] = fmt
    params = {"service": "WFS", "request": "GetFeature", **kvp}
    if version == "2.0.0":
        params["typeNames"] = "landdb:parcels"
    r = call(client, mode, params)
    assert r.status_code == 200, r.get_data(as_text=True)
    root = validate(r.data, client)
    assert len(fids(root)) == 4


def test_wards_layer(client, mode):
    root = validate(call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                        "typeNames": "landdb:wards", "count": 100}).data, client)
    codes = [e.text for e in root.iterfind(".//landdb:code", NS)]
    assert "06691" in codes


# --- stored queries, GetPropertyValue -------------------------------------------------------------

def test_get_feature_by_id(client, mode, grid):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                            "storedQuery_id": "urn:ogc:def:query:OGC-WFS::GetFeatureById", "ID": grid[3]["fid"]})
    assert r.status_code == 200
    root = validate(r.data, client)
    assert root.tag == f"{{{NS['landdb']}}}parcels" and root.get(f"{{{NS['gml']}}}id") == grid[3]["fid"]


def test_get_feature_by_unknown_id_is_404(client, mode):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                            "storedQuery_id": "urn:ogc:def:query:OGC-WFS::GetFeatureById", "ID": "parcels.999999999"})
    exception(r, "NotFound", 404, client=client)


def test_list_and_describe_stored_queries(client):
    for op in ("ListStoredQueries", "DescribeStoredQueries"):
        r = client.get(f"/wfs?service=WFS&version=2.0.0&request={op}")
        assert r.status_code == 200
        root = validate(r.data, client)
        assert "urn:ogc:def:query:OGC-WFS::GetFeatureById" in etree.tostring(root).decode()


def test_get_property_value_of_the_geometry(client, mode, grid):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetPropertyValue",
                            "typeNames": "landdb:parcels", "valueReference": "geometry", "resourceId": grid[0]["fid"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    root = validate(r.data, client)
    assert root.get("numberReturned") == "1" and len(root.findall(".//gml:MultiSurface", NS)) == 1


def test_get_property_value(client, mode, grid):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetPropertyValue",
                            "typeNames": "landdb:parcels", "valueReference": "parcel_code",
                            "resourceId": ",".join(g["fid"] for g in grid[:3])})
    assert r.status_code == 200, r.get_data(as_text=True)
    root = validate(r.data, client)
    assert [e.text for e in root.iterfind(".//landdb:parcel_code", NS)] == [g["code"] for g in grid[:3]]


# --- filters ------------------------------------------------------------------------------------

def fes(inner: str) -> str:
    return f'<fes:Filter xmlns:fes="{NS["fes"]}" xmlns:gml="{NS["gml"]}">{inner}</fes:Filter>'


def ogc(inner: str) -> str:
    return f'<ogc:Filter xmlns:ogc="{NS["ogc"]}" xmlns:gml="{NS["gml1"]}">{inner}</ogc:Filter>'


def in_grid(grid, inner: str, flavour=fes) -> str:
    x0, y0, x1, y1 = grid_bbox(grid)
    tag, ref = ("fes", "ValueReference") if flavour is fes else ("ogc", "PropertyName")
    box = (f"<{tag}:BBOX><{tag}:{ref}>geometry</{tag}:{ref}><gml:Envelope srsName=\"EPSG:5899\">"
           f"<gml:lowerCorner>{x0} {y0}</gml:lowerCorner><gml:upperCorner>{x1} {y1}</gml:upperCorner></gml:Envelope>"
           f"</{tag}:BBOX>")
    return flavour(f"<{tag}:And>{box}{inner}</{tag}:And>")


def polygon_latlon(grid, i: int, inset: float) -> str:
    """A GML 3.2 polygon around parcel i, in urn EPSG:4326 (latitude first)."""
    g = grid[i]
    ring = [(g["x0"] + dx, g["y0"] + dy) for dx, dy in
            ((inset, inset), (SIZE - inset, inset), (SIZE - inset, SIZE - inset), (inset, SIZE - inset), (inset, inset))]
    pts = " ".join(f"{lat} {lon}" for lon, lat in (transform(x, y, 5899, 4326) for x, y in ring))
    return (f'<gml:Polygon gml:id="q1" srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing>'
            f"<gml:posList>{pts}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>")


FILTER_CASES = {
    "equal": (lambda g: "<fes:PropertyIsEqualTo><fes:ValueReference>land_use</fes:ValueReference>"
              "<fes:Literal>ONT</fes:Literal></fes:PropertyIsEqualTo>", lambda g: [p for p in g if p["land_use"] == "ONT"]),
    "not_equal": (lambda g: "<fes:Not><fes:PropertyIsEqualTo><fes:ValueReference>land_use</fes:ValueReference>"
                  "<fes:Literal>ONT</fes:Literal></fes:PropertyIsEqualTo></fes:Not>",
                  lambda g: [p for p in g if p["land_use"] != "ONT"]),
    "between": (lambda g: "<fes:PropertyIsBetween><fes:ValueReference>legal_area_m2</fes:ValueReference>"
                "<fes:LowerBoundary><fes:Literal>103</fes:Literal></fes:LowerBoundary>"
                "<fes:UpperBoundary><fes:Literal>105</fes:Literal></fes:UpperBoundary></fes:PropertyIsBetween>",
                lambda g: g[3:6]),
    "like": (lambda g: '<fes:PropertyIsLike wildCard="*" singleChar="." escapeChar="!">'
             "<fes:ValueReference>address</fes:ValueReference><fes:Literal>1* Phố Lưới*</fes:Literal></fes:PropertyIsLike>",
             lambda g: [g[1], g[10], g[11]]),
    "null": (lambda g: "<fes:PropertyIsNull><fes:ValueReference>national_id</fes:ValueReference></fes:PropertyIsNull>",
             lambda g: g),
    "or": (lambda g: "<fes:Or><fes:PropertyIsLessThan><fes:ValueReference>legal_area_m2</fes:ValueReference>"
           "<fes:Literal>101</fes:Literal></fes:PropertyIsLessThan><fes:PropertyIsGreaterThanOrEqualTo>"
           "<fes:ValueReference>parcel_no</fes:ValueReference><fes:Literal>111</fes:Literal>"
           "</fes:PropertyIsGreaterThanOrEqualTo></fes:Or>", lambda g: [g[0], g[11]]),
    "intersects_latlon": (lambda g: f"<fes:Intersects><fes:ValueReference>geometry</fes:ValueReference>"
                          f"{polygon_latlon(g, 6, 3)}</fes:Intersects>", lambda g: [g[6]]),
    "within": (lambda g: f"<fes:Within><fes:ValueReference>geometry</fes:ValueReference>{polygon_latlon(g, 6, -3)}"
               "</fes:Within>", lambda g: [g[6]]),
    "contains": (lambda g: f"<fes:Contains><fes:ValueReference>geometry</fes:ValueReference>{polygon_latlon(g, 7, 2)}"
                 "</fes:Contains>", lambda g: [g[7]]),
    "disjoint": (lambda g: f"<fes:Disjoint><fes:ValueReference>geometry</fes:ValueReference>{polygon_latlon(g, 7, 2)}"
                 "</fes:Disjoint>", lambda g: [p for p in g if p is not g[7]]),
    "dwithin": (lambda g: "<fes:DWithin><fes:ValueReference>geometry</fes:ValueReference>"
                f'<gml:Point gml:id="p1" srsName="EPSG:5899"><gml:pos>{g[0]["x0"] - 4} {g[0]["y0"] + 5}</gml:pos></gml:Point>'
                '<fes:Distance uom="m">5</fes:Distance></fes:DWithin>', lambda g: [g[0]]),
    "beyond": (lambda g: "<fes:Beyond><fes:ValueReference>geometry</fes:ValueReference>"
               f'<gml:Point gml:id="p1" srsName="EPSG:5899"><gml:pos>{g[0]["x0"] - 4} {g[0]["y0"] + 5}</gml:pos></gml:Point>'
               '<fes:Distance uom="m">5</fes:Distance></fes:Beyond>', lambda g: g[1:]),
    "resource_id": (lambda g: f'<fes:ResourceId rid="{g[2]["fid"]}"/>', lambda g: [g[2]]),
}


@pytest.mark.parametrize("case", sorted(FILTER_CASES))
def test_fes20_filters(client, mode, grid, case):
    make, expect = FILTER_CASES[case]
    flt = fes(make(grid)) if case == "resource_id" else in_grid(grid, make(grid))
    root = validate(get_feature(client, mode, filter=flt).data, client)
    assert sorted(fids(root)) == sorted(p["fid"] for p in expect(grid))


def test_filter_1_1_with_feature_ids_and_comparisons(client, mode, grid):
    inner = ("<ogc:PropertyIsEqualTo><ogc:PropertyName>land_use</ogc:PropertyName><ogc:Literal>ONT</ogc:Literal>"
             "</ogc:PropertyIsEqualTo>")
    r = call(client, mode, {"service": "WFS", "version": "1.1.0", "request": "GetFeature", "typeName": "landdb:parcels",
                            "filter": in_grid(grid, inner, ogc)})
    assert r.status_code == 200, r.get_data(as_text=True)
    root = validate(r.data, client)
    assert sorted(fids(root)) == sorted(p["fid"] for p in grid if p["land_use"] == "ONT")
    r = call(client, mode, {"service": "WFS", "version": "1.1.0", "request": "GetFeature", "typeName": "landdb:parcels",
                            "filter": ogc(f'<ogc:FeatureId fid="{grid[1]["fid"]}"/><ogc:FeatureId fid="{grid[2]["fid"]}"/>')})
    assert sorted(fids(validate(r.data, client))) == sorted([grid[1]["fid"], grid[2]["fid"]])


def test_filter_1_1_bbox_in_lat_lon_urn(client, mode, grid):
    lon0, lat0 = transform(grid[4]["x0"] + 1, grid[4]["y0"] + 1, 5899, 4326)
    lon1, lat1 = transform(grid[4]["x0"] + 9, grid[4]["y0"] + 9, 5899, 4326)
    flt = ogc('<ogc:BBOX><ogc:PropertyName>geometry</ogc:PropertyName>'
              f'<gml:Envelope srsName="urn:x-ogc:def:crs:EPSG:4326"><gml:lowerCorner>{lat0} {lon0}</gml:lowerCorner>'
              f"<gml:upperCorner>{lat1} {lon1}</gml:upperCorner></gml:Envelope></ogc:BBOX>")
    r = call(client, mode, {"service": "WFS", "version": "1.1.0", "request": "GetFeature", "typeName": "landdb:parcels",
                            "filter": flt})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert fids(validate(r.data, client)) == [grid[4]["fid"]]


# --- errors and hostile input ---------------------------------------------------------------------

@pytest.mark.parametrize("kvp,code,status,locator", [
    ({"service": "WFS", "version": "2.0.0", "request": "GetFeature"}, "MissingParameterValue", 400, "typenames"),
    ({"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:owners"},
     "InvalidParameterValue", 400, "typenames"),
    ({"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels", "count": "-1"},
     "InvalidParameterValue", 400, "count"),
    ({"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
      "srsName": "EPSG:32648"}, "InvalidParameterValue", 400, "srsname"),
    ({"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
      "outputFormat": "shape-zip"}, "InvalidParameterValue", 400, "outputformat"),
    ({"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
      "filter": fes("<fes:PropertyIsEqualTo><fes:ValueReference>owner_name</fes:ValueReference>"
                    "<fes:Literal>x</fes:Literal></fes:PropertyIsEqualTo>")}, "InvalidParameterValue", 400, "filter"),
    ({"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
      "filter": fes("<fes:PropertyIsEqualTo><fes:ValueReference>sheet_no</fes:ValueReference>"
                    "<fes:Literal>seven</fes:Literal></fes:PropertyIsEqualTo>")}, "InvalidParameterValue", 400, "filter"),
    ({"service": "WFS", "version": "2.0.0", "request": "Transaction"}, "OperationNotSupported", 501, "request"),
])
def test_errors_are_exception_reports(client, mode, kvp, code, status, locator):
    if mode == "post" and kvp["request"] == "Transaction":
        r = call(client, mode, kvp, xml=f'<wfs:Transaction xmlns:wfs="{NS["wfs"]}" service="WFS" version="2.0.0"/>')
    else:
        r = call(client, mode, kvp)
    exception(r, code, status, locator if mode == "get" or locator in ("count", "filter", "srsname", "typenames",
                                                                          "outputformat", "request") else None, client)


def test_missing_request_and_version(client):
    exception(client.get("/wfs?service=WFS"), "MissingParameterValue", 400, "request", client)
    exception(client.get("/wfs?service=WFS&request=GetFeature&typeNames=landdb:parcels"),
              "MissingParameterValue", 400, "version", client)


def test_a_bad_geometry_in_a_filter_is_a_400(client, mode, grid):
    flt = fes('<fes:Intersects><fes:ValueReference>geometry</fes:ValueReference><gml:Polygon gml:id="x">'
              "<gml:exterior><gml:LinearRing><gml:posList>1 2 3</gml:posList></gml:LinearRing></gml:exterior>"
              "</gml:Polygon></fes:Intersects>")
    exception(call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                  "typeNames": "landdb:parcels", "filter": flt}), "InvalidParameterValue", 400,
              client=client)


XXE = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       f'<wfs:GetFeature xmlns:wfs="{NS["wfs"]}" service="WFS" version="2.0.0"><wfs:Query typeNames="landdb:parcels">'
       "<wfs:PropertyName>&xxe;</wfs:PropertyName></wfs:Query></wfs:GetFeature>")
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
          f'<wfs:GetCapabilities xmlns:wfs="{NS["wfs"]}" service="WFS">&lol3;</wfs:GetCapabilities>')


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["xxe", "billion_laughs"])
def test_dtds_are_refused(client, body):
    r = client.post("/wfs", data=body.encode(), content_type="application/xml")
    exception(r, "OperationParsingFailed", 400, client=client)
    assert b"root:" not in r.data


def test_dtd_in_a_kvp_filter_is_refused(client):
    flt = '<!DOCTYPE f [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + fes(
        "<fes:PropertyIsEqualTo><fes:ValueReference>address</fes:ValueReference><fes:Literal>&e;</fes:Literal>"
        "</fes:PropertyIsEqualTo>")
    r = call(client, "get", {"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                             "typeNames": "landdb:parcels", "filter": flt})
    exception(r, "OperationParsingFailed", 400, client=client)


def test_oversized_body_is_refused(client):
    body = f'<wfs:GetCapabilities xmlns:wfs="{NS["wfs"]}" service="WFS"><!--{"x" * 1_100_000}--></wfs:GetCapabilities>'
    r = client.post("/wfs", data=body.encode(), content_type="application/xml")
    exception(r, "OperationParsingFailed", 413, client=client)


def test_malformed_xml_is_operation_parsing_failed(client):
    r = client.post("/wfs", data=b"<wfs:GetFeature", content_type="application/xml")
    exception(r, "OperationParsingFailed", 400, client=client)


def test_wfs_1_0_errors_are_service_exception_reports(client):
    r = client.get("/wfs?service=WFS&version=1.0.0&request=GetFeature&typeName=landdb:nothing")
    exception(r, "InvalidParameterValue", 400, client=client)


def test_no_personal_data_anywhere(client, grid, session):
    from tests.factories import make_party, make_right

    party = make_party(session, name="Trần Thị Bí Mật", id_number="022090009999")
    make_right(session, grid[0]["id"], party)
    session.flush()
    for fmt in (GML32, "application/json", "text/xml; subtype=gml/3.1.1", "text/xml; subtype=gml/2.1.2"):
        r = get_feature(client, "get", resourceId=grid[0]["fid"], outputFormat=fmt)
        text = r.get_data(as_text=True)
        assert "Bí Mật" not in text and "022090009999" not in text


def test_large_pages_stream_from_a_server_side_cursor(client, mode, grid, session):
    from landdb.query import BUFFERED_MAX

    from .conftest import current_parcel_count

    expected = current_parcel_count(session)
    body = json.loads(get_feature(client, mode, outputFormat="application/json", count=BUFFERED_MAX + 1).data)
    assert body["numberMatched"] == expected == body["numberReturned"] == len(body["features"])
    ids = [int(f["id"].split(".")[1]) for f in body["features"]]
    assert ids == sorted(ids)
    root = validate(get_feature(client, mode, count=BUFFERED_MAX + 1, startIndex=expected - 3).data, client)
    assert len(fids(root)) == 3 and root.get("previous") is not None and root.get("next") is None


def test_pooled_connections_small_then_streamed_pages(settings):
    """In production the app owns pooled connections: small pages run without a transaction,
    and the connection goes back to the pool ready for a streamed page (which needs one)."""
    from api import create_app
    from landdb.query import BUFFERED_MAX

    app = create_app(settings.with_(rate_limit="", rate_limit_public="", pool_size=1, max_overflow=0), testing=True)
    client = app.test_client()
    for count in (10, BUFFERED_MAX + 1, 10, BUFFERED_MAX + 1):
        r = client.get("/wfs?" + urlencode({"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                            "typeNames": "landdb:parcels", "count": count,
                                            "outputFormat": "application/json"}))
        assert r.status_code == 200, r.get_data(as_text=True)
        body = json.loads(r.data)
        assert body["numberReturned"] == min(count, body["numberMatched"]) == len(body["features"])


@pytest.mark.parametrize("flt", [
    "<fes:PropertyIsLike wildCard='*' singleChar='.' escapeChar='!'><fes:ValueReference>address</fes:ValueReference>"
    "<fes:Literal>*a*</fes:Literal></fes:PropertyIsLike>",
    "<fes:PropertyIsBetween><fes:ValueReference>valid_from</fes:ValueReference><fes:LowerBoundary><fes:Literal>"
    "2000-01-01</fes:Literal></fes:LowerBoundary><fes:UpperBoundary><fes:Literal>2030-01-01</fes:Literal>"
    "</fes:UpperBoundary></fes:PropertyIsBetween>",
    "<fes:Or><fes:ResourceId rid='parcels.1'/><fes:ResourceId rid='parcels.2'/></fes:Or>",
    "<fes:PropertyIsGreaterThan><fes:ValueReference>area_m2</fes:ValueReference><fes:Literal>100.5</fes:Literal>"
    "</fes:PropertyIsGreaterThan>",
], ids=["like", "between_dates", "resource_ids", "decimal"])
def test_prepared_statements_on_pooled_connections_agree_with_plain_ones(settings, client, flt):
    """Production runs small pages as prepared statements; the answers match the plain path's."""
    from api import create_app

    pooled = create_app(settings.with_(rate_limit="", rate_limit_public=""), testing=True).test_client()
    url = "/wfs?" + urlencode({"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                               "typeNames": "landdb:parcels", "count": 200, "outputFormat": "application/json",
                               "filter": fes(flt)})
    plain = json.loads(client.get(url).data)
    for _ in range(7):  # past PostgreSQL's switch to a generic plan
        r = pooled.get(url)
        assert r.status_code == 200, r.get_data(as_text=True)
        body = json.loads(r.data)
        assert body["numberMatched"] == plain["numberMatched"]
        assert [f["id"] for f in body["features"]] == [f["id"] for f in plain["features"]]


@pytest.mark.parametrize("version", ["2.0.0", "1.1.0", "1.0.0"])
def test_a_parcel_of_two_polygons_has_both_with_distinct_ids(client, session, version):
    """Most parcels are one polygon (written without a per-feature subquery); a parcel of two keeps
    both, each polygon with its own gml:id in GML 3.2, and the answer stays schema-valid."""
    from tests.factories import TEST_AREA, make_parcel

    x0, y0 = TEST_AREA[0] + 500, TEST_AREA[1] + 500
    two = (f"MULTIPOLYGON((({x0} {y0},{x0 + 10} {y0},{x0 + 10} {y0 + 10},{x0} {y0 + 10},{x0} {y0})),"
           f"(({x0 + 30} {y0},{x0 + 40} {y0},{x0 + 40} {y0 + 10},{x0 + 30} {y0 + 10},{x0 + 30} {y0})))")
    pid, _ = make_parcel(session, wkt=two, sheet_no=78, parcel_no=1)
    session.flush()
    r = client.get("/wfs?" + urlencode({"service": "WFS", "version": version, "request": "GetFeature",
                                        "typeName" if version != "2.0.0" else "typeNames": "landdb:parcels",
                                        "featureID" if version != "2.0.0" else "resourceId": f"parcels.{pid}"}))
    assert r.status_code == 200, r.get_data(as_text=True)
    root = validate(r.data, client)
    gml = NS["gml"] if version == "2.0.0" else NS["gml1"]
    polygons = list(root.iter(f"{{{gml}}}Polygon"))
    assert len(polygons) == 2
    if version == "2.0.0":
        assert [p.get(f"{{{gml}}}id") for p in polygons] == [f"parcels.{pid}.g.1", f"parcels.{pid}.g.2"]
    doc = json.loads(client.get("/wfs?" + urlencode({
        "service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
        "resourceId": f"parcels.{pid}", "outputFormat": "application/json"})).data)
    assert doc["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert len(doc["features"][0]["geometry"]["coordinates"]) == 2
