"""WFS fixtures: an app without rate limits, a grid of test parcels, and the app on a real HTTP port."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker
from werkzeug.serving import make_server

from tests.factories import TEST_AREA, make_parcel, square

#: 3 rows × 4 columns of 10 m squares, 20 m apart, in the test area (EPSG:5899).
ROWS, COLS, SIZE, STEP = 3, 4, 10.0, 20.0


@pytest.fixture
def app(settings, connection):
    from api import create_app

    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    return create_app(settings.with_(rate_limit="", rate_limit_public=""), testing=True, sessionmaker=maker)


@pytest.fixture
def grid(session):
    """Twelve parcels in the test area; every third is ONT (rural), the rest ODT."""
    out = []
    for i in range(ROWS * COLS):
        x0 = TEST_AREA[0] + (i % COLS) * STEP
        y0 = TEST_AREA[1] + (i // COLS) * STEP
        land_use = "ONT" if i % 3 == 0 else "ODT"
        pid, _ = make_parcel(session, wkt=square(x0, y0, SIZE), sheet_no=77, parcel_no=100 + i,
                             land_use=land_use, legal_area_m2=100.0 + i, address=f"{i} Phố Lưới & Co")
        out.append({"id": pid, "fid": f"parcels.{pid}", "code": f"06691-77-{100 + i}", "x0": x0, "y0": y0,
                    "land_use": land_use})
    session.flush()
    return out


def current_parcel_count(session) -> int:
    return session.execute(text(
        "SELECT count(*) FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL "
        "WHERE p.retired_on IS NULL")).scalar_one()


@pytest.fixture
def live_url(app):
    """The app served over real HTTP on 127.0.0.1 (one request at a time: it shares the test's connection)."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/wfs"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
