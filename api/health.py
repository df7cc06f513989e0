"""GET /healthz (the primary and the replica, with its lag) and GET /readyz (for load balancers)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from landdb.db import replica_lag

from .db import databases

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def _answers(engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        return True
    except DBAPIError as exc:
        log.warning("health check: database unavailable: %s", exc.__class__.__name__)
        return False


def replica_status() -> dict | None:
    """The replica's status and lag (None when no replica is configured)."""
    dbs = databases()
    if dbs.replica_engine is None:
        return None
    try:
        lag = replica_lag(dbs.replica_engine, dbs.primary_engine)
    except DBAPIError as exc:
        log.warning("health check: replica unavailable: %s", exc.__class__.__name__)
        return {"status": "unavailable"}
    return {"status": "ok", **lag}


@bp.get("/healthz")
def healthz():
    """Each database on its own: `primary` and, when configured, `replica` (with `lag_bytes`
    and `lag_seconds`). 200 when every configured database answers, else 503 ("degraded")."""
    primary = "ok" if _answers(databases().primary_engine) else "unavailable"
    body = {"status": "ok", "database": primary, "primary": {"status": primary}}
    replica = replica_status()
    if replica is not None:
        body["replica"] = replica
    healthy = primary == "ok" and (replica is None or replica["status"] == "ok")
    if not healthy:
        body["status"] = "degraded"
    return jsonify(body), (200 if healthy else 503)


@bp.get("/readyz")
def readyz():
    """200 when this instance can serve reads (the primary or the replica answers), else 503.
    Registrations need the primary: they answer 503 with Retry-After while it is away."""
    dbs = databases()
    reads_from = [name for name, engine in (("replica", dbs.replica_engine), ("primary", dbs.primary_engine))
                  if engine is not None and _answers(engine)]
    if not reads_from:
        return jsonify({"status": "unavailable"}), 503
    return jsonify({"status": "ready", "databases": reads_from})
