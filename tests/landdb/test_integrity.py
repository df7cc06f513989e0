"""Rules the database enforces whoever writes: no overlaps, valid geometry in EPSG:5899,
unique active parcel codes, share sums, positive areas, an append-only journal."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..factories import TEST_AREA, make_parcel, make_party, make_right, make_transaction, square

X, Y = TEST_AREA


def test_overlapping_active_parcel_is_refused(session):
    make_parcel(session, wkt=square(X, Y, 10))
    with pytest.raises(IntegrityError, match="would overlap"):
        with session.begin_nested():
            make_parcel(session, wkt=square(X + 5, Y + 5, 10))


def test_neighbours_sharing_an_edge_or_a_sliver_are_accepted(session):
    make_parcel(session, wkt=square(X, Y, 10))
    make_parcel(session, wkt=square(X + 10, Y, 10))  # shares an edge
    make_parcel(session, wkt=square(X + 19.999, Y + 10, 10))  # overlap 0.001 m x 0 — none
    make_parcel(session, wkt=square(X - 10.004, Y, 10))  # sliver of 0.04 m²: under the tolerance


def test_overlap_just_over_tolerance_is_refused(session):
    make_parcel(session, wkt=square(X, Y, 10))
    with pytest.raises(IntegrityError, match="would overlap"):
        with session.begin_nested():
            make_parcel(session, wkt=square(X - 9.99, Y, 10))  # 0.1 m²


def test_overlap_within_one_statement_is_refused(session):
    """Two new parcels in the same INSERT are checked against each other too."""
    tx = make_transaction(session)
    ids = [
        session.execute(
            text("INSERT INTO parcels (ward_id, ward_code, sheet_no, parcel_no, registered_on) "
                 "SELECT id, code, 98, :n, '2024-03-01' FROM admin_units WHERE code = '06691' "
                 "AND valid_to = '2025-07-01' RETURNING id"),
            {"n": n},
        ).scalar_one()
        for n in (1, 2)
    ]
    with pytest.raises(IntegrityError, match="would overlap"):
        with session.begin_nested():
            session.execute(
                text(
                    "INSERT INTO parcel_versions (parcel_id, version, valid_from, land_use, legal_area_m2, geom, opened_by_tx) "
                    "SELECT p, 1, '2024-03-01', 'ODT', 100, ST_GeomFromText(:w, 5899), :tx FROM unnest(CAST(:ids AS bigint[])) p"
                ),
                {"w": square(X + 500, Y, 10), "tx": tx, "ids": ids},
            )


def test_closed_versions_may_overlap_current_ones(session):
    """History keeps old geometry: only active versions must not overlap."""
    tx = make_transaction(session)
    pid, vid = make_parcel(session, wkt=square(X, Y, 10))
    session.execute(text("UPDATE parcel_versions SET valid_to = '2024-06-01', closed_by_tx = :tx WHERE id = :v"),
                    {"tx": tx, "v": vid})
    make_parcel(session, wkt=square(X + 2, Y + 2, 10))


def test_reopening_an_overlapped_version_is_refused(session):
    tx = make_transaction(session)
    pid, vid = make_parcel(session, wkt=square(X, Y, 10))
    session.execute(text("UPDATE parcel_versions SET valid_to = '2024-06-01', closed_by_tx = :tx WHERE id = :v"),
                    {"tx": tx, "v": vid})
    make_parcel(session, wkt=square(X + 2, Y + 2, 10))
    with pytest.raises(IntegrityError, match="would overlap"):
        with session.begin_nested():
            session.execute(text("UPDATE parcel_versions SET valid_to = NULL, closed_by_tx = NULL WHERE id = :v"),
                            {"v": vid})


@pytest.mark.parametrize(
    "wkt, srid, message",
    [
        ("MULTIPOLYGON(((0 0,10 10,10 0,0 10,0 0)))", 5899, "geom_valid"),  # bow-tie
        ("MULTIPOLYGON(((107 20.9,107.001 20.9,107.001 20.901,107 20.9)))", 4326, "SRID"),
        ("POLYGON((0 0,10 0,10 10,0 0))", 5899, "Geometry type"),
    ],
)
def test_geometry_must_be_valid_multipolygon_in_5899(session, wkt, srid, message):
    pid, vid = make_parcel(session, wkt=square(X, Y, 10))
    with pytest.raises(DBAPIError, match=message):
        with session.begin_nested():
            session.execute(text("UPDATE parcel_versions SET geom = ST_GeomFromText(:w, :s) WHERE id = :v"),
                            {"w": wkt, "s": srid, "v": vid})


def test_parcel_code_is_unique_among_active_parcels(session):
    make_parcel(session, sheet_no=7, parcel_no=70, wkt=square(X, Y))
    with pytest.raises(IntegrityError, match="uq_parcels_active_code"):
        with session.begin_nested():
            make_parcel(session, sheet_no=7, parcel_no=70, wkt=square(X + 100, Y))


def test_retired_code_does_not_block_a_new_parcel(session):
    pid, _ = make_parcel(session, sheet_no=7, parcel_no=71, wkt=square(X, Y))
    session.execute(text("UPDATE parcels SET retired_on = '2024-05-01' WHERE id = :p"), {"p": pid})
    make_parcel(session, sheet_no=7, parcel_no=71, wkt=square(X + 100, Y))


def test_legal_area_must_be_positive(session):
    with pytest.raises(IntegrityError, match="legal_area_positive"):
        with session.begin_nested():
            make_parcel(session, legal_area_m2=0)


def test_shares_of_one_kind_sum_to_at_most_one(session):
    pid, _ = make_parcel(session)
    a, b, c = (make_party(session, id_number=f"0220900012{i:02d}") for i in range(3))
    make_right(session, pid, a, 0.5)
    make_right(session, pid, b, 0.5)
    make_right(session, pid, c, 1.0, kind="house_ownership")  # another kind has its own sum
    with pytest.raises(IntegrityError, match="sum to 1.0"):
        with session.begin_nested():
            make_right(session, pid, c, 0.000001)


def test_mortgage_has_no_share_and_does_not_count(session):
    pid, _ = make_parcel(session)
    owner, bank = make_party(session), make_party(session, "Ngân hàng TMCP Thử", "0100000000", "organization")
    make_right(session, pid, owner, 1.0)
    make_right(session, pid, bank, None, kind="mortgage")
    with pytest.raises(IntegrityError, match="share_presence"):
        with session.begin_nested():
            make_right(session, pid, bank, 0.5, kind="mortgage")


def test_journal_is_a_hash_chain(session):
    first = make_transaction(session, payload={"note": "một"})
    second = make_transaction(session, payload={"note": "hai"})
    rows = session.execute(
        text("SELECT id, seq, prev_hash, hash FROM transactions WHERE id IN (:a, :b) ORDER BY seq"),
        {"a": first, "b": second},
    ).all()
    assert rows[1].seq == rows[0].seq + 1
    assert rows[1].prev_hash == rows[0].hash
    assert len(rows[0].hash) == 64 and rows[0].hash != rows[1].hash


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transactions SET dossier_no = 'sửa' WHERE id = :id",
        "DELETE FROM transactions WHERE id = :id",
        "TRUNCATE transactions CASCADE",
    ],
)
def test_journal_rows_cannot_be_changed(session, statement):
    tx = make_transaction(session)
    with pytest.raises(DBAPIError, match="append-only"):
        with session.begin_nested():
            session.execute(text(statement), {"id": tx})
