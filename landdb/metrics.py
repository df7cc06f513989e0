"""The service's Prometheus metrics (prometheus_client), defined once for the core and the web layer.

Under several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty directory, before the
processes start): each process then writes its values there and /metrics adds them up.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "landdb_http_requests", "HTTP requests answered, by method, route (the URL rule) and status",
    ["method", "route", "status"])
LATENCY = Histogram(
    "landdb_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer (streamed bodies included)",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
POOL_IN_USE = Gauge(
    "landdb_db_pool_connections_in_use", "Pooled database connections checked out, by database and pool",
    ["database", "pool"], multiprocess_mode="livesum")
STATEMENT_TIMEOUTS = Counter(
    "landdb_db_statement_timeouts", "Statements cancelled by the statement timeout")
ROUTED = Counter(
    "landdb_db_routed_requests",
    "Requests by the database that served them and why: read, write, token_wait (the replica had"
    " not replayed the client's consistency token in time), replica_down, replica_conflict (a read"
    " the replica cancelled for a conflict with recovery, run again), no_replica",
    ["database", "reason"])
REPLICA_FAILURES = Counter(
    "landdb_replica_failures", "Times the replica could not be reached and reads fell back to the primary")
TOKEN_WAIT = Histogram(
    "landdb_consistency_token_wait_seconds",
    "Time spent waiting for the replica to replay a client's consistency token",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
REGISTRATIONS = Counter(
    "landdb_registrations", "Registration requests (POST /api/v1/transactions, dry runs aside) by kind and status",
    ["kind", "status"])
RATE_LIMITED = Counter(
    "landdb_rate_limit_rejections", "Requests refused with 429, by the limit they ran into (key, address, wfs)",
    ["limit"])
