"""One app instance in its own process, for the tests: `python -m tests.replica.instance`.

Settings come from the environment as in production (`Settings.from_env`); it serves on a free
port of 127.0.0.1 (werkzeug's threaded server) and prints that port on its first line."""

from __future__ import annotations

import sys

from werkzeug.serving import make_server

from api import create_app


def main() -> None:
    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
