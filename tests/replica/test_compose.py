"""docker-compose.yml holds a primary, a streaming replica, Redis, two api instances serving as
landdb_app and a proxy in front. No Docker engine runs here: its structure is checked instead
(and `docker compose config` where the compose plugin is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_their_roles():
    services = compose()["services"]
    assert {"db", "replica", "redis", "migrate", "api1", "api2", "proxy"} <= set(services)
    assert "wal_level=replica" in services["db"]["command"]
    for name in ("api1", "api2"):
        env = services[name]["environment"]
        primary, replica = make_url(env["DATABASE_URL"]), make_url(env["READ_DATABASE_URL"])
        # The app never connects as the tables' owner.
        assert (primary.username, primary.host) == ("landdb_app", "db")
        assert (replica.username, replica.host) == ("landdb_app", "replica")
        assert env["LANDDB_RATELIMIT_STORAGE_URI"].startswith("redis://redis:")
        assert env["LANDDB_PROXY_COUNT"] == "1"
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
    assert services["api1"]["environment"]["LANDDB_SECRET_KEY"] == services["api2"]["environment"]["LANDDB_SECRET_KEY"]
    assert "grant-app-role landdb_app" in services["migrate"]["command"]
    assert make_url(services["migrate"]["environment"]["DATABASE_URL"]).username == "landdb"


def test_mounted_files_exist_and_do_what_they_say():
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
    replica_script = (ROOT / "docker/replica-entrypoint.sh").read_text()
    assert "pg_basebackup" in replica_script and " -R " in replica_script and "hot_standby=on" in replica_script
    init = (ROOT / "docker/primary-init.sh").read_text()
    assert "REPLICATION LOGIN" in init and "host replication replicator" in init
    nginx = (ROOT / "docker/nginx.conf").read_text()
    assert "server api1:8000" in nginx and "server api2:8000" in nginx and "X-Request-Id $request_id" in nginx
    for script in ("docker/replica-entrypoint.sh", "docker/primary-init.sh"):
        subprocess.run(["bash", "-n", str(ROOT / script)], check=True)
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], check=True)
