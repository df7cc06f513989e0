"""A real browser (Debian's Chromium under Playwright) draws the style's map from our tiles: features are queryable."""

from __future__ import annotations

from sqlalchemy import text

from tests.browser import screenshot


def test_maplibre_draws_parcels_and_wards_from_the_tiles(live_server, page, page_errors, session):
    code, lon, lat = session.execute(text(
        "SELECT p.parcel_code, ST_X(c), ST_Y(c) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
        "AND v.valid_to IS NULL, LATERAL (SELECT ST_Transform(ST_PointOnSurface(v.geom), 4326) c) x "
        "WHERE p.retired_on IS NULL AND p.ward_code = '06691' ORDER BY p.id LIMIT 1")).one()
    page.goto(f"{live_server}/ogc/styles/landdb?f=html#17/{lat}/{lon}")
    assert page.get_by_role("region", name="Bản đồ thửa đất").is_visible()
    assert page.get_by_role("complementary", name="Chú giải").get_by_text("Đất ở").is_visible()
    page.wait_for_function("() => window.map && window.map.loaded() && window.map.areTilesLoaded()",
                           timeout=60_000)
    parcels = page.evaluate("""() => map.queryRenderedFeatures({layers: ['parcels-fill']})
                                       .map(f => [f.properties.parcel_code, f.properties.land_use])""")
    wards = page.evaluate("() => map.queryRenderedFeatures({layers: ['wards-outline']}).map(f => f.properties.name)")
    at_centre = page.evaluate("""() => { const p = map.project(map.getCenter());
        return map.queryRenderedFeatures(p, {layers: ['parcels-fill']}).map(f => f.properties.parcel_code); }""")
    screenshot(page, "tiles-map-z17")
    assert len(parcels) > 10, parcels
    assert all(use for _, use in parcels)
    assert code in at_centre
    assert "Hồng Gai" in wards
    # The fill is the colour table's: read back the painted colour of the parcel at the centre.
    colour = page.evaluate("""() => { const p = map.project(map.getCenter());
        const f = map.queryRenderedFeatures(p, {layers: ['parcels-fill']})[0];
        return [f.properties.land_use, f.layer.paint['fill-color']]; }""")
    assert colour[1] is not None
    assert not page_errors, page_errors
