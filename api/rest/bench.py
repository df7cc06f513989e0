"""Bench-only routes (LANDDB_BENCH_ROUTES=1, off by default): constant bodies of a given size
through the same app server, the HTTP ceiling that bench/bench_rest.py compares against."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, Response, request

bp = Blueprint("rest_bench", __name__)


@lru_cache(maxsize=32)
def _body(size: int) -> bytes:
    head = b'{"type":"FeatureCollection","features":[],"padding":"'
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


@bp.get("/bench/constant")
def constant():
    size = min(max(int(request.args.get("size", "1000")), 0), 50_000_000)
    return Response(_body(size), mimetype="application/geo+json")
