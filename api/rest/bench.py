"""Bench-only routes (LANDDB_BENCH_ROUTES=1, off by default) that bench/bench_rest.py compares against:
a constant body of a given size through the same app server (the HTTP ceiling), and the least a
database-backed answer can cost in this app (the framework floor)."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, Response, current_app, request

from landdb import parcels, prepared
from landdb.db import get_engine

from .render import GEOJSON

bp = Blueprint("rest_bench", __name__)


@lru_cache(maxsize=32)
def _body(size: int) -> bytes:
    head = b'{"type":"FeatureCollection","features":[],"padding":"'
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


@bp.get("/bench/constant")
def constant():
    size = min(max(int(request.args.get("size", "1000")), 0), 50_000_000)
    return Response(_body(size), mimetype=GEOJSON)


@bp.get("/bench/floor/<code>")
def floor(code: str):
    """`/parcels/{code}`'s statement and answer with nothing else: no parameter parsing, no
    session, no headers of our own — a pooled autocommit connection, the prepared statement, the
    text. What the real route costs above this is the framework around it."""
    conn = get_engine(current_app.config["LANDDB"], autocommit=True).raw_connection()
    try:
        rows = prepared.execute(conn, parcels._get_sql(False, 4326), {"code": code})
    finally:
        conn.close()
    return Response(rows[0][0], mimetype=GEOJSON) if rows else Response(status=404)
