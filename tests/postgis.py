"""A throwaway PostGIS server for the test suite: initdb → pg_ctl on a private socket.

Set LANDDB_TEST_DATABASE_URL to use an existing server instead (its user must be able to
create databases and the postgis extension).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError(
        "no PostgreSQL binaries found: run `scripts/install-system.sh postgis` (make test does) "
        "or set LANDDB_TEST_DATABASE_URL"
    )


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary directory, reachable only through a Unix socket."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="landdb-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self._as_pg: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            shutil.chown(self.root, "postgres", "postgres")
            self._as_pg = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_pg, *args], check=True, capture_output=True, text=True)

    def start(self) -> "ThrowawayCluster":
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "landdb", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8")
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=120 -c shared_buffers=256MB"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.root / "log"),
                  "-o", options, "start")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg2://landdb@/{dbname}?host={self.socket_dir}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
