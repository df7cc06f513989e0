"""API keys are stored hashed, authenticate to the right principal, and revoke; scopes and the
personal-data access log."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from landdb import auth
from landdb.errors import InvalidInput, NotFound, Unauthorized
from landdb.models import ApiKey, PersonalDataAccess


def test_key_shape_and_only_its_hash_is_stored(session):
    plaintext, row = auth.create_key(session, "tax office", "integration", [auth.PARCELS_READ])
    assert plaintext.startswith("ldb_") and len(plaintext) == 44
    assert row.key_hash == auth.hash_key(plaintext) and len(row.key_hash) == 64
    assert row.prefix == plaintext[:12]
    # The plaintext (and anything past the display prefix) is nowhere in the database.
    dump = session.execute(text("SELECT row_to_json(k)::text FROM api_keys k")).scalars().all()
    assert dump and not any(plaintext in d or plaintext[12:] in d for d in dump)


def test_keys_are_unique(session):
    keys = {auth.create_key(session, f"k{i}", "officer")[0] for i in range(20)}
    assert len(keys) == 20


def test_authenticate_returns_the_keys_principal(session):
    plaintext, row = auth.create_key(session, "bank", "integration", [auth.RIGHTS_READ, auth.PARCELS_READ])
    p = auth.authenticate(session, plaintext)
    assert p == auth.Principal(row.id, "bank", "integration", frozenset({"parcels:read", "rights:read"}))
    assert row.scopes == ["parcels:read", "rights:read"]  # stored in the canonical order


@pytest.mark.parametrize("token", ["", "ldb_", "nope", "ldb_" + "x" * 39, "ldb_" + "x" * 40, "ldb_" + "!" * 40])
def test_unknown_or_malformed_keys_are_refused_alike(session, token):
    with pytest.raises(Unauthorized) as err:
        auth.authenticate(session, token)
    assert err.value.message == auth.BAD_KEY_MESSAGE


def test_revoked_key_is_refused_with_the_same_message(session):
    plaintext, row = auth.create_key(session, "old", "officer")
    revoked = auth.revoke_key(session, row.prefix)
    assert revoked.id == row.id and revoked.revoked_at is not None
    with pytest.raises(Unauthorized) as err:
        auth.authenticate(session, plaintext)
    assert err.value.message == auth.BAD_KEY_MESSAGE
    first = revoked.revoked_at
    assert auth.revoke_key(session, str(row.id)).revoked_at == first  # idempotent


def test_find_key_by_id_prefix_or_whole_key(session):
    plaintext, row = auth.create_key(session, "portal", "integration", [])
    assert auth.find_key(session, row.id).id == row.id
    assert auth.find_key(session, row.prefix).id == row.id
    assert auth.find_key(session, plaintext).id == row.id
    with pytest.raises(NotFound):
        auth.find_key(session, "999999")
    with pytest.raises(NotFound):
        auth.find_key(session, plaintext[:11] + ("A" if plaintext[11] != "A" else "B"))
    with pytest.raises(NotFound):
        auth.find_key(session, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
    with pytest.raises(InvalidInput):
        auth.find_key(session, "portal")


@pytest.mark.parametrize(
    "name, role, scopes",
    [
        ("", "officer", []),
        ("x", "public", []),
        ("x", "root", []),
        ("x", "integration", ["owners:write"]),
        ("x", "officer", ["owners:read"]),
    ],
)
def test_create_key_rejects_bad_input(session, name, role, scopes):
    with pytest.raises(InvalidInput):
        auth.create_key(session, name, role, scopes)


def test_list_keys(session):
    _, a = auth.create_key(session, "a", "officer")
    _, b = auth.create_key(session, "b", "admin")
    auth.revoke_key(session, a.id)
    ids = [k.id for k in auth.list_keys(session)]
    assert ids.index(a.id) < ids.index(b.id)
    assert a.id not in [k.id for k in auth.list_keys(session, include_revoked=False)]


def test_roles_and_scopes():
    public = auth.PUBLIC_PRINCIPAL
    officer = auth.Principal(1, "o", "officer")
    admin = auth.Principal(2, "a", "admin")
    bank = auth.Principal(3, "bank", "integration", frozenset({"rights:read"}))
    notary = auth.Principal(4, "notary", "integration", frozenset({"owners:read"}))
    bare = auth.Principal(5, "bare", "integration")
    for scope in auth.SCOPES:
        assert officer.can(scope) and admin.can(scope)
    assert public.is_public and not officer.is_public
    assert public.can("parcels:read") and not any(public.can(s) for s in auth.SCOPES[1:])
    assert bank.can("parcels:read") and bank.can("rights:read")
    assert not bank.can("owners:read") and not bank.can("transactions:write")
    assert notary.can("owners:read") and notary.can("rights:read")  # owners imply rights
    assert bare.can("parcels:read") and not bare.can("rights:read")
    assert [auth.sees_personal_data(p) for p in (public, officer, admin, bank, notary, bare)] == [
        False, True, True, False, True, False,
    ]


def test_log_personal_data_access_writes_one_row(session):
    plaintext, row = auth.create_key(session, "officer", "officer")
    principal = auth.authenticate(session, plaintext)
    entry = auth.log_personal_data_access(
        session, principal, "GET /parties", parcel_ids=[3, 1, 3], party_ids=(7,), client_addr="10.0.0.5"
    )
    got = session.scalars(select(PersonalDataAccess).where(PersonalDataAccess.id == entry.id)).one()
    assert (got.api_key_id, got.role, got.endpoint) == (row.id, "officer", "GET /parties")
    assert (got.parcel_ids, got.party_ids, str(got.client_addr)) == ([1, 3], [7], "10.0.0.5")
    assert got.at is not None
    assert [e.id for e in auth.access_log(session, key_id=row.id)] == [entry.id]


def test_log_keeps_the_row_when_the_address_is_not_an_ip(session):
    entry = auth.log_personal_data_access(session, auth.PUBLIC_PRINCIPAL, "GET /x", client_addr="/run/gunicorn.sock")
    assert entry.client_addr is None and entry.api_key_id is None and entry.role == "public"


def test_api_keys_table_has_no_plaintext_column(session):
    assert set(ApiKey.__table__.columns.keys()) == {
        "id", "name", "prefix", "key_hash", "role", "scopes", "created_at", "revoked_at",
    }


def test_settings_read_rate_limits_and_cors_from_the_environment():
    from landdb.config import Settings

    s = Settings.from_env({
        "DATABASE_URL": "postgresql://x@/y", "LANDDB_RATE_LIMIT": "5/second",
        "LANDDB_RATE_LIMIT_PUBLIC": "", "LANDDB_RATELIMIT_STORAGE_URI": "redis://cache:6379",
        "LANDDB_CORS_ORIGINS": "https://a.example,https://b.example",
        "LANDDB_DATABASE_URL": "postgresql://ignored@/z",
    })
    assert (s.rate_limit, s.rate_limit_public, s.ratelimit_storage_uri) == ("5/second", "", "redis://cache:6379")
    assert s.cors_origins == "https://a.example,https://b.example"
    assert s.database_url == "postgresql://x@/y"
    assert Settings.from_env({"DATABASE_URL": "postgresql://x@/y"}).rate_limit == "600/minute"
