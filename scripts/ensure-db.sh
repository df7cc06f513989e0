#!/usr/bin/env bash
# Make sure a PostGIS server is running for `make run` and write its URL to .landdb/database_url.
# Order of preference: $DATABASE_URL; `docker compose up -d db` when a Docker daemon answers;
# a cluster under .landdb/ started from the machine's PostgreSQL binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.landdb
mkdir -p "$state"

if [ -n "${DATABASE_URL:-}" ]; then
  printf '%s\n' "$DATABASE_URL" > "$state/database_url"
  exit 0
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker compose up -d --wait db >&2
  printf 'postgresql://landdb:landdb@127.0.0.1:%s/landdb\n' "${LANDDB_DB_PORT:-5432}" > "$state/database_url"
  exit 0
fi

scripts/install-system.sh postgis
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
port=${LANDDB_DB_PORT:-54329}
data="$PWD/$state/pgdata"
sock="$PWD/$state/run"

as_pg=()
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
  if ! runuser -u postgres -- test -x "$PWD"; then
    data="/var/lib/landdb/$(printf '%s' "$PWD" | sha1sum | cut -c1-12)/pgdata"
    sock="$(dirname "$data")/run"
  fi
  as_pg=(runuser -u postgres --)
fi
mkdir -p "$data" "$sock"
log="$(dirname "$data")/postgres.log"; touch "$log"
[ "$(id -u)" = 0 ] && chown postgres: "$data" "$sock" "$log" && chmod 700 "$data"

if [ ! -f "$data/PG_VERSION" ]; then
  "${as_pg[@]}" "$pgbin/initdb" -D "$data" -U landdb --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! "${as_pg[@]}" "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$data" -l "$log" -w start \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1" >/dev/null
fi
if ! "$pgbin/psql" -h 127.0.0.1 -p "$port" -U landdb -d postgres -Atc "select 1 from pg_database where datname='landdb'" | grep -q 1; then
  "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U landdb landdb
fi
printf 'postgresql://landdb@127.0.0.1:%s/landdb\n' "$port" > "$state/database_url"
