#!/usr/bin/env bash
# The replica: on first start, clone the primary with pg_basebackup -R (which writes
# primary_conninfo and standby.signal), then run as a hot standby streaming from it.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -U replicator -d postgres >/dev/null 2>&1; do sleep 1; done
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  gosu postgres env PGPASSWORD="$LANDDB_REPLICATION_PASSWORD" \
    pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast
fi
# hot_standby_feedback: the primary keeps the rows a long read here still needs (a WFS layer
# download) instead of vacuuming them away and cancelling the read.
exec gosu postgres postgres -c hot_standby=on -c hot_standby_feedback=on
