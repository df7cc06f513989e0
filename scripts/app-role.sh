#!/usr/bin/env bash
# The database role `make run` serves as: not the tables' owner, so the service can register
# changes but can never alter or delete journal rows nor disable their triggers
# (`landdb db grant-app-role`). Creates the role or refreshes its grants (new tables after a
# migration) and writes its URL to .landdb/app_database_url. Where roles cannot be created
# (a managed database given as DATABASE_URL), it says so and the service uses that URL.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.landdb
role=${LANDDB_APP_ROLE:-landdb_app}
if [ ! -s "$state/app_password" ]; then
  (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))' > "$state/app_password")
fi
if LANDDB_APP_PASSWORD="$(cat "$state/app_password")" .venv/bin/landdb db grant-app-role "$role" >/dev/null; then
  (umask 077; .venv/bin/python - "$role" "$state/app_password" "$state/database_url" > "$state/app_database_url" <<'PY'
import sys
from pathlib import Path
from sqlalchemy.engine import make_url
role, password, owner = sys.argv[1], Path(sys.argv[2]).read_text().strip(), Path(sys.argv[3]).read_text().strip()
print(make_url(owner).set(username=role, password=password).render_as_string(hide_password=False))
PY
  )
else
  echo "could not set up the database role $role: serving as the database's owner" >&2
  cp "$state/database_url" "$state/app_database_url"
fi
