"""The serving layer stays exactly in step with the register: after the sample load, after a
registration of every kind, after an import, after a ward is renamed — and the check finds a
layer that does not."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import box
from sqlalchemy import text

from landdb import registry
from landdb.importer import import_parcels
from landdb.query import serving

from ..registry_helpers import BANK, X0, Y0, code_of, first_registration_body, person, rect, serial
from .test_timetravel import replay

X, Y = X0 + 2200, Y0 + 2200  # this module's part of the test area


def reg(session, body):
    answer, _ = registry.register(session, body, actor="test officer")
    return answer


def first(session, x, y, **kw):
    return code_of(reg(session, first_registration_body(x, y, **kw)))


def served(session, code: str):
    return session.execute(text("SELECT * FROM parcel_features WHERE parcel_code = :c"), {"c": code}).one_or_none()


def party_id(session, n: int) -> int:
    return session.execute(text("SELECT id FROM parties WHERE id_number = :n"),
                           {"n": person(n)["id_number"]}).scalar_one()


def assert_in_step(session):
    result = serving.check(session)
    assert result.ok, result
    assert result.rows == session.execute(text(
        "SELECT count(*) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL"
        " WHERE p.retired_on IS NULL")).scalar_one()


def test_the_sample_is_served(session):
    assert_in_step(session)
    assert serving.check(session).rows >= 3000


def test_every_kind_of_registration_keeps_the_layer_in_step(session):
    holders = [dict(person(1), share=0.5), dict(person(2), share=0.5)]
    a = first(session, X, Y, w=20, holders=holders)
    assert served(session, a).land_use == "ODT"
    assert_in_step(session)

    reg(session, {"kind": "land_use_change", "parcel": a, "expected_version": 1, "effective_date": "2024-05-01",
                  "land_use": "TMD"})
    row = served(session, a)
    assert (row.land_use, row.version, row.land_use_name) == ("TMD", 2, session.execute(
        text("SELECT name_vi FROM land_use_codes WHERE code = 'TMD'")).scalar_one())
    assert_in_step(session)

    reg(session, {"kind": "geometry_correction", "parcel": a, "expected_version": 2, "effective_date": "2024-05-02",
                  "geometry": rect(X, Y, 20, 10.4), "legal_area_m2": 208})
    row = served(session, a)
    assert (float(row.area_m2), float(row.legal_area_m2), row.version) == (208.0, 208.0, 3)
    assert_in_step(session)

    reg(session, {"kind": "mortgage", "parcel": a, "expected_version": 3, "effective_date": "2024-06-01",
                  "mortgagee": BANK, "secured_amount_vnd": 1_000_000_000})
    bank = session.execute(text("SELECT id FROM parties WHERE id_number = :n"), {"n": BANK["id_number"]}).scalar_one()
    v = served(session, a).version
    reg(session, {"kind": "mortgage_release", "parcel": a, "expected_version": v, "effective_date": "2024-06-02",
                  "mortgagee": {"party_id": bank}})
    v = served(session, a).version
    reg(session, {"kind": "certificate_reissue", "parcel": a, "expected_version": v, "effective_date": "2024-06-03",
                  "certificate": {"serial": serial("AA")}})
    v = served(session, a).version
    reg(session, {"kind": "transfer", "parcel": a, "expected_version": v, "effective_date": "2024-06-04",
                  "transferors": [{"party_id": party_id(session, 1)}, {"party_id": party_id(session, 2)}],
                  "transferees": [person(3)], "certificate": {"serial": serial()}})
    v = served(session, a).version
    reg(session, {"kind": "gift", "parcel": a, "expected_version": v, "effective_date": "2024-06-05",
                  "transferors": [{"party_id": party_id(session, 3)}], "transferees": [person(4)],
                  "certificate": {"serial": serial()}})
    v = served(session, a).version
    reg(session, {"kind": "inheritance", "parcel": a, "expected_version": v, "effective_date": "2024-06-06",
                  "transferors": [{"party_id": party_id(session, 4)}],
                  "transferees": [dict(person(5), share=0.5), dict(person(6), share=0.5)],
                  "certificate": {"serial": serial()}})
    assert_in_step(session)

    v = served(session, a).version
    split = reg(session, {"kind": "split", "parcel": a, "expected_version": v, "effective_date": "2024-09-01",
                          "children": [{"geometry": rect(X, Y, 12, 10.4), "legal_area_m2": 124.8},
                                       {"geometry": rect(X + 12, Y, 8, 10.4), "legal_area_m2": 83.2}]})
    children = split["opened"]["parcels"]
    assert served(session, a) is None and all(served(session, c) is not None for c in children)
    assert_in_step(session)

    merged = reg(session, {"kind": "merge", "parcels": children, "expected_version": {c: 1 for c in children},
                           "effective_date": "2024-10-01", "certificate": {"serial": serial()}})
    (child,) = merged["opened"]["parcels"]
    assert [served(session, c) for c in children] == [None, None]
    assert float(served(session, child).area_m2) == 208.0
    assert_in_step(session)


def test_an_import_is_served(session, tmp_path):
    geoms = [box(X + 100 + 10 * i, Y, X + 110 + 10 * i, Y + 10) for i in range(5)]
    gdf = gpd.GeoDataFrame({"ward_code": ["06691"] * 5, "sheet_no": [777] * 5, "parcel_no": list(range(1, 6)),
                            "land_use": ["ONT"] * 5, "legal_area_m2": [100.0] * 5,
                            "address": [f"{k} Phố Nhập, Hồng Gai" for k in range(1, 6)]},
                           geometry=geoms, crs="EPSG:5899")
    pyogrio.write_dataframe(gdf, tmp_path / "lots.gpkg")
    import_parcels(session, tmp_path / "lots.gpkg", on=dt.date(2024, 6, 1))
    rows = session.execute(text("SELECT parcel_code, land_use, ward_name FROM parcel_features"
                                " WHERE ward_code = '06691' AND sheet_no = 777 ORDER BY parcel_no")).all()
    assert [r.parcel_code for r in rows] == [f"06691-777-{k}" for k in range(1, 6)]
    assert {(r.land_use, r.ward_name) for r in rows} == {("ONT", "Hồng Gai")}
    assert_in_step(session)


def test_a_renamed_ward_is_served_under_its_new_name(session):
    code = first(session, X, Y + 100)
    ward_id = session.execute(text("SELECT ward_id FROM parcels WHERE parcel_code = :c"), {"c": code}).scalar_one()
    session.execute(text("UPDATE admin_units SET name = name || ' (mới)' WHERE id = :w"), {"w": ward_id})
    assert served(session, code).ward_name.endswith(" (mới)")
    assert_in_step(session)


def test_the_check_finds_a_layer_out_of_step(session):
    code = first(session, X, Y + 200)
    session.execute(text("UPDATE parcel_features SET address = 'sai' WHERE parcel_code = :c"), {"c": code})
    gone = first(session, X + 20, Y + 200)
    session.execute(text("DELETE FROM parcel_features WHERE parcel_code = :c"), {"c": gone})
    result = serving.check(session)
    assert not result.ok and (result.stale, result.missing) == (1, 2)
    assert {code, gone} <= set(result.examples)


@pytest.mark.parametrize("at", ["2016-01-01", "2020-06-30", "2024-12-31"])
def test_counts_as_of_a_day_match_the_replayed_register(client, session, at):
    """numberMatched and hits with at= count the parcels of that day, not today's."""
    versions, _rights, _parcels = replay(session, dt.date.fromisoformat(at))
    expected = len(versions)
    today = serving.check(session).rows
    assert expected != today
    hits = client.get("/wfs?" + urlencode({"service": "WFS", "version": "2.0.0", "request": "GetFeature",
                                           "typeNames": "landdb:parcels", "resultType": "hits", "at": at}))
    assert hits.status_code == 200 and f'numberMatched="{expected}"'.encode() in hits.data
    page = json.loads(client.get("/wfs?" + urlencode({
        "service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": "landdb:parcels",
        "outputFormat": "application/json", "count": 10, "at": at})).data)
    assert page["numberMatched"] == expected
    rest = client.get(f"/api/v1/parcels?limit=10&at={at}").get_json()
    assert rest["numberMatched"] == expected
