"""Helpers for registry tests: polygons in the empty test area, request bodies, unique serials,
and a database of their own for tests that must COMMIT (concurrency, faults).

Registry tests use sheets 700–799 of ward 06691. Tests that commit do so in `own_database_url`
(migrated, reference data, no sample), never in the shared test database, whose other tests
count its rows; there the parcels go in the test area's north-east corner (E ≥ 446 500,
N ≥ 2 336 500).
"""

from __future__ import annotations

import itertools
import random

from sqlalchemy import text

from .factories import TEST_AREA

X0, Y0 = TEST_AREA
#: lower-left corner of the area where committed registry parcels go.
COMMITTED_AREA = (446_500.0, 2_336_500.0)

_serials = itertools.count(random.randint(0, 400_000))
_sheet_numbers = itertools.count(1)


def serial(prefix: str = "TS") -> str:
    return f"{prefix} {next(_serials):06d}"


def rect(x: float, y: float, w: float = 10.0, h: float = 10.0) -> dict:
    """A GeoJSON Polygon (EPSG:5899) with its lower-left corner at (x, y)."""
    return {"type": "Polygon", "coordinates": [[[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]]}


def person(n: int, name: str | None = None) -> dict:
    return {"kind": "individual", "full_name": name or f"Người Thử {n}", "id_number": f"0221{n:08d}",
            "birth_year": 1980}


BANK = {"kind": "organization", "full_name": "Ngân hàng TMCP Thử", "id_kind": "business_reg", "id_number": "5700000001"}


def first_registration_body(x: float, y: float, *, w: float = 10.0, h: float = 10.0, sheet: int = 701,
                            holders: list[dict] | None = None, date: str = "2024-03-01",
                            parcel_no: int | None = None, serial_prefix: str = "TS") -> dict:
    body = {
        "kind": "first_registration", "effective_date": date, "dossier_no": "HS-0001",
        "ward_code": "06691", "sheet_no": sheet, "geometry": rect(x, y, w, h), "land_use": "ODT",
        "legal_area_m2": round(w * h, 1), "address": "Tổ 5, Khu 3, Hồng Gai",
        "holders": holders or [dict(person(1), share=1)],
        "certificate": {"serial": serial(serial_prefix), "registry_no": "CH00111"},
    }
    if parcel_no is not None:
        body["parcel_no"] = parcel_no
    return body


def code_of(answer: dict) -> str:
    return answer["opened"]["parcels"][0]


def current_version(session, code: str) -> int:
    return session.execute(
        text("SELECT v.version FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL "
             "WHERE p.parcel_code = :c AND p.retired_on IS NULL"), {"c": code}).scalar_one()


def counts(session) -> dict:
    """Row counts of every table a registration writes."""
    return dict(session.execute(text("""
        SELECT 'parcels', count(*) FROM parcels UNION ALL SELECT 'parcel_versions', count(*) FROM parcel_versions
        UNION ALL SELECT 'rights', count(*) FROM rights UNION ALL SELECT 'certificates', count(*) FROM certificates
        UNION ALL SELECT 'transactions', count(*) FROM transactions
        UNION ALL SELECT 'parcel_lineage', count(*) FROM parcel_lineage
        UNION ALL SELECT 'parties', count(*) FROM parties
        UNION ALL SELECT 'closed_versions', count(*) FROM parcel_versions WHERE valid_to IS NOT NULL
        UNION ALL SELECT 'closed_rights', count(*) FROM rights WHERE valid_to IS NOT NULL
    """)).all())


def new_sheet() -> int:
    """A sheet in 700–799 no other test of this run uses (for parcel-number assertions)."""
    return 700 + next(_sheet_numbers) % 100


_own_db: dict[str, str] = {}


def own_database_url(pg_server: str) -> str:
    """A database for tests that commit: created once per run, migrated, with reference data."""
    if "url" not in _own_db:
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session

        from landdb import migrate
        from landdb.reference import sync_reference_data

        from .conftest import create_database

        url = create_database(pg_server, "landdb_registry_commits")
        migrate.upgrade(url)
        engine = create_engine(url)
        with Session(engine) as s, s.begin():
            sync_reference_data(s)
        engine.dispose()
        _own_db["url"] = url
    return _own_db["url"]


_cells = itertools.count()


def committed_cell() -> tuple[float, float]:
    """Lower-left corner of a fresh 20 m cell in the committed area (625 per run)."""
    n = next(_cells)
    return COMMITTED_AREA[0] + 20 * (n % 25), COMMITTED_AREA[1] + 20 * (n // 25)


def commit_parcel(engine, *, holder: int = 1, sheet: int = 790) -> tuple[str, int]:
    """Register a parcel and COMMIT it; return (parcel code, holder's party id)."""
    from sqlalchemy.orm import Session

    from landdb import registry

    x, y = committed_cell()
    with Session(engine) as s, s.begin():
        answer, _ = registry.register(
            s, first_registration_body(x, y, sheet=sheet, holders=[dict(person(holder), share=1)],
                                       serial_prefix="TC"))
        code = code_of(answer)
        pid = s.execute(text("SELECT party_id FROM rights r JOIN parcels p ON p.id = r.parcel_id "
                             "WHERE p.parcel_code = :c AND r.valid_to IS NULL"), {"c": code}).scalar_one()
    return code, pid


def transfer_body(code: str, seller: int, buyer: int, version: int = 1, date: str = "2024-06-01") -> dict:
    return {"kind": "transfer", "parcel": code, "expected_version": version, "effective_date": date,
            "transferors": [{"party_id": seller}], "transferees": [person(buyer)],
            "certificate": {"serial": serial("TC")}}
