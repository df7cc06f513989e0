"""Bearer keys over HTTP: 401 for bad keys, 403 for missing scopes, rate limits (429 with
Retry-After), CORS, and the access-log row written by `record_personal_data_read`.

The endpoints don't exist yet, so a test-only blueprint stands in for them (never in the app).
"""

from __future__ import annotations

import time

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from api import create_app
from api.auth import current_principal, record_personal_data_read, require
from landdb import auth
from landdb.models import PersonalDataAccess

bp = Blueprint("authtest", __name__, url_prefix="/authtest")


@bp.get("/open")
def open_view():
    p = current_principal()
    return {"role": p.role, "key_id": p.key_id, "owners": auth.sees_personal_data(p)}


@bp.get("/rights")
@require(auth.RIGHTS_READ)
def rights_view():
    return {"rights": [], "role": current_principal().role}


@bp.get("/owners")
@require(auth.OWNERS_READ)
def owners_view():
    record_personal_data_read("GET /authtest/owners", parcel_ids=[11, 12], party_ids=[21])
    return {"owners": ["…"]}


@bp.post("/write")
@require(auth.TRANSACTIONS_WRITE)
def write_view():
    return {"ok": True}, 201


@bp.get("/headers")
def headers_view():
    resp = jsonify([])
    resp.headers["Link"] = '</authtest/headers?offset=100>; rel="next"'
    resp.headers["ETag"] = '"abc"'
    return resp


def make_client(settings, connection, **overrides):
    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    app = create_app(settings.with_(**overrides), testing=True, sessionmaker=maker)
    app.register_blueprint(bp)
    return app.test_client()


@pytest.fixture
def client(settings, connection):
    return make_client(settings, connection)


@pytest.fixture
def keys(session):
    """One plaintext key per kind of principal; flushed into the test's transaction."""
    made = {
        "officer": auth.create_key(session, "officer", "officer"),
        "admin": auth.create_key(session, "admin", "admin"),
        "bank": auth.create_key(session, "bank", "integration", [auth.RIGHTS_READ]),
        "notary": auth.create_key(session, "notary", "integration", [auth.OWNERS_READ]),
        "bare": auth.create_key(session, "bare", "integration", []),
    }
    session.commit()
    return {name: (plain, row.id) for name, (plain, row) in made.items()}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == status and resp.json["detail"]


def test_no_header_is_the_public_principal(client):
    resp = client.get("/authtest/open")
    assert resp.json == {"role": "public", "key_id": None, "owners": False}


def test_a_valid_key_is_its_principal(client, keys):
    plain, key_id = keys["officer"]
    assert client.get("/authtest/open", headers=bearer(plain)).json == {
        "role": "officer", "key_id": key_id, "owners": True,
    }


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "ldb_" + "a" * 40, "Token ldb_" + "a" * 40,
     "Bearer ldb_" + "a" * 40, "Bearer not-a-key"],
)
def test_bad_headers_and_unknown_keys_get_401(client, header):
    resp = client.get("/authtest/open", headers={"Authorization": header})
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_and_revoked_keys_cannot_be_told_apart(client, keys, session):
    plain, key_id = keys["bank"]
    auth.revoke_key(session, key_id)
    session.commit()
    revoked = client.get("/authtest/open", headers=bearer(plain))
    unknown = client.get("/authtest/open", headers=bearer("ldb_" + "Z" * 40))
    assert_problem(revoked, 401)
    assert revoked.json == unknown.json
    assert revoked.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_revocation_takes_effect_on_the_next_request(client, keys, session):
    plain, key_id = keys["officer"]
    assert client.get("/authtest/open", headers=bearer(plain)).status_code == 200
    auth.revoke_key(session, key_id)
    session.commit()
    assert_problem(client.get("/authtest/open", headers=bearer(plain)), 401)


def test_scopes(client, keys):
    def status(path, who, method="get"):
        headers = bearer(keys[who][0]) if who != "public" else {}
        return getattr(client, method)(path, headers=headers).status_code

    assert [status("/authtest/rights", w) for w in ("public", "bare", "bank", "notary", "officer", "admin")] == [
        401, 403, 200, 200, 200, 200,
    ]
    assert [status("/authtest/owners", w) for w in ("public", "bare", "bank", "notary", "officer", "admin")] == [
        401, 403, 403, 200, 200, 200,
    ]
    assert [status("/authtest/write", w, "post") for w in ("public", "bank", "notary", "officer")] == [
        401, 403, 403, 201,
    ]


def test_denials_are_problems(client, keys):
    resp = client.get("/authtest/owners")
    assert_problem(resp, 401)
    assert "owners:read" in resp.json["detail"] and "WWW-Authenticate" in resp.headers
    resp = client.get("/authtest/owners", headers=bearer(keys["bank"][0]))
    assert_problem(resp, 403)
    assert "owners:read" in resp.json["detail"]


def test_personal_data_reads_are_logged_and_committed(client, keys, session):
    plain, key_id = keys["notary"]
    before = session.scalars(select(PersonalDataAccess.id)).all()
    assert client.get("/authtest/owners", headers=bearer(plain)).status_code == 200
    assert client.get("/authtest/owners", headers=bearer(keys["officer"][0])).status_code == 200
    # Refused requests log nothing.
    assert client.get("/authtest/owners", headers=bearer(keys["bank"][0])).status_code == 403
    rows = session.scalars(
        select(PersonalDataAccess).where(PersonalDataAccess.id.not_in(before)).order_by(PersonalDataAccess.id)
    ).all()
    assert [(r.api_key_id, r.role) for r in rows] == [(key_id, "integration"), (keys["officer"][1], "officer")]
    assert all(r.endpoint == "GET /authtest/owners" for r in rows)
    assert all((r.parcel_ids, r.party_ids) == ([11, 12], [21]) for r in rows)
    assert all(str(r.client_addr) == "127.0.0.1" and r.at is not None for r in rows)


def test_healthz_ignores_keys_and_limits(settings, connection):
    client = make_client(settings, connection, rate_limit_public="1/minute")
    for _ in range(3):
        resp = client.get("/healthz", headers={"Authorization": "Bearer nonsense"})
        assert resp.status_code == 200
        assert "X-RateLimit-Limit" not in resp.headers


def test_public_rate_limit_is_per_address(settings, connection):
    client = make_client(settings, connection, rate_limit_public="2/minute")
    a = {"REMOTE_ADDR": "10.1.1.1"}
    b = {"REMOTE_ADDR": "10.1.1.2"}
    first = client.get("/authtest/open", environ_base=a)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    assert "Retry-After" not in first.headers
    assert client.get("/authtest/open", environ_base=a).status_code == 200
    resp = client.get("/authtest/open", environ_base=a)
    assert_problem(resp, 429)
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert client.get("/authtest/open", environ_base=b).status_code == 200


def test_retry_after_is_honest(settings, connection):
    client = make_client(settings, connection, rate_limit_public="2/second")
    assert [client.get("/authtest/open").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/authtest/open")
    assert_problem(refused, 429)
    wait = int(refused.headers["Retry-After"])
    assert wait == 1
    time.sleep(wait)
    assert client.get("/authtest/open").status_code == 200


def test_a_strategy_the_storage_lacks_is_refused_at_start(settings, connection):
    with pytest.raises(ValueError, match="LANDDB_RATELIMIT_STRATEGY"):
        make_client(settings, connection, ratelimit_strategy="leaky-bucket")


def test_bad_keys_count_against_the_address(settings, connection):
    client = make_client(settings, connection, rate_limit_public="2/minute")
    bad = {"Authorization": "Bearer ldb_" + "q" * 40}
    assert client.get("/authtest/open", headers=bad).status_code == 401
    assert client.get("/authtest/open", headers=bad).status_code == 401
    assert_problem(client.get("/authtest/open", headers=bad), 429)


def test_key_rate_limit_is_per_key(settings, connection, keys):
    client = make_client(settings, connection, rate_limit="3/minute", rate_limit_public="1/minute")
    officer, bank = bearer(keys["officer"][0]), bearer(keys["bank"][0])
    for _ in range(3):  # more than the public limit: keyed requests don't count per address
        assert client.get("/authtest/open", headers=officer).status_code == 200
    resp = client.get("/authtest/open", headers=officer)
    assert_problem(resp, 429)
    assert int(resp.headers["Retry-After"]) >= 1
    assert "API key" in resp.json["detail"]
    assert client.get("/authtest/open", headers=bank).status_code == 200  # another key, own budget
    assert client.get("/authtest/open").status_code == 200  # the address's own budget


def test_several_limits_show_the_tightest_window(settings, connection):
    client = make_client(settings, connection, rate_limit_public="5/hour;2/minute")
    resp = client.get("/authtest/open")
    assert resp.headers["X-RateLimit-Limit"] == "2" and resp.headers["X-RateLimit-Remaining"] == "1"
    assert client.get("/authtest/open").status_code == 200
    resp = client.get("/authtest/open")
    assert_problem(resp, 429)
    assert "2 per 1 minute" in resp.json["detail"]


def test_behind_a_proxy_the_forwarded_address_is_counted_and_logged(settings, connection, keys, session):
    client = make_client(settings, connection, rate_limit_public="1/minute", proxy_count=1)
    via = lambda addr: {"X-Forwarded-For": addr}  # noqa: E731
    assert client.get("/authtest/open", headers=via("203.0.113.7")).status_code == 200
    assert client.get("/authtest/open", headers=via("203.0.113.8")).status_code == 200
    assert_problem(client.get("/authtest/open", headers=via("203.0.113.7")), 429)
    plain, key_id = keys["officer"]
    assert client.get("/authtest/owners", headers={**bearer(plain), **via("198.51.100.9")}).status_code == 200
    logged = session.scalars(select(PersonalDataAccess).where(PersonalDataAccess.api_key_id == key_id)).one()
    assert str(logged.client_addr) == "198.51.100.9"
    # Without the setting a client cannot choose its own address.
    plain_client = make_client(settings, connection, rate_limit_public="1/minute")
    assert plain_client.get("/authtest/open", headers=via("203.0.113.7")).status_code == 200
    assert_problem(plain_client.get("/authtest/open", headers=via("203.0.113.9")), 429)


def test_empty_limits_switch_rate_limiting_off(settings, connection):
    client = make_client(settings, connection, rate_limit="", rate_limit_public="")
    for _ in range(5):
        resp = client.get("/authtest/open")
        assert resp.status_code == 200 and "X-RateLimit-Limit" not in resp.headers


def test_a_malformed_limit_is_refused_at_start(settings, connection):
    with pytest.raises(ValueError, match="LANDDB_RATE_LIMIT"):
        make_client(settings, connection, rate_limit="lots")


ORIGIN = "https://map.halong.example"


def test_cors_preflight_for_an_allowed_origin(settings, connection):
    client = make_client(settings, connection, cors_origins=f"{ORIGIN}, https://other.example",
                         rate_limit_public="1/minute")
    for _ in range(3):  # preflights are neither authenticated nor counted
        resp = client.options("/authtest/owners", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        })
        assert resp.status_code == 204
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        assert "GET" in resp.headers["Access-Control-Allow-Methods"]
        assert "Origin" in resp.headers["Vary"]


def test_cors_exposes_the_headers_browsers_read(settings, connection):
    client = make_client(settings, connection, cors_origins=ORIGIN, rate_limit_public="1/minute")
    resp = client.get("/authtest/headers", headers={"Origin": ORIGIN})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Link", "ETag", "Location", "Retry-After", "X-RateLimit-Limit",
            "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= exposed
    # Errors carry CORS headers too, so a browser script can read the 429 and its Retry-After.
    limited = client.get("/authtest/headers", headers={"Origin": ORIGIN})
    assert limited.status_code == 429 and limited.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_ignores_other_origins_and_is_off_by_default(settings, connection):
    client = make_client(settings, connection, cors_origins=ORIGIN)
    resp = client.get("/authtest/open", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    pre = client.options("/authtest/open", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in pre.headers
    default = make_client(settings, connection)
    assert "Access-Control-Allow-Origin" not in default.get("/authtest/open", headers={"Origin": ORIGIN}).headers


def test_cors_any_origin(settings, connection):
    client = make_client(settings, connection, cors_origins="*")
    resp = client.get("/authtest/open", headers={"Origin": "https://anyone.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
