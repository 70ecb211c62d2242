"""Incremental dbt: day-by-day updates (new days, a re-delivered day that corrects and drops
lines) give exactly the tables of a full rebuild; the runs that must rebuild are told apart."""

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from extracts.contract import EXTRACTS
from extracts.demo import DemoConfig, write_landing
from extracts.ingest import ingest_extract, landing_folder, remove_day
from marts.reads import full_refresh_reason
from orchestration.defs.dbt import incremental_models

PROJECT = Path(__file__).resolve().parent.parent / "transforms"
END = dt.date(2026, 3, 3)
CONFIG = DemoConfig(stores=3, dcs=1, items=6, history_days=45, drop_days=3, end_date=END, seed=5)
INCREMENTAL = incremental_models()
TABLES = [(schema, name) for schema, name, _ in INCREMENTAL] + [
    ("intermediate", "int_lead_time_observations"),
    ("marts", "fct_internal_transfers_daily"),
    ("marts", "fct_receipts_daily"),
    ("marts", "fct_lane_lead_times"),
]


def _dbt(warehouse: Path, as_of: dt.date, target: Path, *flags: str) -> None:
    env = {
        **os.environ,
        "MEIO_WAREHOUSE": str(warehouse),
        "MEIO_AS_OF_DATE": as_of.isoformat(),
        "DO_NOT_TRACK": "1",
    }
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--profiles-dir", ".", "--quiet",
         "--target-path", str(target), *flags],
        cwd=PROJECT, env=env, check=True,
    )  # fmt: skip


def _load(warehouse: Path, landing: Path, day: dt.date) -> None:
    con = duckdb.connect(str(warehouse))
    for name in EXTRACTS:
        ingest_extract(con, landing, day, name)
    con.close()


def _rows(warehouse: Path, schema: str, name: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    frame = con.execute(f'SELECT * FROM {schema}."{name}"').df()
    con.close()
    return frame.sort_values(list(frame.columns), ignore_index=True)


def test_day_by_day_updates_equal_a_full_rebuild(tmp_path):
    landing = tmp_path / "landing"
    days = write_landing(landing, CONFIG)
    warehouse, target = tmp_path / "incremental.duckdb", tmp_path / "target"
    for day in days:  # a day loaded, then dbt as that day's run does it
        _load(warehouse, landing, day)
        con = duckdb.connect(str(warehouse))
        assert full_refresh_reason(con, day, INCREMENTAL) is None
        con.close()
        _dbt(warehouse, day, target)
    # the middle day re-delivered: one line's quantity corrected, one line no longer sent
    orders = landing_folder(landing, days[1]) / "sales_orders.csv"
    frame = pd.read_csv(orders, dtype=str, keep_default_na=False)
    later = pd.read_csv(landing_folder(landing, days[2]) / "sales_orders.csv", dtype=str)
    resent = frame.set_index(["order_id", "line_number"]).index.isin(
        later.set_index(["order_id", "line_number"]).index
    )
    first, second = frame.index[~resent][:2]  # lines day 3 does not send again
    frame.loc[first, "quantity"] = str(float(frame.loc[first, "quantity"]) + 7)
    corrected, dropped = frame.loc[first], frame.loc[second]
    frame.drop(index=second).to_csv(orders, index=False)
    con = duckdb.connect(str(warehouse))
    ingest_extract(con, landing, days[1], "sales_orders")
    # a backfill of the past must rebuild; today's run may update
    assert "before the latest extract day" in full_refresh_reason(con, days[0], INCREMENTAL)
    assert full_refresh_reason(con, days[-1], INCREMENTAL) is None
    con.close()
    _dbt(warehouse, days[-1], target)

    _assert_equal_to_a_full_rebuild(warehouse, tmp_path / "rebuilt.duckdb", days[-1], target)
    # and the correction is in: the dropped line's day-2 version is gone, the corrected one
    # carries its new quantity
    staged = _rows(warehouse, "staging", "stg_erp__sales_orders")

    def version(row: pd.Series) -> pd.DataFrame:
        return staged[
            (staged["order_id"] == row["order_id"].strip().upper())
            & (staged["line_number"] == int(float(row["line_number"])))
            & (staged["extract_date"].dt.date == days[1])
        ]

    assert version(dropped).empty
    assert version(corrected)["quantity"].tolist() == [float(corrected["quantity"])]

    # the first day's orders unloaded (the history's backlog): the demand calendar shrinks and
    # nodes that sold only then lose every day
    con = duckdb.connect(str(warehouse))
    before = con.execute(
        "SELECT min(demand_date), count(DISTINCT (location_id, sku)) FROM marts.fct_customer_demand_daily"
    ).fetchone()
    remove_day(con, "sales_orders", days[0])
    con.close()
    _dbt(warehouse, days[-1], target)
    _assert_equal_to_a_full_rebuild(warehouse, tmp_path / "rebuilt_after.duckdb", days[-1], target)
    con = duckdb.connect(str(warehouse), read_only=True)
    after = con.execute(
        "SELECT min(demand_date), count(DISTINCT (location_id, sku)) FROM marts.fct_customer_demand_daily"
    ).fetchone()
    con.close()
    assert after[0] > before[0]


def _assert_equal_to_a_full_rebuild(
    warehouse: Path, rebuilt: Path, as_of: dt.date, target: Path
) -> None:
    shutil.copy(warehouse, rebuilt)
    _dbt(rebuilt, as_of, target, "--full-refresh")
    for schema, name in TABLES:
        pd.testing.assert_frame_equal(
            _rows(warehouse, schema, name), _rows(rebuilt, schema, name), obj=f"{schema}.{name}"
        )


def test_tables_built_before_they_were_incremental_are_rebuilt():
    con = duckdb.connect()
    assert full_refresh_reason(con, END, INCREMENTAL) is None  # a new warehouse: dbt builds
    schema, name, _ = next(model for model in INCREMENTAL if model[2])
    con.execute(f"CREATE SCHEMA {schema}")
    con.execute(f"CREATE TABLE {schema}.{name} (extract_date DATE)")  # no loaded_at
    assert full_refresh_reason(con, END, INCREMENTAL) == (
        f"{schema}.{name} was built before it was incremental"
    )
