"""GET /metrics in the Prometheus text format, and the per-request counts and timings behind it.

Metrics are defined once in `landdb.metrics`; here they are moved by each request (route and
status, latency, registrations by kind) and, at scrape time, completed with what must be asked
of the databases (replica lag in bytes and seconds, which database answers).
"""

from __future__ import annotations

import os
import re
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from landdb import metrics
from landdb.registry import KINDS

from .db import databases

bp = Blueprint("metrics", __name__)
REGISTRATION_ENDPOINT = "transactions.post_transaction"
_YES = {"true", "1", "yes"}  # a dry run (?dry_run=true) registers nothing: not counted


class DatabaseCollector:
    """At scrape time: whether each database answers, and the replica's lag."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from .health import _answers, replica_status

        up = GaugeMetricFamily("landdb_database_up", "1 when the database answers this instance", labels=["database"])
        with self.app.app_context():
            up.add_metric(["primary"], 1.0 if _answers(databases().primary_engine) else 0.0)
            replica = replica_status()
        if replica is None:
            yield up
            return
        up.add_metric(["replica"], 1.0 if replica["status"] == "ok" else 0.0)
        yield up
        if replica.get("lag_bytes") is not None:
            yield GaugeMetricFamily("landdb_replica_lag_bytes",
                                    "WAL bytes the primary has written that the replica has not replayed",
                                    value=float(replica["lag_bytes"]))
        if replica.get("lag_seconds") is not None:
            yield GaugeMetricFamily("landdb_replica_lag_seconds",
                                    "Age of the last replayed transaction while the replica has WAL left to"
                                    " replay (0 when it has replayed all it received)",
                                    value=float(replica["lag_seconds"]))


@bp.get("/metrics")
def scrape():
    """Every metric of this instance (all its worker processes under PROMETHEUS_MULTIPROC_DIR)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    per_scrape = CollectorRegistry()
    per_scrape.register(DatabaseCollector(current_app._get_current_object()))
    body = generate_latest(registry) + generate_latest(per_scrape)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def _started() -> None:
    g.started = time.perf_counter()


def route_pattern() -> str:
    """The request's route as people write it, for labels and logs."""
    rule = request.url_rule
    # The route as people write it: `<parcel_code>`, not `<parcel_code:parcel_code>` or `<int(max=…):tx_id>`.
    return _CONVERTER.sub(r"<\1>", rule.rule) if rule is not None else "unmatched"


def _count(resp: Response) -> Response:
    route, method = route_pattern(), request.method
    metrics.REQUESTS.labels(method, route, str(resp.status_code)).inc()
    if request.endpoint == REGISTRATION_ENDPOINT and request.args.get("dry_run", "").strip().lower() not in _YES:
        # The body as api/guards.py read and checked it (None when it was refused): parsing it
        # again here could recurse on a body the guard turned away for its depth.
        body = g.get("json_body")
        kind = body.get("kind") if isinstance(body, dict) else None
        metrics.REGISTRATIONS.labels(kind if isinstance(kind, str) and kind in KINDS else "unknown",
                                     str(resp.status_code)).inc()
    started = g.get("started")
    if started is not None:
        latency = metrics.LATENCY.labels(method, route)
        # Streamed answers end when the server closes them, not when the view returns.
        resp.call_on_close(lambda: latency.observe(time.perf_counter() - started))
    return resp


def init_app(app: Flask) -> None:
    app.before_request(_started)
    app.after_request(_count)
    app.register_blueprint(bp)
