"""Time travel: the `valid_at` predicates answer what a replay of the journal up to that date
gives, on the sample data and on a parcel with a known history."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from landdb import registry, timetravel
from landdb.errors import InvalidInput

from ..registry_helpers import X0, Y0, code_of, first_registration_body, person, serial

X, Y = X0 + 1600, Y0 + 1600


def replay(session, at: dt.date) -> tuple[dict, set, set]:
    """Apply the journal's effects (landdb.effects format) of every transaction effective on or
    before `at`, in journal order: the versions (parcel id, version → land use) and rights open
    then, and every parcel the effects created."""
    versions: dict[tuple[int, int], str] = {}
    rights: set[int] = set()
    parcels: set[int] = set()
    rows = session.execute(text("SELECT payload FROM transactions WHERE effective_date <= :d ORDER BY seq"), {"d": at})
    for (payload,) in rows:
        for e in payload.get("effects", []):
            op = e["op"]
            if op == "parcel":
                parcels.add(e["id"])
            elif op == "version":
                versions[(e["parcel_id"], e["version"])] = e["land_use"]
            elif op == "right":
                rights.add(e["id"])
            elif op == "close" and e["table"] == "parcel_versions":
                versions.pop((e["parcel_id"], e["version"]), None)
            elif op == "close" and e["table"] == "rights":
                rights.discard(e["id"])
    return versions, rights, parcels


def as_of(session, at: dt.date, parcels: set[int]) -> tuple[dict, set]:
    where_v, params = timetravel.version_filter("v", at)
    versions = {(r.parcel_id, r.version): r.land_use for r in session.execute(text(
        f"SELECT parcel_id, version, land_use FROM parcel_versions v WHERE {where_v} AND parcel_id = ANY(:ps)"),
        {**params, "ps": list(parcels)})}
    rights = set(session.execute(text(
        f"SELECT id FROM rights r WHERE {timetravel.valid_at('r')} AND parcel_id = ANY(:ps)"),
        {"at": at, "ps": list(parcels)}).scalars())
    return versions, rights


@pytest.mark.parametrize("at", ["2015-06-30", "2018-01-01", "2021-03-15", "2024-08-01", "2025-07-01", "2026-10-30"])
def test_valid_at_matches_a_replay_of_the_sample_journal(session, at):
    at = dt.date.fromisoformat(at)
    versions, rights, parcels = replay(session, at)
    assert parcels, "the sample journal carries effects"
    got_versions, got_rights = as_of(session, at, parcels)
    assert got_versions == versions
    assert got_rights == rights


def test_a_parcel_on_each_day_of_its_history(session):
    answer, _ = registry.register(session, first_registration_body(X, Y, date="2024-03-01"))
    code = code_of(answer)
    registry.register(session, {"kind": "land_use_change", "parcel": code, "expected_version": 1,
                                "effective_date": "2024-05-01", "land_use": "TMD"})
    pid = session.execute(text("SELECT id FROM parcels WHERE parcel_code = :c"), {"c": code}).scalar_one()
    seller = session.execute(text("SELECT party_id FROM rights WHERE parcel_id = :p"), {"p": pid}).scalar_one()
    registry.register(session, {"kind": "transfer", "parcel": code, "expected_version": 2,
                                "effective_date": "2024-05-01", "transferors": [{"party_id": seller}],
                                "transferees": [person(9)], "certificate": {"serial": serial()}})

    def state(day):
        at = dt.date.fromisoformat(day) if day else None
        where, params = timetravel.version_filter("v", at)
        exists = timetravel.parcel_existed_at("p") if at else "p.retired_on IS NULL"
        row = session.execute(text(
            f"SELECT v.version, v.land_use FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id "
            f"WHERE p.id = :p AND {where} AND {exists}"), {**params, "p": pid}).first()
        rights, rparams = timetravel.version_filter("r", at)
        holder = session.execute(text(f"SELECT party_id FROM rights r WHERE r.parcel_id = :p AND {rights}"),
                                 {**rparams, "p": pid}).scalar()
        return (tuple(row) if row else None), holder

    assert state("2024-02-29") == (None, None)
    assert state("2024-03-01") == ((1, "ODT"), seller)
    assert state("2024-04-30") == ((1, "ODT"), seller)
    # Both changes of 1 May: the day shows the end of it; version 2 lived for no whole day.
    assert state("2024-05-01")[0] == (3, "TMD") and state("2024-05-01")[1] != seller
    assert state(None)[0] == (3, "TMD")


@pytest.mark.parametrize("value", ["2024-13-01", "yesterday", "1900-01-01"])
def test_bad_at_is_refused(value):
    with pytest.raises(InvalidInput):
        timetravel.parse_at(value)


def test_at_parses_and_builds_safe_sql():
    assert timetravel.parse_at("2024-05-01") == dt.date(2024, 5, 1)
    assert timetravel.parse_at(None) is None and timetravel.parse_at("") is None
    assert timetravel.version_filter("v", None) == ("v.valid_to IS NULL", {})
    with pytest.raises(ValueError):
        timetravel.valid_at("v; DROP TABLE parcels")
