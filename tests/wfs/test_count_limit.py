"""numberMatched is cheap: counted up to LANDDB_COUNT_LIMIT and "unknown" past it; the last page is not counted."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from landdb import query as features
from landdb.query import PARCELS, FeatureQuery

from .helpers import call, validate
from .test_wfs import fids, get_feature, grid_bbox

LIMIT = 5


@pytest.fixture(params=["get", "post"])
def mode(request):
    return request.param


@pytest.fixture
def app(settings, connection):
    """The WFS app with a count limit of 5 (the grid has 12 parcels)."""
    from api import create_app

    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    return create_app(settings.with_(rate_limit="", rate_limit_public="", count_limit=LIMIT), testing=True,
                      sessionmaker=maker)


def _bbox(grid, rows=None):
    cells = grid if rows is None else [g for g in grid if g["y0"] in rows]
    return ",".join(str(v) for v in grid_bbox(cells))


def test_past_the_limit_is_unknown_with_next_links_to_an_exact_last_page(client, mode, grid):
    root = validate(get_feature(client, mode, bbox=_bbox(grid), count=5).data, client)
    seen = fids(root)
    assert root.get("numberMatched") == "unknown" and root.get("numberReturned") == "5"
    matched = [root.get("numberMatched")]
    while root.get("next"):
        root = validate(client.get(root.get("next").replace("http://localhost", "")).data, client)
        seen += fids(root)
        matched.append(root.get("numberMatched"))
    # The last (short) page says the exact number: startIndex + numberReturned.
    assert matched == ["unknown", "unknown", "12"] and root.get("numberReturned") == "2"
    assert sorted(seen) == sorted(g["fid"] for g in grid) and len(set(seen)) == 12


def test_hits_past_the_limit_are_unknown(client, mode, grid):
    root = validate(get_feature(client, mode, bbox=_bbox(grid), resultType="hits").data, client)
    assert root.get("numberMatched") == "unknown" and root.get("numberReturned") == "0" and len(root) == 0
    body = json.loads(get_feature(client, mode, bbox=_bbox(grid), resultType="hits",
                                  outputFormat="application/json").data)
    assert body["numberMatched"] is None and body["numberReturned"] == 0


def test_wfs_1_1_hits_stay_exact(client, mode, grid):
    # numberOfFeatures has no "unknown" in WFS 1.1.
    r = call(client, mode, {"service": "WFS", "version": "1.1.0", "request": "GetFeature",
                            "typeName": "landdb:parcels", "bbox": _bbox(grid), "resultType": "hits"})
    assert validate(r.data, client).get("numberOfFeatures") == "12"


def test_geojson_past_the_limit_has_null_and_a_next_link(client, mode, grid):
    body = json.loads(get_feature(client, mode, bbox=_bbox(grid), outputFormat="application/json", count=4).data)
    assert body["numberMatched"] is None and body["numberReturned"] == 4 == len(body["features"])
    assert [link["rel"] for link in body["links"]] == ["next"]


def test_under_the_limit_is_exact(client, mode, grid):
    row = _bbox(grid, rows={grid[0]["y0"]})  # the first row of the grid: 4 parcels
    root = validate(get_feature(client, mode, bbox=row, count=2).data, client)
    assert root.get("numberMatched") == "4" and root.get("numberReturned") == "2" and root.get("next")
    root = validate(get_feature(client, mode, bbox=row, count=4).data, client)
    assert root.get("numberMatched") == "4" and root.get("numberReturned") == "4" and root.get("next") is None
    root = validate(get_feature(client, mode, bbox=row, resultType="hits").data, client)
    assert root.get("numberMatched") == "4"


def test_get_property_value_hits_past_the_limit(client, mode, grid):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetPropertyValue",
                            "typeNames": "landdb:parcels", "valueReference": "parcel_code", "resultType": "hits",
                            "bbox": _bbox(grid)})
    assert validate(r.data, client).get("numberMatched") == "unknown"


def _plan(session, q: FeatureQuery, count_limit: int | None = LIMIT) -> tuple[list, list, list]:
    """(rows, how often each InitPlan ran, rows fed to each window) for the cheaply counted page of `q`."""
    sql, params = features.select_sql(q, "geojson", count_limit=count_limit, lazy_count=True)
    rows = session.execute(text(sql), params).all()
    plan = session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql), params).scalar_one()
    loops, windowed = [], []

    def walk(node):
        if node.get("Parent Relationship") == "InitPlan":
            loops.append(node.get("Actual Loops", 0))
        if node["Node Type"] == "WindowAgg":
            windowed.append(node["Plans"][0]["Actual Rows"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return rows, loops, windowed


def _sheet(start: int, count: int) -> FeatureQuery:
    q = FeatureQuery(PARCELS, start=start, count=count)
    q.add("f.sheet_no = :s", s=77)  # the 12 parcels of the grid
    return q


def test_the_last_page_is_not_counted(session, grid):
    rows, loops, _ = _plan(session, _sheet(10, 5))
    assert len(rows) == 2 and [r[0] for r in rows] == [None, None]
    assert loops == [0]  # the count never ran


def test_a_later_full_page_counts_once_up_to_the_cap(session, grid):
    rows, loops, _ = _plan(session, _sheet(5, 5))
    # Up to the cap (start + count + 1 = 11 rows: "more than 10"), on the last row only.
    assert [r[0] for r in rows] == [None] * 4 + [11] and loops == [1]


def test_a_first_page_counts_in_its_own_scan(session, grid):
    rows, loops, windowed = _plan(session, _sheet(0, 6), count_limit=100)
    # 12 match, fewer than the window (2 × 6 + 1): counted by the page's scan, no second one.
    assert [r[0] for r in rows] == [12] * 6 and windowed == [12] and loops == [0]
    rows, loops, windowed = _plan(session, _sheet(0, 5))
    # The window reaches the cap (5 + 1): "more than 5", and no count subquery at all.
    assert [r[0] for r in rows] == [LIMIT + 1] * 5 and windowed == [LIMIT + 1] and loops == []


def test_a_first_page_past_its_window_finishes_with_the_capped_count(session, grid):
    rows, loops, windowed = _plan(session, _sheet(0, 2), count_limit=10)
    # The window stops at 5 rows (2 × 2 + 1); the capped count then reads 11 (> 10: unknown).
    assert [r[0] for r in rows] == [11, 11] and windowed == [5] and loops == [1]
    q = _sheet(0, 2)
    q.add("f.parcel_no < :n", n=104)  # 4 parcels: exact in the window
    rows, loops, windowed = _plan(session, q, count_limit=10)
    assert [r[0] for r in rows] == [4, 4] and windowed == [4] and loops == [0]


@pytest.mark.parametrize("count_limit", [LIMIT, None])
def test_a_box_over_the_whole_layer_is_counted_in_a_bounded_window(session, grid, count_limit):
    from .conftest import current_parcel_count

    total = current_parcel_count(session)
    assert total > 100
    q = FeatureQuery(PARCELS, count=3)
    rows, loops, windowed = _plan(session, q, count_limit=count_limit)
    assert len(rows) == 3 and windowed and windowed[0] <= 7
    # numberMatched as render reports it: unknown past the cap, else exact (a second scan).
    assert features.render(session, q, "geojson", count_limit=count_limit)[0] == (
        None if count_limit else total)
    assert features.render(session, q, "geojson", count_limit=10 * total)[0] == total


def test_ogr2ogr_pages_through_unknown_counts(live_url, grid, session, tmp_path):
    import pyogrio

    from .conftest import current_parcel_count
    from .test_clients import run

    expected = current_parcel_count(session)
    assert expected > LIMIT
    target = tmp_path / "parcels.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(target), f"WFS:{live_url}", "landdb:parcels", "-nln", "parcels",
        env={"OGR_WFS_PAGING_ALLOWED": "ON", "OGR_WFS_PAGE_SIZE": "4"})
    df = pyogrio.read_dataframe(target, layer="parcels")
    assert len(df) == expected and df["parcel_code"].is_unique
