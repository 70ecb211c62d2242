"""The warehouse connection is released when a step raises; mart checks in parts see every row."""

import duckdb
import pandas as pd
import pytest

import marts.checks as mart_checks
from marts.checks import check_mart, read_mart_in_parts
from orchestration.lib.resources import WarehouseResource


def test_a_step_that_raises_leaves_the_warehouse_unlocked(tmp_path):
    warehouse = WarehouseResource(database=str(tmp_path / "w.duckdb"))
    with pytest.raises(RuntimeError), warehouse.get_connection() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        raise RuntimeError("step failed")
    reader = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]
    reader.close()


def test_mart_checked_in_parts_sees_every_row_and_each_items_duplicates(monkeypatch):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    days = pd.date_range("2026-01-01", periods=30)
    frame = pd.concat(
        [
            pd.DataFrame({"location_id": "S1", "sku": f"SKU-{i}", "demand_date": days})
            for i in range(10)
        ],
        ignore_index=True,
    ).assign(demand_qty=1.0)
    frame = pd.concat([frame, frame.iloc[[45]]], ignore_index=True)  # one repeated key
    con.execute("CREATE TABLE marts.fct_customer_demand_daily AS SELECT * FROM frame")
    monkeypatch.setattr(mart_checks, "PART_ROWS", 40)
    parts = list(read_mart_in_parts(con, "fct_customer_demand_daily"))
    assert len(parts) > 1
    assert all(len(p) < 40 + 31 for p in parts)  # cut at the first item end after 40 rows
    assert sum(len(p) for p in parts) == len(frame)
    skus = [set(p["sku"]) for p in parts]
    assert sum(len(s) for s in skus) == len(set().union(*skus))  # an item in one part only
    failures = [f for p in parts for f in check_mart("fct_customer_demand_daily", p)]
    assert failures  # the repeated (location, item, day) is found within its item's part


def test_item_network_mart_with_a_lane_cycle_fails_naming_the_item_and_the_cycle():
    text = pd.StringDtype("pyarrow")
    network = pd.DataFrame(
        {
            "sku": ["A", "A", "A", "B", "B"],
            "source_location_id": ["PLT", "DC1", "DC2", "PLT", "DC1"],
            "destination_location_id": ["DC1", "DC2", "DC1", "DC1", "ST1"],
            "source_location_type": ["PLANT", "DC", "DC", "PLANT", "DC"],
            "destination_location_type": ["DC", "DC", "DC", "DC", "STORE"],
            "transit_days": [2.0, 1.0, 1.0, 2.0, 1.0],
        }
    ).astype({c: text for c in ["sku", "source_location_type", "destination_location_type"]})
    failures = check_mart("fct_item_network", network)
    assert failures == ["fct_item_network: lane cycle for item A: DC1 -> DC2 -> DC1"]
    assert check_mart("fct_item_network", network[network["sku"] == "B"]) == []
