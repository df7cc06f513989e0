"""Registering changes, kind by kind: the state before, the registration, the state after
(versions, rights, certificates, lineage, the journal row), and the refusals."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from landdb import journal, registry
from landdb.errors import Conflict, InvalidInput, LandDBError, NotFound, Unprocessable
from landdb.registry_support import Registration

from ..registry_helpers import (BANK, X0, Y0, code_of, commit_parcel, committed_cell, counts, current_version,
                                first_registration_body, new_sheet, own_database_url, person, rect, serial,
                                transfer_body)

X, Y = X0 + 1000, Y0 + 1000  # rolled-back registry tests use this part of the test area


def reg(session, body, key=None):
    answer, created = registry.register(session, body, actor="test officer", idempotency_key=key)
    return answer


def first(session, x=X, y=Y, **kw):
    return reg(session, first_registration_body(x, y, **kw))


def rights_of(session, code, open_only=True):
    return session.execute(text(
        "SELECT r.party_id, r.kind, r.share, c.serial, r.valid_to, r.origin FROM rights r JOIN parcels p ON p.id = r.parcel_id "
        "LEFT JOIN certificates c ON c.id = r.certificate_id "
        "WHERE p.parcel_code = :c AND (NOT :o OR r.valid_to IS NULL) ORDER BY r.id"), {"c": code, "o": open_only}).all()


def party_id(session, n):
    return session.execute(text("SELECT id FROM parties WHERE id_number = :n"), {"n": person(n)["id_number"]}).scalar_one()


def journal_row(session, tx_id):
    return session.execute(text("SELECT * FROM transactions WHERE id = :i"), {"i": tx_id}).one()


# --- first registration ---------------------------------------------------------------------


def test_first_registration_opens_parcel_version_rights_certificate_and_journal_row(session):
    before = counts(session)
    body = first_registration_body(X, Y, sheet=new_sheet(), holders=[dict(person(1), share=0.6), dict(person(2), share=0.4)])
    answer = reg(session, body)
    after = counts(session)
    assert after["parcels"] == before["parcels"] + 1
    assert after["parcel_versions"] == before["parcel_versions"] + 1
    assert after["rights"] == before["rights"] + 2
    assert after["certificates"] == before["certificates"] + 1
    assert after["transactions"] == before["transactions"] + 1
    code = code_of(answer)
    assert code.startswith(f"06691-{body['sheet_no']}-")
    assert current_version(session, code) == 1
    held = rights_of(session, code)
    assert sorted(float(r.share) for r in held) == [0.4, 0.6]
    assert {r.serial for r in held} == {body["certificate"]["serial"]}
    row = journal_row(session, answer["id"])
    assert (row.seq, row.hash, row.kind) == (answer["seq"], answer["hash"], "first_registration")
    assert row.payload["request"]["body"]["kind"] == "first_registration"
    assert answer["opened"]["versions"][0]["version"] == 1
    assert answer["opened"]["certificates"][0]["serial"] == body["certificate"]["serial"]
    assert answer["closed"]["versions"] == [] and answer["closed"]["rights"] == []
    assert journal.verify(session).ok


def test_first_registration_takes_the_next_number_on_the_sheet(session):
    sheet = new_sheet()
    a = first(session, X, Y, sheet=sheet)
    b = first(session, X + 10, Y, sheet=sheet)
    assert int(code_of(b).rsplit("-", 1)[1]) == int(code_of(a).rsplit("-", 1)[1]) + 1


@pytest.mark.parametrize("holders, message", [
    ([{"share": 0.5, **person(1)}, {"share": 0.4, **person(2)}], "sum to 0.9; they must sum to 1"),
    ([{"share": 0.7, **person(1)}, {"share": 0.4, **person(2)}], "sum to 1.1"),
])
def test_first_registration_refuses_shares_not_summing_to_one(session, holders, message):
    before = counts(session)
    with pytest.raises(Unprocessable, match=message):
        with session.begin_nested():
            first(session, holders=holders)
    assert counts(session) == before


def test_first_registration_refuses_an_overlap_and_a_future_date(session):
    first(session)
    with pytest.raises(Unprocessable, match=r"would overlap active parcel\(s\) 06691-.* by 25.00 m²"):
        with session.begin_nested():
            first(session, X + 5, Y + 5)
    with pytest.raises(Unprocessable, match="in the future"):
        with session.begin_nested():
            first(session, X + 100, Y, date="2099-01-01")


# --- transfer -------------------------------------------------------------------------------


def test_transfer_passes_the_right_and_issues_a_new_certificate(session):
    a = first(session)
    code = code_of(a)
    old_serial = rights_of(session, code)[0].serial
    seller = party_id(session, 1)
    new_serial = serial()
    answer = reg(session, {
        "kind": "transfer", "parcel": code, "expected_version": 1, "effective_date": "2024-06-01",
        "dossier_no": "HS-0002", "transferors": [{"party_id": seller}], "transferees": [person(3)],
        "certificate": {"serial": new_serial}})
    assert current_version(session, code) == 2
    held = rights_of(session, code)
    assert [(r.party_id, float(r.share), r.serial) for r in held] == [(party_id(session, 3), 1.0, new_serial)]
    assert held[0].origin == "Nhận chuyển nhượng quyền sử dụng đất"
    closed = rights_of(session, code, open_only=False)[0]
    assert (closed.party_id, str(closed.valid_to)) == (seller, "2024-06-01")
    cert = session.execute(text("SELECT cancelled_on, closed_by_tx FROM certificates WHERE serial = :s"),
                           {"s": old_serial}).one()
    assert (str(cert.cancelled_on), cert.closed_by_tx) == ("2024-06-01", answer["id"])
    assert answer["closed"]["versions"][0]["version"] == 1 and answer["opened"]["versions"][0]["version"] == 2
    assert [r["party_id"] for r in answer["closed"]["rights"]] == [seller]
    assert [c["serial"] for c in answer["opened"]["certificates"]] == [new_serial]
    assert answer["parcels"] == [{"parcel": code, "role": "subject"}]
    # The geometry and land use carry over to the new version unchanged.
    same = session.execute(text(
        "SELECT bool_and(ST_Equals(v.geom, w.geom)) FROM parcel_versions v JOIN parcel_versions w "
        "ON w.parcel_id = v.parcel_id AND w.version = 2 WHERE v.version = 1 AND v.parcel_id = "
        "(SELECT id FROM parcels WHERE parcel_code = :c)"), {"c": code}).scalar()
    assert same is True
    assert journal.verify(session).ok


def test_partial_transfer_keeps_the_rest_with_the_other_holder(session):
    code = code_of(first(session, holders=[dict(person(1), share=0.5), dict(person(2), share=0.5)]))
    reg(session, {"kind": "gift", "parcel": code, "expected_version": 1, "effective_date": "2024-07-01",
                  "transferors": [{"id_number": person(1)["id_number"]}],
                  "transferees": [dict(person(3), share=0.25), dict(person(4), share=0.25)],
                  "certificate": {"serial": serial()}})
    held = {r.party_id: float(r.share) for r in rights_of(session, code)}
    assert held == {party_id(session, 2): 0.5, party_id(session, 3): 0.25, party_id(session, 4): 0.25}


def _transfer(code, transferors, transferees, version=1, **extra):
    return {"kind": "transfer", "parcel": code, "expected_version": version, "effective_date": "2024-06-01",
            "transferors": transferors, "transferees": transferees, "certificate": {"serial": serial()}, **extra}


def test_transfer_refusals(session):
    code = code_of(first(session))
    seller = {"party_id": party_id(session, 1)}
    stranger = {"id_number": "022100000099", "kind": "individual", "full_name": "Người Lạ"}
    before = counts(session)
    cases = [
        (_transfer(code, [seller], [dict(person(3), share=0.5), dict(person(4), share=0.4)]), Unprocessable,
         "shares sum to 0.9 but the transferors pass 1"),
        (_transfer(code, [stranger], [person(3)]), Unprocessable, "no such party"),
        (_transfer(code, [seller], [person(3)], version=7), Conflict, "is at version 1, not 7"),
        (_transfer("06691-701-999999", [seller], [person(3)]), NotFound, "no parcel 06691-701-999999"),
        (dict(_transfer(code, [seller], [person(3)]), effective_date="2099-01-01"), Unprocessable, "future"),
        (dict(_transfer(code, [seller], [person(3)]), effective_date="2020-01-01"), Unprocessable,
         "before parcel .* current version"),
        (dict(_transfer(code, [seller], [person(3)]), colour="red"), InvalidInput, "unknown field"),
    ]
    for body, error, message in cases:
        with pytest.raises(error, match=message):
            with session.begin_nested():
                reg(session, body)
    # someone registered but not a holder of this parcel
    other = code_of(first(session, X + 50, Y, holders=[dict(person(5), share=1)]))
    with pytest.raises(Unprocessable, match="is not a current holder"):
        with session.begin_nested():
            reg(session, _transfer(code, [{"party_id": party_id(session, 5)}], [person(3)]))
    assert current_version(session, code) == 1 and other
    assert counts(session)["closed_rights"] == before["closed_rights"]


# --- mortgage -------------------------------------------------------------------------------


def test_mortgage_blocks_a_transfer_without_consent_and_release_clears_it(session):
    code = code_of(first(session))
    m = reg(session, {"kind": "mortgage", "parcel": code, "expected_version": 1, "effective_date": "2024-04-01",
                      "mortgagee": BANK, "secured_amount_vnd": 2_000_000_000})
    bank = session.execute(text("SELECT id FROM parties WHERE id_number = :n"), {"n": BANK["id_number"]}).scalar_one()
    assert [(r["kind"], r["party_id"]) for r in m["opened"]["rights"]] == [("mortgage", bank)]
    seller = {"party_id": party_id(session, 1)}
    with pytest.raises(Unprocessable, match="is mortgaged .* consent"):
        with session.begin_nested():
            reg(session, _transfer(code, [seller], [person(3)], version=2))
    # With the bank's consent the transfer goes through and the mortgage stays on the parcel.
    reg(session, _transfer(code, [seller], [person(3)], version=2, mortgagee_consent=[{"party_id": bank}]))
    assert [r.kind for r in rights_of(session, code)] == ["mortgage", "land_use_right"]
    rel = reg(session, {"kind": "mortgage_release", "parcel": code, "expected_version": 3,
                        "effective_date": "2024-08-01", "mortgagee": {"party_id": bank}})
    assert [r["kind"] for r in rel["closed"]["rights"]] == ["mortgage"]
    assert [r.kind for r in rights_of(session, code)] == ["land_use_right"]
    assert current_version(session, code) == 4


# --- split and merge ------------------------------------------------------------------------


def test_split_retires_the_parent_and_opens_children_with_lineage(session):
    code = code_of(first(session, w=20, holders=[dict(person(1), share=0.5), dict(person(2), share=0.5)]))
    answer = reg(session, {
        "kind": "split", "parcel": code, "expected_version": 1, "effective_date": "2024-09-01",
        "children": [{"geometry": rect(X, Y, 12, 10), "legal_area_m2": 120, "certificate": {"serial": serial()}},
                     {"geometry": rect(X + 12, Y, 8, 10), "legal_area_m2": 80}]})
    children = answer["opened"]["parcels"]
    assert len(children) == 2 and code not in children
    assert answer["closed"]["parcels"] == [code]
    retired = session.execute(text("SELECT retired_on FROM parcels WHERE parcel_code = :c"), {"c": code}).scalar_one()
    assert str(retired) == "2024-09-01"
    lineage = session.execute(text(
        "SELECT p.parcel_code AS parent, c.parcel_code AS child, l.kind, l.transaction_id FROM parcel_lineage l "
        "JOIN parcels p ON p.id = l.parent_id JOIN parcels c ON c.id = l.child_id WHERE p.parcel_code = :c "
        "ORDER BY c.id"), {"c": code}).all()
    assert [(r.child, r.kind, r.transaction_id) for r in lineage] == [(c, "split", answer["id"]) for c in children]
    for child in children:
        assert current_version(session, child) == 1
        assert sorted(float(r.share) for r in rights_of(session, child)) == [0.5, 0.5]
    assert rights_of(session, code) == []
    areas = session.execute(text(
        "SELECT round(ST_Area(v.geom)) FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id "
        "WHERE p.parcel_code = ANY(:c) AND v.valid_to IS NULL ORDER BY p.id"), {"c": children}).scalars().all()
    assert [int(a) for a in areas] == [120, 80]
    # the parent can no longer change
    with pytest.raises(Conflict, match="retired"):
        with session.begin_nested():
            reg(session, {"kind": "land_use_change", "parcel": code, "expected_version": 1,
                          "effective_date": "2024-10-01", "land_use": "TMD"})


@pytest.mark.parametrize("children, message", [
    ([rect(X, Y, 12, 10), rect(X + 10, Y, 10, 10)], r"children\[0\] and children\[1\] overlap by 20.00 m²"),
    ([rect(X, Y, 12, 10), rect(X + 12, Y, 7, 10)], r"leave 10.00 m² of the parent uncovered"),
    ([rect(X, Y, 12, 10), rect(X + 12, Y, 8, 11)], r"reach 8.00 m² beyond the parent"),
    ([rect(X, Y, 12, 10), rect(X + 12, Y, 7.99, 10)], r"leave 0.10 m² .*uncovered"),
])
def test_split_refuses_children_that_overlap_or_do_not_cover(session, children, message):
    code = code_of(first(session, w=20))
    with pytest.raises(Unprocessable, match=message):
        with session.begin_nested():
            reg(session, {"kind": "split", "parcel": code, "expected_version": 1, "effective_date": "2024-09-01",
                          "children": [{"geometry": g, "legal_area_m2": 100} for g in children]})
    assert current_version(session, code) == 1


def test_split_accepts_a_sliver_under_the_tolerance(session):
    code = code_of(first(session, w=20))
    reg(session, {"kind": "split", "parcel": code, "expected_version": 1, "effective_date": "2024-09-01",
                  "children": [{"geometry": rect(X, Y, 12, 10), "legal_area_m2": 120},
                               {"geometry": rect(X + 12, Y, 7.9999, 10), "legal_area_m2": 80}]})


def test_merge_of_adjacent_parcels_with_the_same_holders(session):
    holders = [dict(person(1), share=0.5), dict(person(2), share=0.5)]
    a = code_of(first(session, X, Y, holders=holders))
    b = code_of(first(session, X + 10, Y, holders=holders))
    answer = reg(session, {"kind": "merge", "parcels": [a, b], "expected_version": {a: 1, b: 1},
                           "effective_date": "2024-09-01", "certificate": {"serial": serial()}})
    (child,) = answer["opened"]["parcels"]
    assert sorted(answer["closed"]["parcels"]) == sorted([a, b])
    row = session.execute(text(
        "SELECT ST_Area(v.geom) AS area, ST_NumGeometries(v.geom) AS parts, v.legal_area_m2 FROM parcel_versions v "
        "JOIN parcels p ON p.id = v.parcel_id WHERE p.parcel_code = :c AND v.valid_to IS NULL"), {"c": child}).one()
    assert (round(row.area), row.parts, float(row.legal_area_m2)) == (200, 1, 200.0)
    assert sorted(float(r.share) for r in rights_of(session, child)) == [0.5, 0.5]
    parents = session.execute(text(
        "SELECT p.parcel_code FROM parcel_lineage l JOIN parcels p ON p.id = l.parent_id "
        "JOIN parcels c ON c.id = l.child_id WHERE c.parcel_code = :c AND l.kind = 'merge' ORDER BY 1"),
        {"c": child}).scalars().all()
    assert parents == sorted([a, b])


def test_merge_refuses_parcels_apart_or_with_different_holders(session):
    a = code_of(first(session, X, Y))
    b = code_of(first(session, X + 10.5, Y))  # a 0.5 m gap
    c = code_of(first(session, X, Y + 10, holders=[dict(person(7), share=1)]))
    with pytest.raises(Unprocessable, match=f"{b} share no boundary"):
        with session.begin_nested():
            reg(session, {"kind": "merge", "parcels": [a, b], "expected_version": [1, 1], "effective_date": "2024-09-01"})
    with pytest.raises(Unprocessable, match="same holders"):
        with session.begin_nested():
            reg(session, {"kind": "merge", "parcels": [a, c], "expected_version": [1, 1], "effective_date": "2024-09-01"})


# --- land use, certificate, geometry --------------------------------------------------------


def test_land_use_change_opens_a_version_with_the_new_code(session):
    code = code_of(first(session))
    answer = reg(session, {"kind": "land_use_change", "parcel": code, "expected_version": 1,
                           "effective_date": "2024-05-01", "land_use": "TMD"})
    assert [v["land_use"] for v in answer["closed"]["versions"]] == ["ODT"]
    assert [v["land_use"] for v in answer["opened"]["versions"]] == ["TMD"]
    with pytest.raises(Unprocessable, match="unknown land-use code 'XYZ'"):
        with session.begin_nested():
            reg(session, {"kind": "land_use_change", "parcel": code, "expected_version": 2,
                          "effective_date": "2024-05-02", "land_use": "XYZ"})


def test_certificate_reissue_keeps_the_rights(session):
    code = code_of(first(session, holders=[dict(person(1), share=0.5), dict(person(2), share=0.5)]))
    before = [(r.party_id, r.share) for r in rights_of(session, code)]
    new = serial("AA")
    reg(session, {"kind": "certificate_reissue", "parcel": code, "expected_version": 1,
                  "effective_date": "2024-05-01", "certificate": {"serial": new}})
    after = rights_of(session, code)
    assert [(r.party_id, r.share) for r in after] == before and {r.serial for r in after} == {new}


def test_geometry_correction_within_the_same_neighbours(session):
    code = code_of(first(session, X, Y))
    first(session, X + 10, Y)  # east neighbour
    first(session, X + 30, Y)  # not a neighbour
    answer = reg(session, {"kind": "geometry_correction", "parcel": code, "expected_version": 1,
                           "effective_date": "2024-05-01", "geometry": rect(X, Y, 10, 10.4), "legal_area_m2": 104})
    assert answer["opened"]["versions"][0]["legal_area_m2"] == 104.0
    with pytest.raises(Unprocessable, match="overlap active parcel"):
        with session.begin_nested():
            reg(session, {"kind": "geometry_correction", "parcel": code, "expected_version": 2,
                          "effective_date": "2024-05-02", "geometry": rect(X, Y, 12, 10.4)})
    with pytest.raises(Unprocessable, match="were not its neighbours"):
        with session.begin_nested():
            reg(session, {"kind": "geometry_correction", "parcel": code, "expected_version": 2,
                          "effective_date": "2024-05-02", "geometry": {"type": "MultiPolygon", "coordinates": [
                              rect(X, Y, 10, 10.4)["coordinates"], rect(X + 26, Y, 3.8, 4)["coordinates"]]}})


# --- idempotency ----------------------------------------------------------------------------


def test_same_idempotency_key_registers_once(session):
    body = first_registration_body(X, Y)
    one, created = registry.register(session, body, idempotency_key="key-1")
    n = counts(session)
    two, created_again = registry.register(session, body, idempotency_key="key-1")
    assert (created, created_again) == (True, False)
    assert one == two and counts(session) == n
    with pytest.raises(Unprocessable, match="different request body"):
        registry.register(session, dict(body, dossier_no="other"), idempotency_key="key-1")


JUNK = [None, 1, "x", [], {"a": 1}, True, -5, "2024-13-45", 1e308, "06691-1-1", [{"a": 1}], ["x", "y"]]


def test_junk_in_any_field_is_a_clear_error_never_a_crash(session):
    """Every field of every kind, replaced by junk: only the core's own errors (→ 4xx), nothing else."""
    X, Y = X0 + 1800, Y0 + 1800  # noqa: N806
    a = code_of(registry.register(session, first_registration_body(X, Y, w=20))[0])
    b = code_of(registry.register(session, first_registration_body(X, Y + 10, w=20))[0])
    bodies = [
        first_registration_body(X + 100, Y),
        {"kind": "transfer", "parcel": a, "expected_version": 1, "effective_date": "2024-06-01",
         "transferors": [{"id_number": person(1)["id_number"], "share": 1}], "transferees": [dict(person(3), share=1)],
         "certificate": {"serial": serial()}, "mortgagee_consent": []},
        {"kind": "mortgage", "parcel": a, "expected_version": 1, "effective_date": "2024-04-01", "mortgagee": BANK, "secured_amount_vnd": 5, "term_end": "2030-01-01"},
        {"kind": "mortgage_release", "parcel": a, "expected_version": 1, "effective_date": "2024-04-01", "mortgage_id": 5},
        {"kind": "split", "parcel": a, "expected_version": 1, "effective_date": "2024-09-01", "crs": "EPSG:5899",
         "children": [{"geometry": rect(X, Y, 12, 10), "legal_area_m2": 120, "parcel_no": 5, "land_use": "ODT", "certificate": {"serial": serial()}},
                      {"geometry": rect(X + 12, Y, 8, 10), "legal_area_m2": 80}]},
        {"kind": "merge", "parcels": [a, b], "expected_version": {a: 1, b: 1}, "effective_date": "2024-09-01", "land_use": "ODT", "legal_area_m2": 5, "sheet_no": 3, "parcel_no": 9, "certificate": {"serial": serial()}, "address": "x"},
        {"kind": "land_use_change", "parcel": a, "expected_version": 1, "effective_date": "2024-05-01", "land_use": "TMD"},
        {"kind": "certificate_reissue", "parcel": a, "expected_version": 1, "effective_date": "2024-05-01", "certificate": {"serial": serial(), "issued_on": "2024-05-01", "registry_no": "x"}},
        {"kind": "geometry_correction", "parcel": a, "expected_version": 1, "effective_date": "2024-05-01", "geometry": rect(X, Y, 20, 9.9), "legal_area_m2": 5, "crs": 5899},
    ]
    bad = []
    def probe(body, label):
        try:
            with session.begin_nested():
                registry.register(session, body)
        except LandDBError:
            pass
        except Exception as exc:
            bad.append((label, repr(exc)[:200]))
    for body in bodies:
        for key in list(body):
            for j in JUNK:
                b2 = copy.deepcopy(body); b2[key] = j
                probe(b2, (body["kind"], key, repr(j)))
            v = body[key]
            if isinstance(v, list) and v and isinstance(v[0], dict):
                for sub in list(v[0]):
                    for j in JUNK:
                        b2 = copy.deepcopy(body); b2[key][0][sub] = j
                        probe(b2, (body["kind"], key, sub, repr(j)))
            if isinstance(v, dict):
                for sub in list(v):
                    for j in JUNK:
                        b2 = copy.deepcopy(body); b2[key][sub] = j
                        probe(b2, (body["kind"], key, sub, repr(j)))
    assert bad == []


# --- concurrency and faults: committed data, connections of their own ------------------------


@pytest.fixture
def pool(pg_server):
    """Connections to a database of the registry tests' own: these tests commit."""
    from sqlalchemy import create_engine

    eng = create_engine(own_database_url(pg_server), pool_size=17, max_overflow=0)
    yield eng
    eng.dispose()


def test_sixteen_concurrent_transfers_from_one_version_one_wins(pool):
    code, seller = commit_parcel(pool)
    barrier = threading.Barrier(16)
    results: list[tuple[str, str]] = []

    def attempt(i: int) -> None:
        with Session(pool) as s:
            try:
                with s.begin():
                    s.connection()  # hold a connection before the start line
                    barrier.wait()
                    answer, _ = registry.register(s, transfer_body(code, seller, 300 + i))
                results.append(("created", answer["id"]))
            except Conflict as exc:
                results.append(("conflict", exc.message))
            except Exception as exc:  # noqa: BLE001 — any other outcome fails the test below
                results.append(("error", repr(exc)))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    outcomes = sorted(r[0] for r in results)
    assert outcomes == ["conflict"] * 15 + ["created"], results
    assert all("is at version 2, not 1" in m for kind, m in results if kind == "conflict")
    with Session(pool) as s:
        assert current_version(s, code) == 2
        n = s.execute(text("SELECT count(*) FROM transaction_parcels tp JOIN parcels p ON p.id = tp.parcel_id "
                           "WHERE p.parcel_code = :c"), {"c": code}).scalar_one()
        assert n == 2  # the first registration and the one transfer
        shares = s.execute(text("SELECT sum(share) FROM rights r JOIN parcels p ON p.id = r.parcel_id "
                                "WHERE p.parcel_code = :c AND r.valid_to IS NULL"), {"c": code}).scalar_one()
        assert shares == 1
        assert journal.verify(s).ok


def test_transfers_of_different_parcels_do_not_wait_on_each_other(pool):
    a, seller_a = commit_parcel(pool)
    b, seller_b = commit_parcel(pool)
    with Session(pool) as busy:
        # A transfer of parcel a in progress: it holds a's row lock until it commits.
        Registration(busy, "transfer", "2024-06-01", None, None, None, None).lock_one(a, 1)
        with Session(pool) as other, other.begin():
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            answer, _ = registry.register(other, transfer_body(b, seller_b, 401))
        assert answer["seq"] is not None
        with Session(pool) as same:
            with pytest.raises(OperationalError, match="lock timeout"):
                with same.begin():
                    same.execute(text("SET LOCAL lock_timeout = '300ms'"))
                    registry.register(same, transfer_body(a, seller_a, 402))
        busy.rollback()
    with Session(pool) as s:
        assert (current_version(s, a), current_version(s, b)) == (1, 2)


def test_eight_transfers_of_different_parcels_in_parallel_all_succeed(pool):
    parcels = [commit_parcel(pool) for _ in range(8)]
    barrier = threading.Barrier(8)
    results: list[str] = []

    def attempt(i: int) -> None:
        code, seller = parcels[i]
        with Session(pool) as s:
            try:
                with s.begin():
                    s.connection()
                    barrier.wait()
                    registry.register(s, transfer_body(code, seller, 500 + i))
                results.append("created")
            except Exception as exc:  # noqa: BLE001
                results.append(repr(exc))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == ["created"] * 8


def test_a_registration_killed_half_way_leaves_no_trace(pool):
    code, seller = commit_parcel(pool)
    with Session(pool) as s:
        before = counts(s)
    victim_pid: list[int] = []
    outcome: list[str] = []

    def victim() -> None:
        with Session(pool) as s:
            try:
                with s.begin():
                    victim_pid.append(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    registry.register(s, transfer_body(code, seller, 600))
                outcome.append("committed")
            except OperationalError as exc:
                outcome.append("killed: " + str(exc.orig).splitlines()[0])

    with pool.connect() as blocker:
        # Hold the journal's lock: the victim does all its writes, then waits at its journal row.
        blocker.execute(text("SELECT pg_advisory_xact_lock(5899, -1)"))
        t = threading.Thread(target=victim)
        t.start()
        waiting = False
        for _ in range(200):
            waiting = bool(victim_pid) and blocker.execute(text(
                "SELECT count(*) FROM pg_locks WHERE pid = :p AND locktype = 'advisory' AND NOT granted"),
                {"p": victim_pid[0]}).scalar_one() > 0
            if waiting:
                break
            time.sleep(0.05)
        assert waiting, "the registration never reached its journal row"
        with Session(pool) as s:  # its writes so far exist, uncommitted
            pending = s.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p AND xact_start IS NOT NULL"),
                                {"p": victim_pid[0]}).scalar_one()
            assert pending == 1
            s.execute(text("SELECT pg_terminate_backend(:p)"), {"p": victim_pid[0]})
        t.join(30)
        blocker.rollback()
    assert outcome and outcome[0].startswith("killed"), outcome
    with Session(pool) as s:
        assert counts(s) == before
        assert current_version(s, code) == 1
        assert journal.verify(s).ok


# --- the journal replays to the register ----------------------------------------------------


def test_a_replay_of_the_journal_reproduces_every_kind(session):
    """Each kind's payload (landdb.effects/1) replays, on top of the sample, to the very rows written."""
    from landdb.sample import replay

    holders = [dict(person(1), share=0.5), dict(person(2), share=0.5)]
    a = code_of(first(session, X, Y, w=20, holders=holders))
    b = code_of(first(session, X, Y + 10, w=20, holders=holders))
    bank = {"id_number": BANK["id_number"]}
    for body in [
        {"kind": "mortgage", "parcel": a, "expected_version": 1, "effective_date": "2024-04-01", "mortgagee": BANK,
         "secured_amount_vnd": 900_000_000},
        {"kind": "transfer", "parcel": a, "expected_version": 2, "effective_date": "2024-05-01",
         "transferors": [{"id_number": person(1)["id_number"]}], "transferees": [dict(person(3), share=0.5)],
         "certificate": {"serial": serial()}, "mortgagee_consent": [bank]},
        {"kind": "mortgage_release", "parcel": a, "expected_version": 3, "effective_date": "2024-05-02", "mortgagee": bank},
        {"kind": "gift", "parcel": a, "expected_version": 4, "effective_date": "2024-05-03",
         "transferors": [{"id_number": person(3)["id_number"]}], "transferees": [dict(person(1), share=0.5)],
         "certificate": {"serial": serial()}},
        {"kind": "land_use_change", "parcel": a, "expected_version": 5, "effective_date": "2024-06-01", "land_use": "TMD"},
        {"kind": "land_use_change", "parcel": b, "expected_version": 1, "effective_date": "2024-06-01", "land_use": "TMD"},
        {"kind": "certificate_reissue", "parcel": a, "expected_version": 6, "effective_date": "2024-06-02",
         "certificate": {"serial": serial("AA")}},
        {"kind": "geometry_correction", "parcel": a, "expected_version": 7, "effective_date": "2024-06-03",
         "geometry": rect(X, Y, 20, 10), "legal_area_m2": 200},
    ]:
        reg(session, body)
    merged = code_of(reg(session, {"kind": "merge", "parcels": [a, b], "expected_version": {a: 8, b: 2},
                                   "effective_date": "2024-07-01", "certificate": {"serial": serial()}}))
    reg(session, {"kind": "split", "parcel": merged, "expected_version": 1, "effective_date": "2024-08-01",
                  "children": [{"geometry": rect(X, Y, 7, 20), "legal_area_m2": 140},
                               {"geometry": rect(X + 7, Y, 13, 20), "legal_area_m2": 260}]})
    replayed = replay.replay_database(session)
    assert replay.compare(replayed, replay.database_state(session)) == []
    past = replay.replay_database(session, until="2024-05-02")
    assert replay.compare(past, replay.database_state(session, until="2024-05-02")) == []


def test_the_same_idempotency_key_sent_at_once_registers_once(pool):
    code, seller = commit_parcel(pool)
    body = transfer_body(code, seller, 801)
    barrier = threading.Barrier(4)
    results: list = []

    def attempt() -> None:
        with Session(pool) as s:
            try:
                with s.begin():
                    s.connection()
                    barrier.wait()
                    results.append(registry.register(s, body, idempotency_key=f"same-key-{code}"))
            except Exception as exc:  # noqa: BLE001
                results.append(repr(exc))

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(created for _, created in results) == [False, False, False, True], results
    assert len({json.dumps(answer, sort_keys=True) for answer, _ in results}) == 1
    with Session(pool) as s:
        assert s.execute(text("SELECT count(*) FROM transactions WHERE idempotency_key = :k"),
                         {"k": f"same-key-{code}"}).scalar_one() == 1
        assert current_version(s, code) == 2


# --- on the sample's own parcels ------------------------------------------------------------


def _sample_parcel(session, *, mortgaged: bool):
    return session.execute(text("""
        SELECT p.parcel_code, v.version, min(r.party_id) AS holder
          FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
          JOIN rights r ON r.parcel_id = p.id AND r.valid_to IS NULL
         WHERE p.retired_on IS NULL AND p.sheet_no < 700
         GROUP BY p.id, p.parcel_code, v.version
        HAVING count(*) FILTER (WHERE r.kind = 'house_ownership') = 1
           AND count(*) FILTER (WHERE r.kind = 'land_use_right' AND r.share = 1) = 1
           AND (count(*) FILTER (WHERE r.kind = 'mortgage') > 0) = :m
         ORDER BY p.id LIMIT 1"""), {"m": mortgaged}).one()


def test_transfer_of_a_sample_house_moves_land_and_house_together(session):
    p = _sample_parcel(session, mortgaged=False)
    answer = reg(session, {"kind": "transfer", "parcel": p.parcel_code, "expected_version": p.version,
                           "effective_date": "2026-11-02", "transferors": [{"party_id": p.holder}],
                           "transferees": [person(11)], "certificate": {"serial": serial("AA")}})
    buyer = party_id(session, 11)
    assert sorted((r.kind, r.party_id, float(r.share)) for r in rights_of(session, p.parcel_code)) == [
        ("house_ownership", buyer, 1.0), ("land_use_right", buyer, 1.0)]
    assert sorted(r["kind"] for r in answer["closed"]["rights"]) == ["house_ownership", "land_use_right"]
    assert journal.verify(session).ok


def test_a_mortgaged_sample_parcel_needs_the_banks_consent(session):
    p = _sample_parcel(session, mortgaged=True)
    with pytest.raises(Unprocessable, match="is mortgaged"):
        with session.begin_nested():
            reg(session, {"kind": "transfer", "parcel": p.parcel_code, "expected_version": p.version,
                          "effective_date": "2026-11-02", "transferors": [{"party_id": p.holder}],
                          "transferees": [person(12)], "certificate": {"serial": serial("AA")}})


def _locks_while_waiting_for_the_journal(pool, body) -> list[tuple[int, int]]:
    """Run a registration until it waits for the journal's lock; return the (classid, objid)
    advisory locks of namespace 5899 it holds then, and let it go."""
    pid: list[int] = []
    done: list[str] = []

    def run() -> None:
        with Session(pool) as s:
            try:
                with s.begin():
                    pid.append(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                    registry.register(s, body)
                done.append("committed")
            except Exception as exc:  # noqa: BLE001
                done.append(repr(exc))

    with pool.connect() as blocker:
        blocker.execute(text("SELECT pg_advisory_xact_lock(5899, -1)"))
        t = threading.Thread(target=run)
        t.start()
        held = None
        for _ in range(200):
            if pid and blocker.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE pid = :p AND locktype = 'advisory' AND NOT granted"),
                    {"p": pid[0]}).scalar_one():
                held = [tuple(r) for r in blocker.execute(text(
                    "SELECT classid::int, objid::bigint FROM pg_locks WHERE pid = :p AND locktype = 'advisory' "
                    "AND granted AND classid = 5899"), {"p": pid[0]})]
                break
            time.sleep(0.05)
        blocker.rollback()
        t.join(30)
    assert done == ["committed"] and held is not None, done
    return held


def test_a_transfer_in_flight_holds_no_grid_cell_lock(pool):
    """Unchanged geometry skips the overlap check (migration 0002): a transfer waits only for the
    journal, never for registrations of other parcels in its 1 km cell; new geometry still locks."""
    code, seller = commit_parcel(pool)
    assert _locks_while_waiting_for_the_journal(pool, transfer_body(code, seller, 901)) == []
    x, y = committed_cell()
    new = first_registration_body(x, y, sheet=790, holders=[dict(person(902), share=1)], serial_prefix="TC")
    assert len(_locks_while_waiting_for_the_journal(pool, new)) >= 2  # the layer (shared) and its cell
