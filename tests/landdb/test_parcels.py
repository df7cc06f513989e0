"""Parcel queries (landdb.parcels) on parcels made in the empty test area: lookup, search,
spatial queries, history, rights with and without personal data, parties, wards, statistics."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from landdb import parcels
from landdb.errors import InvalidInput, NotFound

from ..factories import TEST_AREA, TRANSFERRED, make_parcel, make_party, make_right, make_transaction, square

X0, Y0 = TEST_AREA


def collect(stream) -> dict:
    return {"matched": stream.matched, "returned": stream.returned,
            "features": stream.features()}


def code_of(session, parcel_id: int) -> str:
    return session.execute(text("SELECT parcel_code FROM parcels WHERE id = :i"), {"i": parcel_id}).scalar_one()


def lonlat(session, x: float, y: float) -> tuple[float, float]:
    row = session.execute(text("SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 5899), 4326) g) s"),
                          {"x": x, "y": y}).one()
    return row[0], row[1]


@pytest.fixture
def row(session):
    """Three 10 m squares side by side on sheet 991, west to east."""
    ids = [make_parcel(session, wkt=square(X0 + 10 * i, Y0), sheet_no=991, parcel_no=i + 1,
                       address=f"{i + 1} Phố Hạ Long, Hồng Gai", land_use="ODT" if i else "TMD")[0]
           for i in range(3)]
    return ids


def test_get_parcel(session, row):
    code = code_of(session, row[0])
    feature = json.loads(parcels.get_parcel(session, code))
    assert feature["type"] == "Feature" and feature["id"] == code
    props = feature["properties"]
    assert props["parcel_code"] == code == "06691-991-1"
    assert props["ward_name"] == "Hồng Gai" and props["land_use"] == "TMD"
    assert props["land_use_name"].startswith("Đất")
    assert props["area_m2"] == 100.0 and props["legal_area_m2"] == 100.0
    assert props["status"] == "current" and props["version"] == 1 and props["valid_from"] == "2024-03-01"
    assert feature["geometry"]["type"] == "MultiPolygon"
    exact = json.loads(parcels.get_parcel(session, code, 5899))["geometry"]["coordinates"][0][0]
    assert [X0, Y0] in exact and [X0 + 10, Y0 + 10] in exact


def test_get_parcel_errors(session):
    with pytest.raises(NotFound):
        parcels.get_parcel(session, "06691-991-777")
    for bad in ["06691-12", "6691-1-1", "06691-a-1", "x' OR 1=1 --"]:
        with pytest.raises(InvalidInput):
            parcels.get_parcel(session, bad)


def test_search_filters_and_paging(session, row):
    found = collect(parcels.search_parcels(session, parcels.SearchFilters(sheet=991), limit=2))
    assert found["matched"] == 3 and found["returned"] == 2
    assert [f["properties"]["parcel_no"] for f in found["features"]] == [1, 2]
    page2 = collect(parcels.search_parcels(session, parcels.SearchFilters(sheet=991), limit=2, offset=2))
    assert [f["properties"]["parcel_no"] for f in page2["features"]] == [3] and page2["returned"] == 1
    past = collect(parcels.search_parcels(session, parcels.SearchFilters(sheet=991), limit=2, offset=10))
    assert past == {"matched": 3, "returned": 0, "features": []}
    odt = collect(parcels.search_parcels(session, parcels.SearchFilters(sheet=991, land_use="odt")))
    assert odt["matched"] == 2


def test_address_ignores_case_diacritics_and_word_order(session, row):
    def codes(address):
        found = collect(parcels.search_parcels(session, parcels.SearchFilters(sheet=991, address=address)))
        return sorted(f["properties"]["parcel_no"] for f in found["features"])

    assert codes("ha long 2") == [2]
    assert codes("PHO HA LONG") == [1, 2, 3]
    assert codes("hồng gai 3 phố") == [3]
    assert codes("ha long 25") == []
    assert codes("50%") == []


def test_address_matches_whole_words_the_last_as_a_prefix(session, row):
    def codes(address, at=None):
        found = collect(parcels.search_parcels(session, parcels.SearchFilters(sheet=991, address=address), at=at))
        return sorted(f["properties"]["parcel_no"] for f in found["features"])

    assert codes("hong ga") == [1, 2, 3]        # the last word as typed so far
    assert codes("ong gai") == []               # a word is not a part of another ("Hồng")
    assert codes("long ha") == [1, 2, 3]        # in any order
    # the index the search reads is the serving layer's, and what it holds is the address's words
    words = session.execute(text("SELECT array_agg(w.lexeme ORDER BY w.lexeme) FROM parcel_features f,"
                                 " unnest(f.address_words) w WHERE f.parcel_id = :p"), {"p": row[0]}).scalar()
    assert words == ["1", "gai", "ha", "hong", "long", "pho"]
    # a past day's parcels are read from the register: each word anywhere in the address
    assert codes("ong gai", at=dt.date.today()) == [1, 2, 3]


def test_bbox_in_every_crs(session, row):
    lon0, lat0 = lonlat(session, X0 + 1, Y0 + 1)
    lon1, lat1 = lonlat(session, X0 + 12, Y0 + 2)
    f = parcels.SearchFilters(bbox=(lon0, lat0, lon1, lat1))
    assert collect(parcels.search_parcels(session, f))["matched"] == 2
    f = parcels.SearchFilters(bbox=(X0 + 21, Y0 + 1, X0 + 25, Y0 + 2), bbox_srid=5899)
    assert [x["properties"]["parcel_no"] for x in collect(parcels.search_parcels(session, f))["features"]] == [3]


def test_at_and_near(session, row):
    lon, lat = lonlat(session, X0 + 15, Y0 + 5)
    assert json.loads(parcels.parcel_at(session, lon, lat))["properties"]["parcel_no"] == 2
    near = collect(parcels.parcels_near(session, lon, lat, radius=6))
    assert [(f["properties"]["parcel_no"], f["properties"]["distance_m"]) for f in near["features"]] == [
        (2, 0.0), (1, pytest.approx(5.0, abs=0.05)), (3, pytest.approx(5.0, abs=0.05))]
    lon, lat = lonlat(session, X0 + 500, Y0 + 500)
    with pytest.raises(NotFound):
        parcels.parcel_at(session, lon, lat)
    with pytest.raises(InvalidInput):
        parcels.parcel_at(session, 2.35, 48.85)
    with pytest.raises(InvalidInput):
        parcels.parcels_near(session, 107.07, 20.95, radius=5000)


def test_query_by_geometry(session, row):
    middle = {"type": "Polygon", "coordinates": [[[X0 + 10, Y0], [X0 + 20, Y0], [X0 + 20, Y0 + 10],
                                                   [X0 + 10, Y0 + 10], [X0 + 10, Y0]]]}
    g = parcels.parse_geometry(middle, 5899)

    def nos(predicate):
        found = collect(parcels.query_parcels(session, g, predicate, geometry_srid=5899))
        return [f["properties"]["parcel_no"] for f in found["features"] if f["properties"]["sheet_no"] == 991]

    assert nos("intersects") == [1, 2, 3]  # the middle one and the two that touch it
    assert nos("within") == [2]
    assert nos("contains") == [2]


@pytest.mark.parametrize("geometry, reason", [
    ({"type": "Polygon", "coordinates": [[[107.0, 20.9], [107.1, 21.0], [107.1, 20.9], [107.0, 21.0], [107.0, 20.9]]]},
     "Self-intersection"),
    ({"type": "Polygon", "coordinates": [[[107.0, 20.9], [107.1]]]}, "malformed"),
    ({"type": "Circle", "coordinates": [107.0, 20.9]}, "type must be"),
    ({"type": "Point"}, "coordinates"),
    ({"type": "Point", "coordinates": [2.35, 48.85]}, "outside Vietnam"),
    ({"type": "Point", "coordinates": [20.9, 107.0]}, "outside Vietnam"),
    ("POINT(107 20)", "GeoJSON"),
    ({"type": "LineString", "coordinates": [[107 + i * 1e-6, 20.9] for i in range(10_001)]}, "vertices"),
])
def test_invalid_geometries_say_why(geometry, reason):
    with pytest.raises(InvalidInput) as exc:
        parcels.parse_geometry(geometry)
    assert reason in exc.value.message and exc.value.details["status"] == 422


def test_history_and_lineage(session):
    parent, v1 = make_parcel(session, wkt=square(X0 + 100, Y0, 20), sheet_no=992, parcel_no=1)
    split = make_transaction(session, "split", "2025-01-10")
    session.execute(text("UPDATE parcel_versions SET valid_to = '2025-01-10', closed_by_tx = :t WHERE id = :v"),
                    {"t": split, "v": v1})
    session.execute(text("UPDATE parcels SET retired_on = '2025-01-10' WHERE id = :p"), {"p": parent})
    kids = [make_parcel(session, wkt=f"MULTIPOLYGON((({X0 + 100 + 10 * i} {Y0},{X0 + 110 + 10 * i} {Y0},"
                                     f"{X0 + 110 + 10 * i} {Y0 + 20},{X0 + 100 + 10 * i} {Y0 + 20},{X0 + 100 + 10 * i} {Y0})))",
                        sheet_no=992, parcel_no=2 + i, valid_from="2025-01-10", tx=split)[0] for i in range(2)]
    for kid in kids:
        session.execute(text("INSERT INTO parcel_lineage VALUES (:p, :c, :t, 'split')"),
                        {"p": parent, "c": kid, "t": split})
    h = json.loads(parcels.parcel_history(session, "06691-992-1"))
    assert h["status"] == "retired" and h["retired_on"] == "2025-01-10"
    assert [c["parcel_code"] for c in h["children"]] == ["06691-992-2", "06691-992-3"] and h["parents"] == []
    (version,) = h["versions"]
    assert version["closed_by"]["kind"] == "split" and version["opened_by"]["kind"] == "first_registration"
    assert {t["kind"] for t in h["transactions"]} == {"first_registration", "split"}
    kid = json.loads(parcels.parcel_history(session, "06691-992-2"))
    assert kid["parents"] == [{"parcel_code": "06691-992-1", "kind": "split", "transaction_id": split}]
    # A retired parcel is still found by its code, marked retired.
    assert json.loads(parcels.get_parcel(session, "06691-992-1"))["properties"]["status"] == "retired"
    # …but is no longer in searches.
    assert collect(parcels.search_parcels(session, parcels.SearchFilters(sheet=992)))["matched"] == 2


@pytest.fixture
def owned(session):
    pid, _ = make_parcel(session, wkt=square(X0 + 200, Y0), sheet_no=993, parcel_no=1)
    an = make_party(session, "Nguyễn Văn Thửnghiệm", "022099990001")
    binh = make_party(session, "Trần Thị Thửnghiệm", "022199990002")
    bank = make_party(session, "Ngân hàng TMCP Ngoại thương", "5700101", kind="organization")
    make_right(session, pid, an, 0.5)
    make_right(session, pid, binh, 0.5)
    make_right(session, pid, bank, None, kind="mortgage")
    return pid, [an, binh, bank]


def test_rights_with_and_without_personal_data(session, owned):
    pid, party_ids = owned
    public = parcels.parcel_rights(session, "06691-993-1", personal=False)
    body = json.loads(public.body)
    assert body["personal_data"] is False and body["mortgaged"] is True
    assert [r["party"] for r in body["rights"]] == [{"kind": "individual"}] * 2
    assert [r["share"] for r in body["rights"]] == [0.5, 0.5]
    for secret in ("Nguyễn", "Trần", "022099990001", "1980", "Ngân hàng", "Tổ 1"):
        assert secret not in public.body
    full = parcels.parcel_rights(session, "06691-993-1", personal=True)
    assert "Nguyễn Văn Thửnghiệm" in full.body and "022099990001" in full.body
    assert full.parcel_id == pid and sorted(full.party_ids) == sorted(party_ids)


def test_party_search(session, owned):
    found = parcels.search_parties(session, "THUNGHIEM nguyen")
    body = json.loads(found.body)
    assert body["numberMatched"] == 1
    (an,) = body["parties"]
    assert an["id_number"] == "022099990001"
    assert an["parcels"] == [{"parcel_code": "06691-993-1", "kind": "land_use_right", "share": 0.5}]
    by_id = json.loads(parcels.search_parties(session, "022199990002").body)
    assert [p["full_name"] for p in by_id["parties"]] == ["Trần Thị Thửnghiệm"]
    assert owned[0] in found.parcel_ids
    with pytest.raises(InvalidInput):
        parcels.search_parties(session, "a")


def test_rights_as_of_a_day(session):
    t = session.execute(text(TRANSFERRED)).one()
    day_before = t.day - dt.timedelta(days=1)

    def holders(at):
        body = json.loads(parcels.parcel_rights(session, t.parcel_code, personal=True, at=at).body)
        return {r["party"]["full_name"] for r in body["rights"] if r["kind"] == "land_use_right"}

    assert t.new_holder in holders(None) and t.old_holder not in holders(None)
    assert t.old_holder in holders(day_before) and t.new_holder not in holders(day_before)
    assert holders(t.day) == holders(None)  # on the day of the transfer, the register shows it done
    read = parcels.parcel_rights(session, t.parcel_code, personal=True, at=day_before)
    assert read.parcel_id == t.id and read.party_ids  # whose data was read, for the access log
    with pytest.raises(NotFound):
        parcels.parcel_rights(session, t.parcel_code, personal=False, at=dt.date(1990, 1, 1))


def _names(read: parcels.PartiesRead) -> list[str]:
    return [p["full_name"] for p in json.loads(read.body)["parties"]]


def test_party_search_matches_whole_words_the_last_as_a_prefix(session, owned):
    make_party(session, "Lê Thị Lan Thửnghiệm", "022199990003")
    make_party(session, "Nguyễn An Thửnghiệm và Hoàng Thị Mai", "022199990004")
    # "an" is a word of one name only; as a substring it is in Nguyễn, Lan, Hoàng, Ngân
    assert _names(parcels.search_parties(session, "thunghiem an")) == ["Nguyễn An Thửnghiệm và Hoàng Thị Mai"]
    # the last word typed may be the start of a word, the others must be whole
    assert _names(parcels.search_parties(session, "nguyen van thungh")) == ["Nguyễn Văn Thửnghiệm"]
    assert _names(parcels.search_parties(session, "nguy van thunghiem")) == []
    # a couple is found by either person's name, words in any order, names in name order
    assert _names(parcels.search_parties(session, "Mai Hoàng thunghiem")) == ["Nguyễn An Thửnghiệm và Hoàng Thị Mai"]
    assert _names(parcels.search_parties(session, "thi THUNGHIEM")) == [
        "Lê Thị Lan Thửnghiệm", "Nguyễn An Thửnghiệm và Hoàng Thị Mai", "Trần Thị Thửnghiệm"]
    # no word at all: nothing, without an error
    assert json.loads(parcels.search_parties(session, "!! ??").body)["numberMatched"] == 0


def test_party_search_counts_up_to_a_limit(session, owned):
    for i in range(4):
        make_party(session, f"Phạm Văn Đếm{i} Thửnghiệm", f"02219999010{i}")
    capped = json.loads(parcels.search_parties(session, "thunghiem dem", limit=2, count_limit=3).body)
    exact = json.loads(parcels.search_parties(session, "pham thunghiem", limit=2).body)
    assert (capped["numberMatched"], capped["numberReturned"]) == (None, 2)
    assert (exact["numberMatched"], exact["numberReturned"]) == (4, 2)
    page2 = parcels.search_parties(session, "pham thunghiem", limit=2, offset=2, count_limit=4)
    assert _names(page2) == ["Phạm Văn Đếm2 Thửnghiệm", "Phạm Văn Đếm3 Thửnghiệm"]
    assert json.loads(page2.body)["numberMatched"] == 4


def test_party_name_words_follow_the_name(session, owned):
    _pid, (an, _binh, _bank) = owned
    session.execute(text("UPDATE parties SET full_name = 'Nguyễn Văn Đổitên' WHERE id = :i"), {"i": an})
    assert _names(parcels.search_parties(session, "doiten nguyen")) == ["Nguyễn Văn Đổitên"]
    assert parcels.search_parties(session, "022099990001").party_ids == [an]
    assert _names(parcels.search_parties(session, "van thunghiem")) == []


def test_wards_and_stats(session, row):
    wards = json.loads(parcels.list_wards(session))
    codes = {(f["properties"]["code"], f["properties"]["valid_from"]) for f in wards["features"]}
    assert ("06691", "2020-01-01") in codes and ("06685", "2025-07-01") in codes
    hong_gai_old = json.loads(parcels.get_ward(session, "06691"))
    assert hong_gai_old["properties"]["name"] == "Hồng Gai" and hong_gai_old["properties"]["parcel_count"] >= 3
    assert [s["code"] for s in hong_gai_old["properties"]["successors"]] == ["06685"]
    new = json.loads(parcels.get_ward(session, "06685"))
    assert new["properties"]["current"] is True
    assert {"06691", "06694"} <= {p["code"] for p in new["properties"]["predecessors"]}
    old = json.loads(parcels.get_ward(session, "06685", at=__import__("datetime").date(2024, 1, 1)))
    assert old["properties"]["name"] == "Trần Hưng Đạo"
    with pytest.raises(NotFound):
        parcels.get_ward(session, "99999")
    stats = json.loads(parcels.land_use_stats(session, "06691"))
    odt = next(r for r in stats["land_use"] if r["land_use"] == "ODT")
    assert odt["parcels"] >= 2 and odt["land_use_name"] == "Đất ở tại đô thị"
    with pytest.raises(NotFound):
        parcels.land_use_stats(session, "99999")
