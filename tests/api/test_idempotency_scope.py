"""Idempotency-Key is scoped to the API key that sent it (as the IETF draft and Stripe do):
another key's retry never replays someone else's answer, nor learns that the key was used."""

from __future__ import annotations

from sqlalchemy import text

from landdb import auth

from ..registry_helpers import X0, Y0, first_registration_body
from .rest.conftest import bearer, rest_app

X, Y = X0 + 3300, Y0 + 3100


def test_an_idempotency_key_belongs_to_the_api_key_that_used_it(settings, connection, session):
    api = rest_app(settings, connection).test_client()
    mine, _ = auth.create_key(session, "office A", "officer")
    theirs, _ = auth.create_key(session, "office B", "officer")
    session.commit()
    body = first_registration_body(X, Y, sheet=884)
    first = api.post("/api/v1/transactions", json=body, headers={**bearer(mine), "Idempotency-Key": "order-42"})
    assert first.status_code == 201, first.json
    # The same key and body from the same API key: the first answer again.
    again = api.post("/api/v1/transactions", json=body, headers={**bearer(mine), "Idempotency-Key": "order-42"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    # Another API key with the same Idempotency-Key and body: a request of its own, not a replay
    # (here refused, as the parcel it describes is now registered).
    copy = api.post("/api/v1/transactions", json=body, headers={**bearer(theirs), "Idempotency-Key": "order-42"})
    assert "Idempotent-Replayed" not in copy.headers and copy.json.get("id") != first.json["id"]
    assert copy.status_code == 422, copy.json
    # ... and with another body it registers, instead of learning that the key was used.
    other = api.post("/api/v1/transactions", json=first_registration_body(X, Y + 40, sheet=884),
                     headers={**bearer(theirs), "Idempotency-Key": "order-42"})
    assert other.status_code == 201, other.json
    assert "Idempotent-Replayed" not in other.headers
    keys = session.execute(text("SELECT idempotency_key FROM transactions WHERE id = ANY(:ids)"),
                           {"ids": [first.json["id"], other.json["id"]]}).scalars().all()
    assert len(set(keys)) == 2
