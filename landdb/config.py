"""Settings read from the environment (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

#: Where `make run` writes the URL of the database it started, so every command run in the
#: same checkout reaches the same database with no extra settings.
LOCAL_URL_FILE = Path(".landdb") / "database_url"


def _local_database_url() -> str | None:
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / LOCAL_URL_FILE
        if candidate.is_file():
            url = candidate.read_text().strip()
            if url:
                return url
    return None


@dataclass(frozen=True)
class Settings:
    """Everything the core and the web app can be configured with."""

    database_url: str = ""
    #: read-only replica for read traffic; empty means use `database_url`.
    read_database_url: str = ""
    statement_timeout_ms: int = 15_000
    pool_size: int = 5
    max_overflow: int = 5
    #: hard cap on any page size asked for by a client.
    max_page_size: int = 1000
    default_page_size: int = 100
    #: numberMatched (WFS, REST, OGC API) is counted up to this many features and "unknown" past
    #: it (a short last page is never counted: startIndex + numberReturned). High enough that a
    #: whole city's layer is counted exactly: GDAL 3.6 reads a hits answer of "unknown" as 0
    #: features. `LANDDB_WFS_COUNT_LIMIT` is its older name.
    count_limit: int = 1_000_000
    #: rate limit for requests with an API key, counted per key ('600/minute'; several joined
    #: by ';', e.g. '20/second;600/minute'); empty means no limit.
    rate_limit: str = "600/minute"
    #: rate limit for requests without a (valid) key, counted per client address.
    rate_limit_public: str = "120/minute"
    #: rate limit for keyless WFS requests, per client address: GIS clients page through layers
    #: and re-request on every pan, so they need more than the JSON API's public limit.
    rate_limit_wfs: str = "3000/minute"
    #: where the counters live: `memory://` counts per process; several processes or hosts need a
    #: shared store (`redis://host:6379`, `memcached://host:11211`) for exact limits.
    ratelimit_storage_uri: str = "memory://"
    #: `moving-window` counts exactly and makes Retry-After exact (memory, redis); memcached
    #: offers `fixed-window` and `sliding-window-counter`.
    ratelimit_strategy: str = "moving-window"
    #: browser origins allowed by CORS, comma-separated (`*` for any); empty allows none.
    cors_origins: str = ""
    #: how many reverse proxies (load balancers) stand before the app and append to
    #: X-Forwarded-For; 0 trusts no forwarding header. The client address that rate limits and
    #: the personal-data access log use comes from it.
    proxy_count: int = 0
    #: how long a read carrying a consistency token waits for the replica to replay it before
    #: the primary serves it instead.
    replica_wait_ms: int = 250
    #: the replica is asked how far it has replayed (and whether it answers) at most this often
    #: per process; after a failure it is left alone for `replica_retry_ms`.
    replica_probe_ms: int = 1000
    replica_retry_ms: int = 5000
    #: seconds to wait for a new database connection (0: the driver's default, no limit).
    connect_timeout_s: int = 3
    #: `json`: one JSON object per log line (access and error logs, with the request id);
    #: `text`: Python's plain format. `access_log` 0 turns the per-request line off.
    log_format: str = "json"
    access_log: int = 1
    #: extra keys for the app (e.g. rate limits); kept as strings.
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: os._Environ | dict | None = None) -> "Settings":
        """Build settings from `LANDDB_*` variables and `DATABASE_URL`."""
        env = os.environ if environ is None else environ
        url = env.get("DATABASE_URL") or _local_database_url() or ""
        values: dict = {"database_url": url, "read_database_url": env.get("READ_DATABASE_URL", "")}
        for f in fields(cls):
            key = "LANDDB_" + f.name.upper()
            if key in env and f.type in ("int", int):
                values[f.name] = int(env[key])
            elif key in env and f.type in ("str", str) and f.name not in values:
                values[f.name] = env[key]
        if "LANDDB_WFS_COUNT_LIMIT" in env and "LANDDB_COUNT_LIMIT" not in env:
            values["count_limit"] = int(env["LANDDB_WFS_COUNT_LIMIT"])
        values["extra"] = {k[len("LANDDB_"):].lower(): v for k, v in env.items() if k.startswith("LANDDB_")}
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)
