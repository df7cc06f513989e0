"""The Hạ Long sample as loaded into the test database: valid, consistent, realistic, replayable
and reproducible; and the generator, loader and CLI behind it."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from sqlalchemy import text

from landdb import journal
from landdb.errors import Conflict, InvalidInput
from landdb.reference import read_table
from landdb.sample import replay
from landdb.sample.generate import TABLES, generate, national_ids, poles
from landdb.sample.geohash import encode
from landdb.sample.load import DEFAULT_SAMPLE, load_sample


def scalar(session, sql: str, **params):
    return session.execute(text(sql), params).scalar_one()


# --- geometry --------------------------------------------------------------------------------


def test_the_sample_is_loaded(session):
    assert scalar(session, "SELECT count(*) FROM parcels WHERE retired_on IS NULL") == 3000
    assert scalar(session, "SELECT count(*) FROM parcels WHERE retired_on IS NOT NULL") > 100


def test_every_geometry_is_valid_multipolygon_in_5899(session):
    bad = session.execute(text("""
        SELECT 'version ' || id FROM parcel_versions
         WHERE NOT ST_IsValid(geom) OR ST_SRID(geom) <> 5899 OR GeometryType(geom) <> 'MULTIPOLYGON'
        UNION ALL
        SELECT 'unit ' || code FROM admin_units
         WHERE geom IS NOT NULL AND (NOT ST_IsValid(geom) OR ST_SRID(geom) <> 5899)""")).scalars().all()
    assert bad == []


def test_no_two_active_parcels_overlap(session):
    overlaps = session.execute(text("""
        SELECT a.parcel_id, b.parcel_id, ST_Area(ST_Intersection(a.geom, b.geom))
          FROM parcel_versions a JOIN parcel_versions b
            ON a.geom && b.geom AND a.parcel_id < b.parcel_id
         WHERE a.valid_to IS NULL AND b.valid_to IS NULL
           AND ST_Relate(a.geom, b.geom, 'T********')
           AND ST_Area(ST_Intersection(a.geom, b.geom)) > 0.05""")).all()
    assert overlaps == []


def test_neighbours_share_boundaries_exactly(session):
    """Lots that abut share their common edge vertex for vertex: no slivers, no gaps."""
    pairs = session.execute(text("""
        SELECT count(*) AS touching,
               count(*) FILTER (WHERE ST_Area(ST_Intersection(a.geom, b.geom)) > 1e-6) AS overlapping,
               count(*) FILTER (WHERE ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) > 1) AS shared
          FROM parcel_versions a JOIN parcel_versions b
            ON a.geom && b.geom AND a.parcel_id < b.parcel_id
         WHERE a.valid_to IS NULL AND b.valid_to IS NULL AND ST_Intersects(a.geom, b.geom)""")).one()
    assert pairs.touching > 3000
    assert pairs.overlapping == 0
    assert pairs.shared > 0.5 * pairs.touching  # the others meet at a corner


def test_every_parcel_lies_in_its_ward(session):
    outside = session.execute(text("""
        SELECT p.parcel_code FROM parcels p
          JOIN parcel_versions v ON v.parcel_id = p.id
          JOIN admin_units u ON u.id = p.ward_id
         WHERE NOT ST_Within(v.geom, u.geom)
           AND ST_Area(ST_Intersection(v.geom, u.geom)) < 0.999 * ST_Area(v.geom)""")).scalars().all()
    assert outside == []
    # Every parcel is registered under a pre-2025 ward or commune of Hạ Long.
    assert scalar(session, """SELECT count(*) FROM parcels p JOIN admin_units u ON u.id = p.ward_id
                               WHERE u.valid_from <> '2020-01-01' OR u.level NOT IN ('ward', 'commune')""") == 0


def test_parcels_lie_in_hạ_long_and_leave_the_test_square_empty(session):
    box = session.execute(text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
          FROM (SELECT ST_Extent(ST_Transform(geom, 4326))::geometry AS e FROM parcel_versions) s""")).one()
    assert 106.88 < box[0] and box[2] < 107.22 and 20.90 < box[1] and box[3] < 21.06
    assert scalar(session, """SELECT count(*) FROM parcel_versions
                               WHERE geom && ST_MakeEnvelope(444000, 2334000, 448000, 2338000, 5899)""") == 0


def test_unit_boundaries_match_the_reference_and_the_2025_merger(session):
    units = read_table("admin_units")
    rows = {(r.code, r.valid_from.isoformat()): r for r in session.execute(text(
        "SELECT code, name, level, valid_from, geom IS NOT NULL AS has_geom FROM admin_units"))}
    for u in units:
        row = rows[(u["code"], u["valid_from"])]
        assert row.name == u["name"]
        if u["level"] in ("ward", "commune", "city"):
            assert row.has_geom, u
    # After 1 July 2025 a unit is the union of its predecessors (their parts, for split ones).
    diffs = session.execute(text("""
        SELECT s.code, ST_Area(s.geom), ST_Area(ST_Union(p.geom))
          FROM admin_units s
          JOIN admin_unit_successions x ON x.successor_id = s.id
          JOIN admin_units p ON p.id = x.predecessor_id
         WHERE s.valid_from = '2025-07-01'
         GROUP BY s.code, s.geom
        HAVING bool_and(x.extent = 'whole')""")).all()
    assert len(diffs) >= 6
    for code, area, union in diffs:
        assert abs(area - union) < 1e-6 * union, code
    # Parts: a split predecessor is covered by its successors together.
    parts = session.execute(text("""
        SELECT p.code, ST_Area(p.geom),
               sum(ST_Area(ST_Intersection(p.geom, s.geom))) AS covered
          FROM admin_unit_successions x
          JOIN admin_units p ON p.id = x.predecessor_id JOIN admin_units s ON s.id = x.successor_id
         WHERE x.extent = 'part' GROUP BY p.code, p.geom""")).all()
    assert {p.code for p in parts} == {"06655", "07042"}
    for code, area, covered in parts:
        assert abs(area - covered) < 1e-3 * area, code


# --- rights, parties, certificates ------------------------------------------------------------


def test_every_active_right_points_to_an_active_parcel_and_a_party(session):
    bad = session.execute(text("""
        SELECT r.id FROM rights r
          LEFT JOIN parcels p ON p.id = r.parcel_id
          LEFT JOIN parcel_versions v ON v.parcel_id = r.parcel_id AND v.valid_to IS NULL
          LEFT JOIN parties q ON q.id = r.party_id
         WHERE r.valid_to IS NULL AND (p.retired_on IS NOT NULL OR v.id IS NULL OR q.id IS NULL)""")).all()
    assert bad == []


def test_shares_of_land_use_rights_sum_to_one_on_every_active_parcel(session):
    bad = session.execute(text("""
        SELECT p.parcel_code, k.kind, sum(r.share)
          FROM parcels p
          CROSS JOIN (VALUES ('land_use_right')) k(kind)
          LEFT JOIN rights r ON r.parcel_id = p.id AND r.kind = k.kind AND r.valid_to IS NULL
         WHERE p.retired_on IS NULL
         GROUP BY p.parcel_code, k.kind
        HAVING sum(r.share) IS DISTINCT FROM 1
        UNION ALL
        SELECT p.parcel_code, r.kind, sum(r.share)
          FROM parcels p JOIN rights r ON r.parcel_id = p.id AND r.valid_to IS NULL AND r.kind = 'house_ownership'
         GROUP BY p.parcel_code, r.kind
        HAVING sum(r.share) <> 1""")).all()
    assert bad == []


def test_owners_look_vietnamese(session):
    parties = session.execute(text("SELECT kind, full_name, id_kind, id_number, birth_year FROM parties")).all()
    kinds = Counter(p.kind for p in parties)
    assert {"individual", "couple", "household", "organization"} <= set(kinds)
    people = [p for p in parties if p.kind == "individual"]
    assert sum(re.search(r"[ăâđêôơưạảấầẩậắằẳặẹẻẽếềểệỉịọỏốồổộớờởợụủứừửựỳỷỹ]", p.full_name.lower()) is not None
               for p in people) > 0.8 * len(people)
    for p in people:
        if p.id_kind == "cccd":
            assert re.fullmatch(r"022[0-3]\d{8}", p.id_number) and p.id_number[4:6] == f"{p.birth_year % 100:02d}"
    banks = [p for p in parties if p.full_name.startswith("Ngân hàng")]
    assert banks and all(p.kind == "organization" and p.id_kind == "business_reg" for p in banks)
    mortgagees = session.execute(text("""SELECT DISTINCT q.full_name FROM rights r JOIN parties q ON q.id = r.party_id
                                          WHERE r.kind = 'mortgage'""")).scalars().all()
    assert mortgagees and all(n.startswith("Ngân hàng") for n in mortgagees)


def test_certificates_follow_the_two_forms(session):
    rows = session.execute(text("SELECT serial, registry_no, issued_on FROM certificates")).all()
    for serial, registry_no, issued_on in rows:
        if issued_on >= dt.date(2024, 8, 1):
            assert re.fullmatch(r"[A-Z]{2} \d{8}", serial), serial
        else:
            assert re.fullmatch(r"[A-Z]{2} \d{6}", serial), serial
        assert re.fullmatch(r"C[HST]\d{5}(/DA)?", registry_no), registry_no
    # Every active parcel has exactly one valid certificate behind its land-use rights.
    assert scalar(session, """
        SELECT count(*) FROM parcels p WHERE p.retired_on IS NULL AND 1 <> (
          SELECT count(DISTINCT r.certificate_id) FROM rights r JOIN certificates c ON c.id = r.certificate_id
           WHERE r.parcel_id = p.id AND r.kind = 'land_use_right' AND r.valid_to IS NULL AND c.cancelled_on IS NULL)
    """) == 0


# --- map sheets, numbers, IDs, addresses ------------------------------------------------------


def test_sheet_and_parcel_numbers_are_sequential(session):
    gaps = session.execute(text("""
        SELECT ward_code, sheet_no, count(*), max(parcel_no) FROM parcels
         GROUP BY ward_code, sheet_no HAVING count(DISTINCT parcel_no) <> max(parcel_no) OR count(*) <> max(parcel_no)""")).all()
    assert gaps == []
    sheets = session.execute(text("""
        SELECT ward_code FROM (SELECT ward_code, count(DISTINCT sheet_no) n, max(sheet_no) m FROM parcels GROUP BY 1) s
         WHERE n <> m""")).all()
    assert sheets == []
    # Parcels made by a split or merge take the next numbers on their sheet.
    late = session.execute(text("""
        SELECT count(*) FILTER (WHERE c.parcel_no > p.parcel_no), count(*)
          FROM parcel_lineage l JOIN parcels p ON p.id = l.parent_id JOIN parcels c ON c.id = l.child_id""")).one()
    assert late[0] == late[1] > 0


def test_split_children_exactly_cover_their_parent_and_merges_their_parents(session):
    rows = session.execute(text("""
        SELECT l.kind, l.transaction_id,
               ST_Area(ST_SymDifference(
                 (SELECT ST_Union(pv.geom) FROM parcel_versions pv JOIN parcel_lineage l2 ON l2.parent_id = pv.parcel_id
                   WHERE l2.transaction_id = l.transaction_id AND pv.closed_by_tx = l.transaction_id),
                 (SELECT ST_Union(cv.geom) FROM parcel_versions cv JOIN parcel_lineage l3 ON l3.child_id = cv.parcel_id
                   WHERE l3.transaction_id = l.transaction_id AND cv.version = 1))) AS diff
          FROM parcel_lineage l GROUP BY l.kind, l.transaction_id""")).all()
    assert {r.kind for r in rows} == {"split", "merge"}
    assert max(r.diff for r in rows) < 1e-6


def test_national_ids_are_geohashes_of_the_pole_of_inaccessibility(session):
    assert encode(20.95167, 107.07)[0] == "w7sphqjurf6e"  # DOMAIN.md's example
    assert encode(57.64911, 10.40744, 11)[0] == "u4pruydqqvj"
    rows = session.execute(text("""
        SELECT p.national_id, ST_AsBinary(v.geom) AS wkb FROM parcels p
          JOIN parcel_versions v ON v.parcel_id = p.id AND v.version = 1
         ORDER BY p.id LIMIT 200""")).all()
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
    assert list(national_ids(geoms)[0]) == [r.national_id for r in rows]
    # The point is inside the parcel, near the centre of its largest inscribed circle.
    parts = shapely.get_parts(geoms)
    radius = shapely.length(shapely.maximum_inscribed_circle(parts, tolerance=0.001))
    pole = poles(geoms)
    assert shapely.contains(parts, pole).all()
    clearance = shapely.distance(pole, shapely.boundary(parts))
    assert (clearance >= radius - np.sqrt(shapely.area(parts)) / 50).all()
    assert scalar(session, "SELECT count(*) - count(DISTINCT national_id) FROM parcels") == 0


def test_addresses_name_the_parcels_ward(session):
    rows = session.execute(text("""
        SELECT v.address, u.name, u.level FROM parcel_versions v
          JOIN parcels p ON p.id = v.parcel_id JOIN admin_units u ON u.id = p.ward_id""")).all()
    for address, name, level in rows:
        assert address.endswith(f"{'phường' if level == 'ward' else 'xã'} {name}"), address
    numbered = [a for a, _, _ in rows if a.startswith("Số ")]
    assert len(numbered) > 0.6 * len(rows)
    assert all(re.match(r"Số \d+[A-G]?, (Phố|Đường) ", a) for a in numbered)


# --- a realistic mix --------------------------------------------------------------------------


def test_land_use_and_sizes_are_a_realistic_mix(session):
    rows = session.execute(text("""
        SELECT land_use, count(*) n, percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Area(geom)) median,
               min(ST_Area(geom)) smallest, max(ST_Area(geom)) largest,
               max(abs(legal_area_m2 - ST_Area(geom)) / ST_Area(geom)) drift
          FROM parcel_versions WHERE valid_to IS NULL GROUP BY land_use""")).all()
    by = {r.land_use: r for r in rows}
    assert {"ODT", "TMD", "SKS", "SKX", "NTS", "LUC", "CLN", "RSX", "ONT"} <= set(by)
    assert {"BHK", "HNK"} & set(by)
    assert by["ODT"].n > 0.5 * sum(r.n for r in rows)
    assert 40 <= by["ODT"].smallest and by["ODT"].largest <= 250 and 60 <= by["ODT"].median <= 150
    for code in ("LUC", "CLN", "NTS", "RSX", "SKS"):
        assert by[code].median >= 300, code
    assert by["RSX"].median >= 3000
    assert all(r.drift < 0.05 for r in rows)
    equal = scalar(session, "SELECT count(*) FROM parcel_versions WHERE legal_area_m2 = round(ST_Area(geom)::numeric, 1)")
    assert 0.1 * len(by) < equal < scalar(session, "SELECT count(*) FROM parcel_versions")
    # Land use is placed where it belongs: hotels in Bãi Cháy / Tuần Châu, coal mining around Hà Tu.
    where = dict(session.execute(text("""
        SELECT v.land_use, array_agg(DISTINCT p.ward_code) FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id
         WHERE v.valid_to IS NULL GROUP BY v.land_use""")).all())
    assert {"06673", "06700"} <= set(where["TMD"])
    assert set(where["SKS"]) <= {"06649", "06652", "06658", "06664", "06667", "06670"}
    assert set(where["SKX"]) <= {"06649", "06655", "06661"}


def test_history_has_every_kind_of_registration_and_stays_in_the_past(session):
    kinds = dict(session.execute(text("SELECT kind, count(*) FROM transactions GROUP BY kind")).all())
    assert {"first_registration", "transfer", "inheritance", "gift", "mortgage", "mortgage_release", "split",
            "merge", "land_use_change", "certificate_reissue"} <= set(kinds)
    first, last = session.execute(text("SELECT min(effective_date), max(effective_date) FROM transactions")).one()
    assert first >= dt.date(2015, 1, 1) and last <= min(dt.date(2026, 10, 31), dt.date.today())
    assert scalar(session, "SELECT count(*) FROM transactions WHERE extract(isodow FROM effective_date) > 5") == 0
    # The journal is in date order and its hash chain holds.
    assert scalar(session, """SELECT count(*) FROM (SELECT effective_date < lag(effective_date) OVER (ORDER BY seq) AS back
                                                     FROM transactions) s WHERE back""") == 0
    assert journal.verify(session).ok
    changes = dict(session.execute(text("""
        SELECT o.land_use || '>' || n.land_use, count(*) FROM parcel_versions n
          JOIN parcel_versions o ON o.parcel_id = n.parcel_id AND o.version = n.version - 1 GROUP BY 1""")).all())
    assert any(k.endswith(">ONT") or k.endswith(">ODT") for k in changes)


# --- replay -----------------------------------------------------------------------------------


def test_the_journal_replays_to_the_current_state(session):
    replayed = replay.replay_database(session)
    assert replayed.transactions == scalar(session, "SELECT count(*) FROM transactions")
    assert replayed.unreplayable == []
    assert replay.compare(replayed, replay.database_state(session)) == []


@pytest.mark.parametrize("day", ["2018-12-31", "2025-06-30"])
def test_the_journal_replays_to_any_past_day(session, day):
    replayed = replay.replay_database(session, until=day)
    assert 0 < replayed.transactions < scalar(session, "SELECT count(*) FROM transactions")
    assert replay.compare(replayed, replay.database_state(session, until=day)) == []


def test_a_tampered_replay_is_noticed(session):
    replayed = replay.replay_database(session)
    actual = replay.database_state(session)
    some = next(iter(replayed.rights))
    replayed.rights[some]["share"] = None
    assert replay.compare(replayed, actual)


# --- generator, loader, CLI -------------------------------------------------------------------


def _contents(path) -> dict[str, pd.DataFrame]:
    out = {}
    for layer in ("admin_units",) + TABLES[1:]:
        df = pyogrio.read_dataframe(path, layer=layer)
        if "geometry" in df:
            wkb = shapely.to_wkb(np.asarray(df.geometry.values, dtype=object), hex=True)
            df = pd.DataFrame(df.drop(columns="geometry")).assign(geometry=wkb)
        out[layer] = df
    return out


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    counts = generate(300, 7, tmp_path / "a.gpkg")
    generate(300, 7, tmp_path / "b.gpkg")
    generate(300, 8, tmp_path / "c.gpkg")
    a, b, c = (_contents(tmp_path / f"{n}.gpkg") for n in "abc")
    assert counts["parcels"] >= 300
    for layer in a:
        pd.testing.assert_frame_equal(a[layer], b[layer], obj=layer)
    assert not a["parcel_versions"]["geometry"].equals(c["parcel_versions"]["geometry"])
    assert not a["parties"]["full_name"].equals(c["parties"]["full_name"])


def test_the_register_must_be_empty_to_load(session, tmp_path):
    with pytest.raises(Conflict):
        load_sample(session)
    with pytest.raises(InvalidInput):
        load_sample(session, tmp_path / "missing.gpkg")


def test_load_into_a_database_whose_unit_ids_differ(pg_server):
    """Payloads name wards by id; where the database numbered its units otherwise, the loader maps them."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from landdb import migrate
    from landdb.reference import sync_reference_data

    from ..conftest import create_database

    url = create_database(pg_server, "landdb_sample_ids")
    engine = create_engine(url)
    try:
        migrate.upgrade(url)
        with Session(engine) as s, s.begin():
            s.execute(text("SELECT setval(pg_get_serial_sequence('admin_units', 'id'), 500)"))
            sync_reference_data(s)
            counts = load_sample(s)
        assert counts["parcels"] > 3000
        with Session(engine) as s:
            assert scalar(s, "SELECT min(id) FROM admin_units") == 501
            assert scalar(s, """SELECT count(*) FROM parcels p JOIN admin_units u ON u.id = p.ward_id
                                  WHERE u.code = p.ward_code AND u.valid_from = '2020-01-01'""") == counts["parcels"]
            assert replay.compare(replay.replay_database(s), replay.database_state(s)) == []
            assert journal.verify(s).ok
    finally:
        engine.dispose()
        admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "landdb_sample_ids" WITH (FORCE)'))
        admin.dispose()


def test_cli_load_if_empty_leaves_a_loaded_register_alone(database_url, tmp_path):
    from landdb.cli import main

    env = {"DATABASE_URL": database_url}
    result = CliRunner().invoke(main, ["sample", "load", "--if-empty"], env=env)
    assert result.exit_code == 0, result.output
    assert "already has 3" in result.output
    result = CliRunner().invoke(main, ["sample", "load"], env=env)
    assert result.exit_code == 1 and "empty" in result.output
    out = tmp_path / "tiny.gpkg"
    result = CliRunner().invoke(main, ["sample", "generate", "--parcels", "40", "--seed", "3", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "parcels" in result.output and out.is_file()
    assert DEFAULT_SAMPLE.is_file()


def test_cli_check_replays_the_journal(database_url):
    from landdb.cli import main

    env = {"DATABASE_URL": database_url}
    result = CliRunner().invoke(main, ["sample", "check", "--until", "2020-06-30"], env=env)
    assert result.exit_code == 0, result.output
    assert "the tables agree" in result.output
    result = CliRunner().invoke(main, ["sample", "check", "--until", "30/06/2020"], env=env)
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
