"""GET /healthz: is the process up, and does PostGIS answer?"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .db import get_session

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    try:
        get_session().execute(text("SELECT postgis_lib_version()")).scalar_one()
        ok = True
    except SQLAlchemyError as exc:
        log.warning("health check: database unavailable: %s", exc.__class__.__name__)
        ok = False
    body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unavailable"}
    return jsonify(body), (200 if ok else 503)
