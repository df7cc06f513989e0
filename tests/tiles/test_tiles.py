"""Vector tiles: what they hold (decoded with mapbox-vector-tile), as of a past day, filtered, cached, refused."""

from __future__ import annotations

import datetime as dt
import gzip

import morecantile
import pytest
from shapely import hausdorff_distance
from sqlalchemy import text

from landdb import registry

from .helpers import (MERCATOR, codes, decode, expected_codes, features, parcels_near, tile_at, tile_url,
                      to_mercator)

MVT = "application/vnd.mapbox-vector-tile"


@pytest.fixture
def known(session):
    """A current sample parcel in the urban core: (code, land use, legal area)."""
    return session.execute(text(
        "SELECT p.parcel_code, v.land_use, v.legal_area_m2, v.version FROM parcels p "
        "JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL "
        "WHERE p.retired_on IS NULL AND p.ward_code = '06691' ORDER BY p.id LIMIT 1")).one()


@pytest.mark.parametrize("z", [15, 16, 18])
def test_a_tile_holds_the_parcels_of_its_area(client, session, known, z):
    t = tile_at(session, known.parcel_code, z)
    must, may = expected_codes(session, t)
    got = codes(client, t.z, t.x, t.y)
    assert known.parcel_code in must
    assert must <= got, f"missing from the tile: {sorted(must - got)[:10]}"
    assert got <= may, f"in the tile but nowhere near it: {sorted(got - may)[:10]}"


def test_the_overview_zoom_has_every_parcel_with_its_land_use_only(client, session, known):
    t = tile_at(session, known.parcel_code, 14)
    must, may = expected_codes(session, t)
    got = features(client, "parcels", t.z, t.x, t.y)
    assert len(must) <= len(got) <= len(may) and len(must) > 100
    assert all(set(f["properties"]) == {"land_use"} and not f.get("id") for f in got)  # no id: decoded as 0
    assert {f["properties"]["land_use"] for f in got} >= {known.land_use}


def test_features_carry_their_properties_and_boundary(client, session, known):
    t = tile_at(session, known.parcel_code, 18)
    resp = client.get(tile_url("parcels", t.z, t.x, t.y))
    assert resp.status_code == 200
    assert resp.mimetype == MVT
    layer = decode(resp.data)["parcels"]
    assert layer["extent"] == 4096
    feature = next(f for f in layer["features"] if f["properties"]["parcel_code"] == known.parcel_code)
    assert set(feature["properties"]) == {"parcel_code", "land_use", "legal_area_m2"}
    assert feature["properties"]["land_use"] == known.land_use
    assert feature["properties"]["legal_area_m2"] == pytest.approx(float(known.legal_area_m2))
    # The boundary, back in EPSG:3857, within a metre of the register's (transformed by pyproj).
    expected = parcels_near(session, t)[known.parcel_code]
    got = to_mercator(feature, t)
    tile = morecantile.tms.get("WebMercatorQuad").xy_bounds(t)
    from shapely.geometry import box

    clip = box(tile.left, tile.bottom, tile.right, tile.top).buffer(64 * (tile.right - tile.left) / 4096)
    assert hausdorff_distance(got, expected.intersection(clip)) < 1.0


def test_parcels_start_at_their_minimum_zoom_wards_at_every_zoom(client, session, known):
    t13 = tile_at(session, known.parcel_code, 13)
    resp = client.get(tile_url("parcels", t13.z, t13.x, t13.y))
    assert resp.status_code == 204 and resp.data == b""
    assert "ETag" in resp.headers
    for z in (8, 11, 13, 15):
        t = tile_at(session, known.parcel_code, z)
        names = {f["properties"]["name"] for f in features(client, "wards", t.z, t.x, t.y)}
        assert "Hồng Gai" in names, (z, names)


def test_ward_tiles_show_the_units_of_the_day(client, session, known):
    """Bạch Đằng merged into Hồng Gai on 1 July 2025: it is on the map of 2024, not on today's."""
    t = tile_at(session, known.parcel_code, 12)
    now = {f["properties"]["name"] for f in features(client, "wards", t.z, t.x, t.y)}
    before = {f["properties"]["name"] for f in features(client, "wards", t.z, t.x, t.y, "at=2024-06-01")}
    assert "Bạch Đằng" in before and "Bạch Đằng" not in now
    props = features(client, "wards", t.z, t.x, t.y)[0]["properties"]
    assert set(props) == {"code", "name", "level"}


def test_a_past_day_tile_shows_the_parcels_of_that_day_and_is_immutable(client, session):
    # A parcel retired by a split or merge: on the day before, it is on the map; today, not.
    retired = session.execute(text(
        "SELECT p.parcel_code, p.retired_on FROM parcels p WHERE p.retired_on IS NOT NULL "
        "AND p.ward_code = '06691' ORDER BY p.id LIMIT 1")).one()
    day = retired.retired_on - dt.timedelta(days=1)
    lon, lat = session.execute(text(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_PointOnSurface(v.geom), 4326) c "
        "FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id WHERE p.parcel_code = :c "
        "AND v.valid_to = :r) s"), {"c": retired.parcel_code, "r": retired.retired_on}).one()
    t = MERCATOR.tile(lon, lat, 17)
    then = codes(client, t.z, t.x, t.y, f"at={day}")
    must, may = expected_codes(session, t, at=day)
    assert retired.parcel_code in then and must <= then <= may
    assert retired.parcel_code not in codes(client, t.z, t.x, t.y)
    # datetime= (OGC's spelling) gives the same tile; an instant counts by its day in Hạ Long.
    assert codes(client, t.z, t.x, t.y, f"datetime={day}") == then
    assert codes(client, t.z, t.x, t.y, f"datetime={day}T20:00:00%2B07:00") == then
    resp = client.get(tile_url("parcels", t.z, t.x, t.y, f"at={day}"))
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    now = client.get(tile_url("parcels", t.z, t.x, t.y))
    assert "immutable" not in now.headers["Cache-Control"]
    assert now.headers["ETag"] != resp.headers["ETag"]


def test_etag_changes_after_a_registration_in_the_tile_and_not_after_one_elsewhere(client, session, known):
    here = tile_at(session, known.parcel_code, 16)
    elsewhere = MERCATOR.tile(107.30, 21.10, 16)  # far from the parcel, in the city's north
    urls = {name: tile_url("parcels", t.z, t.x, t.y) for name, t in (("here", here), ("elsewhere", elsewhere))}
    before = {name: client.get(url) for name, url in urls.items()}
    etags = {name: r.headers["ETag"] for name, r in before.items()}
    assert client.get(urls["here"], headers={"If-None-Match": etags["here"]}).status_code == 304

    new_use = "TMD" if known.land_use != "TMD" else "ODT"
    registry.change_land_use(session, parcel=known.parcel_code, expected_version=known.version,
                             effective_date=dt.date.today().isoformat(), land_use=new_use, dossier_no="HS-TILE")
    session.flush()

    after = client.get(urls["here"], headers={"If-None-Match": etags["here"]})
    assert after.status_code == 200 and after.headers["ETag"] != etags["here"]
    feature = next(f for f in decode(after.data)["parcels"]["features"]
                   if f["properties"]["parcel_code"] == known.parcel_code)
    assert feature["properties"]["land_use"] == new_use
    unchanged = client.get(urls["elsewhere"], headers={"If-None-Match": etags["elsewhere"]})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == etags["elsewhere"]
    assert client.get(urls["here"], headers={"If-None-Match": after.headers["ETag"]}).status_code == 304


def test_ward_tiles_revalidate_by_their_content(client, session, known):
    t = tile_at(session, known.parcel_code, 12)
    first = client.get(tile_url("wards", t.z, t.x, t.y))
    assert first.status_code == 200 and first.headers["ETag"].startswith('W/"wards.')
    again = client.get(tile_url("wards", t.z, t.x, t.y), headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_gzip_when_the_client_accepts_it(client, session, known):
    t = tile_at(session, known.parcel_code, 15)
    plain = client.get(tile_url("parcels", t.z, t.x, t.y))
    zipped = client.get(tile_url("parcels", t.z, t.x, t.y), headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data)
    assert zipped.headers["Vary"] == "Accept-Encoding" and zipped.headers["ETag"] == plain.headers["ETag"]


def test_a_cql2_filter_narrows_a_tile(client, session, known):
    t = tile_at(session, known.parcel_code, 15)
    all_ = features(client, "parcels", t.z, t.x, t.y)
    odt = features(client, "parcels", t.z, t.x, t.y, "filter=land_use%3D%27ODT%27")
    assert odt and {f["properties"]["land_use"] for f in odt} == {"ODT"}
    assert {f["id"] for f in odt} == {f["id"] for f in all_ if f["properties"]["land_use"] == "ODT"}
    as_json = features(client, "parcels", t.z, t.x, t.y,
                       'filter-lang=cql2-json&filter={"op":"=","args":[{"property":"land_use"},"ODT"]}')
    assert {f["id"] for f in as_json} == {f["id"] for f in odt}
    big = features(client, "parcels", t.z, t.x, t.y, "filter=legal_area_m2 > 500")
    assert big and all(f["properties"]["legal_area_m2"] > 500 for f in big) and len(big) < len(all_)
    etag_all = client.get(tile_url("parcels", t.z, t.x, t.y)).headers["ETag"]
    etag_odt = client.get(tile_url("parcels", t.z, t.x, t.y, "filter=land_use%3D%27ODT%27")).headers["ETag"]
    assert etag_all != etag_odt


@pytest.mark.parametrize("url, status, field", [
    ("/ogc/collections/owners/tiles/WebMercatorQuad/14/7000/13000", 404, "collectionId"),
    ("/ogc/collections/parcels/tiles/WorldCRS84Quad/14/7000/13000", 404, "tileMatrixSetId"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/23/0/0", 404, "tileMatrix"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/3/8/0", 404, "tileRow"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/3/0/8", 404, "tileCol"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/99999999999999999999/0/0", 404, "tileMatrix"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?filter=land_use%3D", 400, "filter"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?filter=owner_name%3D%27x%27", 400, None),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?filter-lang=sql&filter=1", 400, "filter-lang"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?filter-lang=cql2-json&filter={", 400, "filter"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?at=yesterday", 400, "at"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?datetime=2024-01-01/2025-01-01", 400, "datetime"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?datetime=2024-01-01&at=2024-01-02", 400, "datetime"),
    ("/ogc/collections/parcels/tiles/WebMercatorQuad/15/14500/26000?at=1900-01-01", 400, "at"),
])
def test_bad_requests_get_a_problem_document(client, url, status, field):
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["detail"]
    if field:
        assert body.get("field") == field
