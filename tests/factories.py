"""Factories for rows the tests need: `make_parcel(session, **overrides)` and friends."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Hồng Gai control point in EPSG:5899 (DOMAIN.md): E 429 088, N 2 317 756.
HONG_GAI = (429_088.0, 2_317_756.0)
#: A 2 km square north of the sample's extent that the sample data leaves empty, so parcels
#: made by tests never collide with sample parcels.
TEST_AREA = (445_000.0, 2_335_000.0)

_numbers = itertools.count(9000)


def square(x0: float, y0: float, size: float = 10.0) -> str:
    """WKT of an axis-aligned square MultiPolygon with its lower-left corner at (x0, y0)."""
    x1, y1 = x0 + size, y0 + size
    return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def ward_id(session: Session, code: str = "06691", on: str = "2024-01-01") -> int:
    return session.execute(
        text(
            "SELECT id FROM admin_units WHERE code = :c AND valid_from <= :d "
            "AND (valid_to IS NULL OR valid_to > :d)"
        ),
        {"c": code, "d": on},
    ).scalar_one()


def make_transaction(session: Session, kind: str = "first_registration", effective_date: str = "2024-03-01",
                     payload: dict | None = None) -> int:
    import json

    return session.execute(
        text(
            "INSERT INTO transactions (kind, effective_date, payload) "
            "VALUES (:k, :d, CAST(:p AS jsonb)) RETURNING id"
        ),
        {"k": kind, "d": effective_date, "p": json.dumps(payload or {})},
    ).scalar_one()


def make_parcel(session: Session, *, wkt: str | None = None, ward_code: str = "06691", sheet_no: int = 99,
                parcel_no: int | None = None, land_use: str = "ODT", legal_area_m2: float = 100.0,
                address: str | None = "1 Phố Thử, Hồng Gai", valid_from: str = "2024-03-01",
                tx: int | None = None) -> tuple[int, int]:
    """Insert a parcel and its first version; return (parcel_id, version_id)."""
    tx = tx or make_transaction(session, effective_date=valid_from)
    parcel_id = session.execute(
        text(
            "INSERT INTO parcels (ward_id, ward_code, sheet_no, parcel_no, registered_on) "
            "VALUES (:w, :c, :s, :n, :d) RETURNING id"
        ),
        {"w": ward_id(session, ward_code), "c": ward_code, "s": sheet_no,
         "n": parcel_no or next(_numbers), "d": valid_from},
    ).scalar_one()
    version_id = session.execute(
        text(
            "INSERT INTO parcel_versions (parcel_id, version, valid_from, land_use, legal_area_m2, address, geom, opened_by_tx) "
            "VALUES (:p, 1, :d, :lu, :a, :addr, ST_GeomFromText(:wkt, 5899), :tx) RETURNING id"
        ),
        {"p": parcel_id, "d": valid_from, "lu": land_use, "a": legal_area_m2, "addr": address,
         "wkt": wkt or square(*TEST_AREA), "tx": tx},
    ).scalar_one()
    return parcel_id, version_id


def make_party(session: Session, name: str = "Nguyễn Văn An", id_number: str = "022090001234",
               kind: str = "individual") -> int:
    return session.execute(
        text(
            "INSERT INTO parties (kind, full_name, id_kind, id_number, birth_year, address) "
            "VALUES (:k, :n, :ik, :i, :b, 'Tổ 1, Khu 2, Hồng Gai') RETURNING id"
        ),
        {"k": kind, "n": name, "i": id_number,
         "ik": "business_reg" if kind == "organization" else "cccd",
         "b": None if kind == "organization" else 1980},
    ).scalar_one()


def make_right(session: Session, parcel_id: int, party_id: int, share: float | None = 1.0,
               kind: str = "land_use_right", tx: int | None = None, valid_from: str = "2024-03-01") -> int:
    tx = tx or make_transaction(session, effective_date=valid_from)
    return session.execute(
        text(
            "INSERT INTO rights (parcel_id, party_id, kind, share, valid_from, opened_by_tx) "
            "VALUES (:p, :q, :k, :s, :d, :tx) RETURNING id"
        ),
        {"p": parcel_id, "q": party_id, "k": kind, "s": share, "d": valid_from, "tx": tx},
    ).scalar_one()


def today() -> dt.date:
    return dt.date.today()


def sample_parcels(engine, n: int) -> list:
    """The first `n` current parcels of the committed sample: (code, lon, lat) with a point inside
    each (EPSG:4326)."""
    with Session(engine) as session:
        return session.execute(text(
            "SELECT p.parcel_code, ST_X(c), ST_Y(c) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id"
            " AND v.valid_to IS NULL, LATERAL (SELECT ST_Transform(ST_PointOnSurface(v.geom), 4326) c) x"
            " WHERE p.retired_on IS NULL ORDER BY p.id LIMIT :n"), {"n": n}).all()


#: A current parcel of the sample whose land-use right passed from one holder to another (not
#: a holder now) on `valid_to`: the transfer's day.
TRANSFERRED = """
    SELECT p.id, p.parcel_code, o.valid_to AS day, qo.full_name AS old_holder, qn.full_name AS new_holder
      FROM rights o
      JOIN rights n ON n.parcel_id = o.parcel_id AND n.valid_from = o.valid_to AND n.kind = 'land_use_right'
                   AND n.valid_to IS NULL
      JOIN parcels p ON p.id = o.parcel_id AND p.retired_on IS NULL AND p.registered_on < o.valid_to
      JOIN parties qo ON qo.id = o.party_id JOIN parties qn ON qn.id = n.party_id
     WHERE o.kind = 'land_use_right' AND qo.full_name <> qn.full_name
       AND NOT EXISTS (SELECT 1 FROM rights x JOIN parties y ON y.id = x.party_id
                        WHERE x.parcel_id = o.parcel_id AND x.valid_to IS NULL AND y.full_name = qo.full_name)
     ORDER BY p.parcel_code LIMIT 1"""
