"""Time travel on /api/v1/parcels: a feature's `status` is the parcel's as of the `at` day, not today's."""

from __future__ import annotations

from landdb import crs, registry

from ...registry_helpers import X0, Y0, code_of, first_registration_body, rect, serial

X, Y = X0 + 1700, Y0 + 1700


def reg(session, body) -> dict:
    answer, _ = registry.register(session, body)
    return answer


def status(api, path, **query):
    r = api.get(path, query_string=query)
    assert r.status_code == 200, r.json
    return r.json["properties"]["status"]


def test_a_retired_parcel_shows_its_status_as_of_the_at_day(api, session):
    parent = code_of(reg(session, first_registration_body(X, Y, w=20, sheet=770)))
    reg(session, {"kind": "split", "parcel": parent, "expected_version": 1,
                  "effective_date": "2024-09-01",
                  "children": [{"geometry": rect(X, Y, 12, 10), "legal_area_m2": 120},
                               {"geometry": rect(X + 12, Y, 8, 10), "legal_area_m2": 80}]})
    a = code_of(reg(session, first_registration_body(X, Y + 20, sheet=770)))
    b = code_of(reg(session, first_registration_body(X + 10, Y + 20, sheet=770)))
    reg(session, {"kind": "merge", "parcels": [a, b], "expected_version": {a: 1, b: 1},
                  "effective_date": "2024-10-01", "certificate": {"serial": serial()}})
    session.flush()

    for code, retired_on in ((parent, "2024-09-01"), (a, "2024-10-01"), (b, "2024-10-01")):
        day_before = {"2024-09-01": "2024-08-31", "2024-10-01": "2024-09-30"}[retired_on]
        assert status(api, f"/api/v1/parcels/{code}", at=day_before) == "current", code
        assert status(api, f"/api/v1/parcels/{code}") == "retired", code
        # on the retirement day itself the parcel is gone (half-open [registered_on, retired_on))
        assert api.get(f"/api/v1/parcels/{code}", query_string={"at": retired_on}).status_code == 404

    # the collections and the point lookup say the same
    found = api.get("/api/v1/parcels", query_string={"ward": "06691", "sheet": 770, "at": "2024-08-31"}).json
    assert {f["id"]: f["properties"]["status"] for f in found["features"]} == {
        parent: "current", a: "current", b: "current"}
    lon, lat = crs.transform(X + 5, Y + 5, 5899, 4326)
    assert status(api, "/api/v1/parcels/at", lon=lon, lat=lat, at="2024-08-31") == "current"
    near = api.get("/api/v1/parcels/near", query_string={"lon": lon, "lat": lat, "radius": 1, "at": "2024-08-31"}).json
    assert [(f["id"], f["properties"]["status"]) for f in near["features"]] == [(parent, "current")]
