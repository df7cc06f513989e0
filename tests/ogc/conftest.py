"""OGC API fixtures: the app without rate limits over the test's transaction, and the WFS tests' grid."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from tests.wfs.conftest import COLS, ROWS, SIZE, STEP, grid  # noqa: F401  (fixture)


@pytest.fixture
def app(settings, connection):
    from api import create_app

    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    return create_app(settings.with_(rate_limit="", rate_limit_public=""), testing=True, sessionmaker=maker)


@pytest.fixture
def grid_box(grid):
    """The grid's envelope in EPSG:5899 (x0, y0, x1, y1)."""
    x0 = min(g["x0"] for g in grid)
    y0 = min(g["y0"] for g in grid)
    return x0, y0, x0 + (COLS - 1) * STEP + SIZE, y0 + (ROWS - 1) * STEP + SIZE
