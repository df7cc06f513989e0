"""A hypothesis fuzz of the WFS: KVP requests and their XML encodings, filters built from the
operators the service lists (and some it does not), with odd values everywhere. Whatever comes
in, the answer is never a 500: a result, or an OWS ExceptionReport with a 4xx.

The app runs with TESTING on, so an unexpected exception re-raises and fails with its traceback.
Bounded and deterministic (derandomised, a fixed number of examples).
"""

from __future__ import annotations

from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import NS, to_xml

FUZZ = settings(max_examples=120, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

odd_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
numbers = st.one_of(st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True).map(repr),
                    st.sampled_from(["", "-0", "1e400", "NaN", "²", "٣", " 5 "]))
names = st.one_of(st.sampled_from(["landdb:parcels", "parcels", "landdb:wards", "wards", "x:parcels",
                                   "{https://landdb.halong/ns/landdb}parcels"]), odd_text)
properties = st.one_of(st.sampled_from(["parcel_code", "land_use", "legal_area_m2", "area_m2", "address",
                                        "valid_from", "geometry", "code", "name", "landdb:land_use",
                                        "@gml:id", "nope"]), odd_text)
crs_names = st.one_of(st.sampled_from(["EPSG:4326", "urn:ogc:def:crs:EPSG::4326", "EPSG:5899", "EPSG:3857",
                                       "urn:ogc:def:crs:EPSG::5899", "http://www.opengis.net/def/crs/EPSG/0/4326",
                                       "EPSG:99999", "urn:ogc:def:crs:OGC:1.3:CRS84"]), odd_text)
ids = st.one_of(st.integers(-5, 10**20).map(lambda n: f"parcels.{n}"), st.sampled_from(["wards.1", "parcels.²"]),
                odd_text)


def _literal():
    return st.one_of(numbers, odd_text, st.sampled_from(["ODT", "2024-01-01", "06691-1-1", "%", "*", "\\"]))


def _coords(n):
    return st.lists(st.one_of(st.floats(400_000, 460_000), st.floats(allow_nan=True, allow_infinity=True),
                              st.sampled_from([20.95, 107.07])), min_size=0, max_size=n)


def _filters(fes: bool):
    tag = "fes" if fes else "ogc"
    ref = "ValueReference" if fes else "PropertyName"
    gml = NS["gml"] if fes else NS["gml1"]

    def prop(name):
        return f"<{tag}:{ref}>{escape(name)}</{tag}:{ref}>"

    compare = st.builds(
        lambda op, name, value: f"<{tag}:{op}>{prop(name)}<{tag}:Literal>{escape(value)}</{tag}:Literal></{tag}:{op}>",
        st.sampled_from(["PropertyIsEqualTo", "PropertyIsNotEqualTo", "PropertyIsLessThan",
                         "PropertyIsGreaterThanOrEqualTo", "PropertyIsLike", "PropertyIsFoo"]),
        properties, _literal())
    null = st.builds(lambda name: f"<{tag}:PropertyIsNull>{prop(name)}</{tag}:PropertyIsNull>", properties)
    between = st.builds(
        lambda name, lo, hi: (f"<{tag}:PropertyIsBetween>{prop(name)}<{tag}:LowerBoundary><{tag}:Literal>{escape(lo)}"
                              f"</{tag}:Literal></{tag}:LowerBoundary><{tag}:UpperBoundary><{tag}:Literal>"
                              f"{escape(hi)}</{tag}:Literal></{tag}:UpperBoundary></{tag}:PropertyIsBetween>"),
        properties, _literal(), _literal())
    envelope = st.builds(
        lambda srs, lo, hi: (f'<gml:Envelope xmlns:gml="{gml}" srsName={quoteattr(srs)}>'
                             f"<gml:lowerCorner>{' '.join(map(str, lo))}</gml:lowerCorner>"
                             f"<gml:upperCorner>{' '.join(map(str, hi))}</gml:upperCorner></gml:Envelope>"),
        crs_names, _coords(3), _coords(3))
    polygon = st.builds(
        lambda srs, pts: (f'<gml:Polygon xmlns:gml="{gml}" srsName={quoteattr(srs)}><gml:exterior><gml:LinearRing>'
                          f"<gml:posList>{' '.join(map(str, pts))}</gml:posList></gml:LinearRing></gml:exterior>"
                          "</gml:Polygon>"),
        crs_names, _coords(12))
    spatial = st.builds(
        lambda op, name, geom: f"<{tag}:{op}>{prop(name)}{geom}</{tag}:{op}>",
        st.sampled_from(["BBOX", "Intersects", "Within", "Contains", "Disjoint", "Touches", "Crosses"]),
        properties, st.one_of(envelope, polygon))
    dwithin = st.builds(
        lambda name, geom, dist, unit: (f"<{tag}:DWithin>{prop(name)}{geom}<{tag}:Distance uom={quoteattr(unit)}>"
                                        f"{escape(dist)}</{tag}:Distance></{tag}:DWithin>"),
        properties, polygon, numbers, st.sampled_from(["m", "km", "furlong", ""]))
    rid = st.builds(lambda i: (f"<{tag}:ResourceId rid={quoteattr(i)}/>" if fes else
                               f"<{tag}:FeatureId fid={quoteattr(i)}/>"), ids)
    leaf = st.one_of(compare, null, between, spatial, dwithin, rid)
    tree = st.recursive(leaf, lambda kids: st.one_of(
        st.builds(lambda a: f"<{tag}:Not>{a}</{tag}:Not>", kids),
        st.builds(lambda xs, op: f"<{tag}:{op}>{''.join(xs)}</{tag}:{op}>",
                  st.lists(kids, min_size=0, max_size=4), st.sampled_from(["And", "Or"]))), max_leaves=8)
    ns = NS["fes"] if fes else NS["ogc"]
    return st.builds(lambda body: f'<{tag}:Filter xmlns:{tag}="{ns}">{body}</{tag}:Filter>', tree)


filters = st.one_of(_filters(True), _filters(False), odd_text)


@st.composite
def kvp_requests(draw):
    version = draw(st.sampled_from(["2.0.0", "1.1.0", "1.0.0", "2.0", "3.0.0", ""]))
    request = draw(st.sampled_from(["GetFeature", "GetFeature", "GetFeature", "GetPropertyValue",
                                    "DescribeFeatureType", "GetCapabilities", "DescribeStoredQueries", "Transaction"]))
    kvp = {"service": draw(st.sampled_from(["WFS", "WFS", "WMS", ""])), "version": version, "request": request}
    optional = {
        "typeNames": names, "typeName": names, "count": numbers, "maxFeatures": numbers, "startIndex": numbers,
        "resultType": st.sampled_from(["results", "hits", "HITS", "nope"]),
        "outputFormat": st.one_of(st.sampled_from(["application/json", "gml3", "gml2", "text/xml; subtype=gml/3.1.1",
                                                   "application/gml+xml; version=3.2", "csv"]), odd_text),
        "srsName": crs_names, "propertyName": st.lists(properties, max_size=3).map(",".join),
        "sortBy": st.builds(lambda p, d: f"{p} {d}", properties, st.sampled_from(["ASC", "DESC", "D", "UP"])),
        "bbox": st.builds(lambda xs, c: ",".join(map(str, xs)) + (f",{c}" if c else ""), _coords(5),
                          st.one_of(st.none(), crs_names)),
        "resourceId": st.lists(ids, max_size=3).map(",".join), "filter": filters,
        "valueReference": properties, "at": st.one_of(st.sampled_from(["2024-01-01", "2024-13-01", "0001-01-01"]),
                                                      odd_text),
        "storedQuery_id": st.sampled_from(["urn:ogc:def:query:OGC-WFS::GetFeatureById", "nope"]), "ID": ids,
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), max_size=5, unique=True)):
        kvp[key] = draw(optional[key])
    return kvp


def _no_server_error(resp, what):
    assert resp.status_code < 500 or resp.status_code in (501, 504), (what, resp.status_code, resp.data[:400])
    if resp.status_code >= 400:
        assert b"Exception" in resp.data, (what, resp.data[:400])


@pytest.mark.parametrize("mode", ["get", "post"])
def test_no_request_gets_a_server_error(client, mode):
    @FUZZ
    @given(kvp=kvp_requests())
    def run(kvp):
        if mode == "get":
            resp = client.get("/wfs?" + urlencode(kvp))
        else:
            try:
                body = to_xml(kvp)
            except (KeyError, IndexError):  # no REQUEST, or a bbox without four corners: no XML encoding
                return
            resp = client.post("/wfs", data=body.encode("utf-8", "surrogatepass"), content_type="application/xml")
        _no_server_error(resp, kvp)

    run()
