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

    def __init__(self, *, root: Path | None = None) -> None:
        self.bin = _pg_bin()
        self.root = root or Path(tempfile.mkdtemp(prefix="landdb-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self._as_pg: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            shutil.chown(self.root, "postgres", "postgres")
            self._as_pg = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_pg, *args], check=True, capture_output=True, text=True)

    def start(self, options: str = "") -> "ThrowawayCluster":
        """initdb, then start the server; `options` are more `-c name=value` settings."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "landdb", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8")
        self.options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            f"-c full_page_writes=off -c max_connections=120 -c shared_buffers=256MB {options}"
        )
        self.restart()
        return self

    def restart(self) -> None:
        """Start the server again after `halt` (or for the first time)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.root / "log"),
                  "-o", self.options, "start")

    def halt(self) -> None:
        """Stop the server (fast shutdown: connections are closed), keeping its data."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg2://landdb@/{dbname}?host={self.socket_dir}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class StreamingReplica(ThrowawayCluster):
    """A hot standby of `primary`: `pg_basebackup -R` (which writes primary_conninfo and
    standby.signal), then started on its own socket, streaming from the primary."""

    def __init__(self, primary: ThrowawayCluster) -> None:
        super().__init__()
        self.primary = primary

    def start(self, options: str = "") -> "StreamingReplica":
        self._run(str(self.bin / "pg_basebackup"), "-h", str(self.primary.socket_dir), "-U", "landdb",
                  "-D", str(self.data), "-R", "-X", "stream", "--checkpoint=fast")
        # max_connections and the like may not be lower than on the primary.
        self.options = (f"-k {self.socket_dir} -c listen_addresses='' -c hot_standby=on -c fsync=off "
                        f"-c max_connections=120 -c shared_buffers=256MB {options}")
        self.restart()
        return self
