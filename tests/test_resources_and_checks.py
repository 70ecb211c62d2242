"""The warehouse connection is released when a step raises, another process's lock is waited out
and then retried by Dagster (other errors are not); mart checks in parts see every row, the
demand mart's check the days that changed since they passed."""

import subprocess
import sys

import dagster as dg
import duckdb
import pandas as pd
import pytest

import marts.checks as mart_checks
from marts.checks import check_mart, check_mart_in_warehouse, read_mart_in_parts
from orchestration.lib.resources import WAREHOUSE_LOCKED, WarehouseResource, retry_when_locked


def test_a_step_that_raises_leaves_the_warehouse_unlocked(tmp_path):
    warehouse = WarehouseResource(database=str(tmp_path / "w.duckdb"))
    with pytest.raises(RuntimeError), warehouse.get_connection() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        raise RuntimeError("step failed")
    reader = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]
    reader.close()


def test_mart_checked_in_parts_sees_every_row(monkeypatch):
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
    frame.loc[245, "demand_qty"] = -1.0  # one negative day, late in the table
    con.execute("CREATE TABLE marts.fct_customer_demand_daily AS SELECT * FROM frame")
    monkeypatch.setattr(mart_checks, "PART_ROWS", 40)
    parts = list(read_mart_in_parts(con, "fct_customer_demand_daily"))
    assert len(parts) > 1
    assert sum(len(p) for p in parts) == len(frame)
    failures = [f for p in parts for f in check_mart("fct_customer_demand_daily", p)]
    assert len(failures) == 1 and "demand is negative" in failures[0]


def test_item_network_mart_read_in_parts_keeps_each_items_lanes_together(monkeypatch):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    lanes = pd.DataFrame(
        {
            "source_location_id": ["PLT", "DC1", "DC1", "DC2"],
            "destination_location_id": ["DC1", "ST1", "DC2", "DC1"],
            "source_location_type": ["PLANT", "DC", "DC", "DC"],
            "destination_location_type": ["DC", "STORE", "DC", "DC"],
            "transit_days": 1.0,
        }
    )
    # items 0..8 have a chain; item 9's last two lanes close a cycle DC1 -> DC2 -> DC1
    network = pd.concat(
        [lanes.head(4 if i == 9 else 2).assign(sku=f"SKU-{i}") for i in range(10)],
        ignore_index=True,
    ).sample(frac=1.0, random_state=0)  # stored in no particular order
    con.execute("CREATE TABLE marts.fct_item_network AS SELECT * FROM network")
    monkeypatch.setattr(mart_checks, "PART_ROWS", 5)
    parts = list(read_mart_in_parts(con, "fct_item_network"))
    assert len(parts) > 1 and sum(len(p) for p in parts) == len(network)
    skus = [set(p["sku"]) for p in parts]
    assert sum(len(s) for s in skus) == len(set().union(*skus))  # an item in one part only
    failures = [f for p in parts for f in check_mart("fct_item_network", p)]
    assert failures == ["fct_item_network: lane cycle for item SKU-9: DC1 -> DC2 -> DC1"]


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


def _hold_lock(path, seconds: float) -> subprocess.Popen:
    """Another process holding ``path`` read-write for ``seconds`` (DuckDB locks the file);
    returns once the lock is taken."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True);"
            " time.sleep(float(sys.argv[2])); c.close()",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_lock_held_by_another_process_is_waited_out(tmp_path):
    path = tmp_path / "w.duckdb"
    holder = _hold_lock(path, 1.0)
    warehouse = WarehouseResource(database=str(path), lock_wait_seconds=30)
    with warehouse.get_connection() as con:
        assert con.execute("SELECT 42").fetchone() == (42,)
    holder.wait(timeout=30)


def test_a_lock_held_too_long_asks_dagster_to_retry_the_step_and_it_then_succeeds(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse = WarehouseResource(database=str(path), lock_wait_seconds=0.3, lock_retry_seconds=4)
    holder = _hold_lock(path, 30)
    with pytest.raises(dg.RetryRequested) as asked, warehouse.get_connection():
        pass
    assert WAREHOUSE_LOCKED in str(asked.value.__cause__)
    holder.kill()
    holder.wait(timeout=30)

    @dg.asset
    def written(warehouse: WarehouseResource) -> None:
        with warehouse.get_connection() as con:
            con.execute("CREATE OR REPLACE TABLE t AS SELECT 1 AS x")

    holder = _hold_lock(path, 8)  # longer than the step waits, shorter than its 3 retries
    result = dg.materialize([written], resources={"warehouse": warehouse})
    holder.wait(timeout=30)
    assert result.success
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) >= 1  # one or two, as fast as the machine starts the step


def test_an_error_other_than_a_lock_is_not_retried():
    retry_when_locked(ValueError("sales_orders.csv row 7, field quantity: 'x'"), 1.0)  # returns
    with pytest.raises(dg.RetryRequested):
        retry_when_locked(RuntimeError(f'dbt: IO Error: {WAREHOUSE_LOCKED} "w.duckdb"'), 1.0)


def test_the_demand_mart_is_checked_for_the_days_that_changed_since_they_passed():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    days = pd.date_range("2026-01-01", periods=10)
    con.register(
        "demand",
        pd.DataFrame({"location_id": "S1", "sku": "A", "demand_date": days, "demand_qty": 1.0}),
    )
    con.execute("CREATE TABLE marts.fct_customer_demand_daily AS SELECT * FROM demand")
    first = check_mart_in_warehouse(con, "fct_customer_demand_daily")
    assert (first.failures, first.rows_checked, first.days_checked) == ([], 10, 10)
    again = check_mart_in_warehouse(con, "fct_customer_demand_daily")
    assert (again.failures, again.rows_checked, again.days_checked, again.rows) == ([], 0, 0, 10)

    con.execute(  # a new day, and a day rewritten with a negative value
        "INSERT INTO marts.fct_customer_demand_daily VALUES ('S1', 'A', '2026-01-11', 2.0)"
    )
    con.execute(
        "UPDATE marts.fct_customer_demand_daily SET demand_qty = -1 "
        "WHERE demand_date = '2026-01-04'"
    )
    bad = check_mart_in_warehouse(con, "fct_customer_demand_daily")
    assert bad.days_checked == 2 and bad.rows_checked == 2
    assert any("demand is negative" in f for f in bad.failures)
    still = check_mart_in_warehouse(con, "fct_customer_demand_daily")  # nothing recorded
    assert still.days_checked == 2 and still.failures

    con.execute(  # fixed; then a value changed within an old day
        "UPDATE marts.fct_customer_demand_daily SET demand_qty = 0 WHERE demand_date = '2026-01-04'"
    )
    assert not check_mart_in_warehouse(con, "fct_customer_demand_daily").failures
    con.execute(
        "UPDATE marts.fct_customer_demand_daily SET demand_qty = -3 "
        "WHERE demand_date = '2026-01-07'"
    )
    changed = check_mart_in_warehouse(con, "fct_customer_demand_daily")
    assert changed.days_checked == 1 and changed.failures


def test_a_mart_not_checked_by_day_is_checked_whole_in_the_warehouse():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.fct_lane_lead_times AS SELECT * FROM (VALUES "
        "('SUP', 'DC1', 14.0::DOUBLE, 2.0::DOUBLE), ('DC1', 'ST1', 0.0, 0.5)) "
        "AS t(source_location_id, destination_location_id, lead_time_mean_days, "
        "lead_time_stddev_days)"
    )
    outcome = check_mart_in_warehouse(con, "fct_lane_lead_times")
    assert (outcome.rows, outcome.rows_checked, outcome.days_checked) == (2, 2, None)
    assert len(outcome.failures) == 1 and "lead time is not positive" in outcome.failures[0]
