"""Reads of the warehouse for the pipeline's steps: the dbt marts (and the forecast and policy
tables the optimizer plans from), shaped as the domain libraries take them.

The one place that knows table and column names on the Python side; the libraries
(``forecasting``, ``optimization``, ``simulation``) see DataFrames and dataclasses only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from forecasting.buckets import SEP, bucket_end, whole_buckets

if TYPE_CHECKING:  # the libraries load at call time: importing the definitions stays fast
    from forecasting.selection import Selection
    from optimization.targets import PlanningInputs
    from simulation.monte_carlo import DemandHistory

# DuckDB memory while a large mart is sorted or aggregated into a frame: the work spills to disk
# beyond it, so the process does not hold the pipeline's 4 GB and the frame at once. Mart checks
# at 2,000 items (55 M rows): 1 GB peaks at 2.6 GiB in 33.5 s, 4 GB at 5.4 GiB in 37.1 s;
# weekly buckets of 35 M daily rows: 2.6 GiB in 11.6 s against 3.1 GiB in 12.4 s.
LARGE_READ_MEMORY = "1GB"


@contextmanager
def large_read(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's memory limit lowered to LARGE_READ_MEMORY for the block, then restored."""
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute(f"SET memory_limit = '{LARGE_READ_MEMORY}'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{limit}'")


@contextmanager
def only_skus(con: duckdb.DuckDBPyConnection, skus: list[str] | None) -> Iterator[str]:
    """A SQL condition (``AND sku IN ...``) keeping the rows of ``skus`` (every row where
    None) for the queries of the block: the list is registered with DuckDB, not inlined."""
    if skus is None:
        yield ""
        return
    con.register("wanted_skus", pd.DataFrame({"sku": pd.Series(skus, dtype=str)}))
    try:
        yield "AND sku IN (SELECT sku FROM wanted_skus) "
    finally:
        con.unregister("wanted_skus")


def read_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> pd.DataFrame:
    return con.execute(f'SELECT * FROM "{schema}"."{name}"').df()


def held_tables(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    """Names of the tables the warehouse holds in ``schema``."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
    ).fetchall()
    return {r[0] for r in rows}


def last_tradeoff_by_item(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """The last run's ``optimization.tradeoff.tradeoff_by_item`` rows; None before the first."""
    if "service_tradeoff_items" not in held_tables(con, "optimization"):
        return None
    return fetch_frame(con, "SELECT * EXCLUDE (run_date) FROM optimization.service_tradeoff_items")


def fetch_frame(con: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    """``query``'s rows (no DATE columns) through Arrow: one Python string per distinct value
    instead of one per row. The optimizer's 8.3 M-row basis took 1.0 s instead of 5.7 s."""
    return con.sql(query).to_arrow_table().to_pandas()


def full_refresh_reason(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, incremental: list[tuple[str, str, bool]]
) -> str | None:
    """Why a dbt build as of ``as_of`` must rebuild its ``incremental`` models (schema, name,
    keeps_versions: ``orchestration.defs.dbt.incremental_models``) instead of updating them, or
    None: a run as of a day before the latest extract day loaded (a backfill of the past: the
    tables hold later days), or a model keeping extract versions
    (transforms/macros/latest_extract_wins.sql) whose table was built before it was
    incremental (no ``loaded_at``)."""
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables"
    ).fetchall()
    if ("raw_days", "loaded_days") in tables:
        latest = con.execute("SELECT max(extract_date) FROM raw_days.loaded_days").fetchone()[0]
        if latest is not None and as_of < latest:
            return f"run as of {as_of}, before the latest extract day loaded ({latest})"
    for schema, name, keeps_versions in incremental:
        if not keeps_versions or (schema, name) not in tables:
            continue
        columns = con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
        if ("loaded_at",) not in columns:
            return f"{schema}.{name} was built before it was incremental"
    return None


def read_planning_inputs(con: duckdb.DuckDBPyConnection) -> PlanningInputs:
    """The optimizer's inputs from the marts, the forecast and the service-policy seed."""
    from optimization.targets import PlanningInputs

    return PlanningInputs(
        item_network=read_table(con, "marts", "fct_item_network"),
        lane_lead_times=read_table(con, "marts", "fct_lane_lead_times"),
        items=read_table(con, "marts", "dim_items"),
        lead_time_demand=fetch_frame(
            con,
            "SELECT location_id, sku, periods, mean, sd, count_valued FROM forecast.lead_time_demand",
        ),
        service_policy=read_table(con, "policy", "service_policy"),
        customer_nodes=forecast_store_nodes(con),
    )


def forecast_store_nodes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """location_id, sku, item_class (the demand class) of every store node forecast: the
    nodes the optimizer plans for customers."""
    return con.execute(
        "SELECT DISTINCT location_id, sku, demand_class AS item_class FROM forecast.forecast_models "
        "WHERE location_id IN (SELECT location_id FROM marts.dim_locations WHERE location_type = 'STORE')"
    ).df()


def demand_span(con: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, dt.date | None]:
    """First and last day of customer demand in the marts (None, None when empty)."""
    first, last = con.execute(
        "SELECT min(demand_date), max(demand_date) FROM marts.fct_customer_demand_daily"
    ).fetchall()[0]
    return first, last


def forecast_input_checksums(con: duckdb.DuckDBPyConnection, bucket_days: int) -> dict:
    """Row counts and order-free checksums of what the forecast reads: the customer demand
    of the whole buckets (every day up to the latest complete bucket's end; the mart holds
    every node on every day, so new nodes change it too) and the item network. Equal
    checksums: the forecast would be made from the same series (0.5 s on 55 M rows)."""
    _, last = demand_span(con)
    end = bucket_end(last, bucket_days).date() if last is not None else None
    demand = con.execute(
        "SELECT count(*), sum(hash(location_id, sku, demand_date, demand_qty)::HUGEINT)::VARCHAR "
        "FROM marts.fct_customer_demand_daily WHERE demand_date <= ?",
        [end],
    ).fetchall()[0]
    network = con.execute(
        "SELECT count(*), sum(hash(n)::HUGEINT)::VARCHAR FROM marts.fct_item_network AS n"
    ).fetchall()[0]
    return {
        "last_bucket_end": str(end),
        "demand": list(demand),
        "item_network": list(network),
    }


def read_customer_buckets(
    con: duckdb.DuckDBPyConnection,
    bucket_days: int,
    until: dt.date | None = None,
    skus: list[str] | None = None,
) -> pd.DataFrame:
    """Customer demand per bucket from the mart's first day to ``until`` (default: its last
    day), of ``skus`` only where given: the buckets of ``forecasting.buckets.bucket_demand``
    (whole calendar buckets, the latest complete by that day), summed by DuckDB in one parallel
    pass so that the daily rows never reach pandas.
    Fetched through Arrow, which makes one Python string per distinct location and item
    instead of one per row: 7.86 M buckets took 0.31 GiB instead of 1.1 GiB (measured)."""
    first, last = demand_span(con)
    if first is None:
        return pd.DataFrame(columns=["location_id", "sku", "ds", "y"])
    last = bucket_end(until or last, bucket_days).date()
    with large_read(con), only_skus(con, skus) as only:
        buckets = con.sql(
            "SELECT location_id, sku, "
            "CAST($last AS DATE) - CAST((($last - demand_date) // $days + 1) * $days - 1 AS INTEGER) "
            "AS ds, sum(demand_qty)::DOUBLE AS y FROM marts.fct_customer_demand_daily "
            f"WHERE demand_date <= $last AND ($last - demand_date) // $days < $whole {only}"
            "GROUP BY ALL ORDER BY location_id, sku, ds",
            params={
                "last": last,
                "days": bucket_days,
                "whole": whole_buckets(first, last, bucket_days),
            },
        ).to_arrow_table()
    buckets = buckets.to_pandas(date_as_object=False)
    buckets["ds"] = buckets["ds"].astype("datetime64[ns]")
    return buckets


def customer_nodes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """location_id, sku of every node with customer demand."""
    return con.execute("SELECT DISTINCT location_id, sku FROM marts.fct_customer_demand_daily").df()


def customer_demand_after(
    con: duckdb.DuckDBPyConnection, day: dt.date, skus: list[str] | None = None
) -> pd.DataFrame:
    """Customer demand (net of returns) after ``day``, of ``skus`` only where given:
    location_id, sku, demand_date, demand_qty (units per day)."""
    with only_skus(con, skus) as only:
        return con.execute(
            "SELECT location_id, sku, demand_date, demand_qty "
            f"FROM marts.fct_customer_demand_daily WHERE demand_date > ? {only}",
            [day],
        ).df()


def receipts_after(con: duckdb.DuckDBPyConnection, day: dt.date) -> pd.DataFrame:
    """Units received after ``day``: location_id, sku, receipt_date, quantity."""
    return con.execute(
        "SELECT location_id, sku, receipt_date, quantity FROM marts.fct_receipts_daily "
        "WHERE receipt_date > ?",
        [day],
    ).df()


def lead_time_observations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Observed lead times of the last year per lane: source_location_id,
    destination_location_id, lead_time_days, observations."""
    return con.execute(
        "SELECT source_location_id, destination_location_id, lead_time_days, "
        "count(*) AS observations FROM intermediate.int_lead_time_observations "
        "WHERE plausible AND received_on > "
        "(SELECT max(received_on) FROM intermediate.int_lead_time_observations) - 365 "
        "GROUP BY ALL"
    ).df()


def demand_history(
    con: duckdb.DuckDBPyConnection, days: int, skus: list[str] | None = None
) -> DemandHistory:
    """The customers' last ``days`` days of demand (of ``skus`` only, where given), coded in
    DuckDB (a column number per node, days back from the latest): integers and floats reach
    Python, not 36 M rows of strings."""
    from simulation.monte_carlo import DemandHistory

    with only_skus(con, skus) as only:
        coded = con.sql(  # a relation's Arrow output: no extra copy of the rows
            "WITH recent AS (SELECT sku, location_id, demand_date, demand_qty "
            "  FROM marts.fct_customer_demand_daily WHERE demand_date > "
            f"  (SELECT max(demand_date) FROM marts.fct_customer_demand_daily) - $days {only}), "
            "keyed AS (SELECT sku, location_id, "
            "  (row_number() OVER (ORDER BY sku, location_id) - 1)::INTEGER AS col "
            "  FROM (SELECT DISTINCT sku, location_id FROM recent)) "
            "SELECT k.col, ((SELECT max(demand_date) FROM marts.fct_customer_demand_daily) "
            "  - r.demand_date)::INTEGER AS back, "
            "  r.demand_qty::FLOAT AS qty FROM recent r JOIN keyed k USING (sku, location_id)",
            params={"days": days},
        ).to_arrow_table()
        keys = con.execute(
            "SELECT DISTINCT sku, location_id FROM marts.fct_customer_demand_daily "
            "WHERE demand_date > "
            f"(SELECT max(demand_date) FROM marts.fct_customer_demand_daily) - $days {only}"
            "ORDER BY sku, location_id",
            {"days": days},
        ).df()
    return DemandHistory.from_codes(
        pd.MultiIndex.from_frame(keys),
        coded["col"].to_numpy(),
        coded["back"].to_numpy(),
        coded["qty"].to_numpy(),
        days,
    )


def simulation_inputs(
    con: duckdb.DuckDBPyConnection, history_days: int, skus: list[str] | None = None
) -> dict:
    """``simulation.monte_carlo.simulate_plan``'s inputs besides the targets (of ``skus``
    only, where given)."""
    item_network = read_table(con, "marts", "fct_item_network")
    lead_time_demand = fetch_frame(
        con, "SELECT location_id, sku, periods, sd FROM forecast.lead_time_demand"
    )
    if skus is not None:
        item_network = item_network[item_network["sku"].isin(skus)]
        lead_time_demand = lead_time_demand[lead_time_demand["sku"].isin(skus)]
    return {
        "item_network": item_network,
        "lane_lead_times": read_table(con, "marts", "fct_lane_lead_times"),
        "lead_time_demand": lead_time_demand,
        "lead_time_observations": lead_time_observations(con),
        "demand_history": demand_history(con, history_days, skus),
    }


def last_simulation(
    con: duckdb.DuckDBPyConnection,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The last service simulation: each item's basis (``simulation.reuse.BASIS_COLUMNS``) and
    its result rows (``simulation.service_simulation`` without run_date and scenario); (None,
    None) before the first."""
    held = held_tables(con, "simulation")
    if not {"simulation_basis", "service_simulation"} <= held:
        return None, None
    basis = read_table(con, "simulation", "simulation_basis")
    rows = read_table(con, "simulation", "service_simulation")
    if "simulated_on" not in rows.columns:  # written before simulations were kept
        return None, None
    return (
        basis.drop(columns=["run_date", "scenario"], errors="ignore"),
        rows.drop(columns=["run_date", "scenario"], errors="ignore"),
    )


def history_weekly_variances(con: duckdb.DuckDBPyConnection, weeks: int) -> pd.DataFrame:
    """Per node (location_id, sku) of history, for ``simulation.bullwhip``: the sample
    variances (units^2) of the weekly sums of what it received and of what it placed over the
    ``weeks`` whole weeks ending at the latest day received (weeks without a flow count 0).
    Received: customer demand and outbound transfers; placed: inbound transfers, and the
    plant's receipts. Summed in SQL: the daily flows are 25 M rows at 2,000 items (3.7 GiB as
    a frame). Nodes without a flow are absent."""
    start = f"(SELECT max(demand_date) FROM marts.fct_customer_demand_daily) - {7 * int(weeks)}"
    with large_read(con):  # 3.4 GiB held at the pipeline's limit, 0.8 GiB at 1 GB (2.6 -> 3.9 s)
        return con.execute(
            f"""
        WITH received AS (
            SELECT location_id, sku, demand_date AS day, demand_qty AS qty
            FROM marts.fct_customer_demand_daily WHERE demand_qty > 0 AND demand_date > {start}
            UNION ALL
            SELECT source_location_id, sku, ship_date, shipped_qty
            FROM marts.fct_internal_transfers_daily WHERE ship_date > {start}
        ),
        placed AS (
            SELECT destination_location_id AS location_id, sku, ship_date AS day, shipped_qty AS qty
            FROM marts.fct_internal_transfers_daily WHERE ship_date > {start}
            UNION ALL
            SELECT r.location_id, r.sku, r.receipt_date, r.quantity
            FROM marts.fct_receipts_daily AS r JOIN marts.dim_locations AS l USING (location_id)
            WHERE l.location_type = 'PLANT' AND r.receipt_date > {start}
        ),
        latest AS (SELECT max(day) AS day FROM received),
        weekly AS (  -- weeks counted back from the latest day received: 0 .. weeks - 1
            SELECT flow, location_id, sku, sum(qty) AS qty
            FROM (
                SELECT 'received' AS flow, *, (latest.day - received.day) // 7 AS week
                FROM received, latest
                UNION ALL
                SELECT 'placed', *, (latest.day - placed.day) // 7
                FROM placed, latest
            )
            WHERE week >= 0 AND week < {int(weeks)}
            GROUP BY flow, location_id, sku, week
        )
        SELECT
            location_id,
            sku,
            {_weekly_variance("received", weeks)} AS received_weekly_variance,
            {_weekly_variance("placed", weeks)} AS placed_weekly_variance
        FROM weekly
        GROUP BY location_id, sku
        """
        ).df()


def _weekly_variance(flow: str, weeks: int) -> str:
    """SQL: the sample variance over ``weeks`` weeks of one flow's weekly sums (absent weeks
    count 0): (sum of squares - weeks x mean^2) / (weeks - 1)."""
    total = f"coalesce(sum(qty) FILTER (WHERE flow = '{flow}'), 0)"
    squares = f"coalesce(sum(qty * qty) FILTER (WHERE flow = '{flow}'), 0)"
    return f"({squares} - {total} * {total} / {int(weeks)}) / ({int(weeks)} - 1)"


def read_forecast_selection(con: duckdb.DuckDBPyConnection) -> Selection | None:
    """The model selection the last forecast run stored (``forecast.forecast_models``,
    ``forecast_calibration``, ``error_correlation``, ``forecast_accuracy``); None before the
    first run or when a table is missing."""
    from forecasting.selection import MODEL_COLUMNS, Selection

    tables = held_tables(con, "forecast")
    needed = {"forecast_models", "forecast_calibration", "error_correlation", "forecast_accuracy"}
    if not needed <= tables:
        return None
    calibration = read_table(con, "forecast", "forecast_calibration")
    if calibration.empty:
        return None

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        unique_id = frame["location_id"].astype(str) + SEP + frame["sku"].astype(str)
        return frame.drop(columns=["location_id", "sku", "run_date"]).assign(unique_id=unique_id)

    models = keyed(read_table(con, "forecast", "forecast_models"))
    return Selection(
        models=models[MODEL_COLUMNS],
        calibration=Selection.calibration_from(calibration),
        error_correlation=read_table(con, "forecast", "error_correlation").drop(columns="run_date"),
        accuracy=keyed(read_table(con, "forecast", "forecast_accuracy")),
        selected_on=pd.Timestamp(calibration["selected_on"].iloc[0]),
        settings=str(calibration["settings"].iloc[0]),
    )


def last_solve(con: duckdb.DuckDBPyConnection, run_date: dt.date):
    """The optimizer's last plan with what it was solved with (``optimization.reuse.LastSolve``),
    if the warehouse holds one made for ``run_date`` or an earlier day (a backfill of an
    earlier day solves everything); else None."""
    from optimization.reuse import LastSolve

    names = ["inventory_targets", "item_summary", "plan_basis", "plan_structure"]
    held = held_tables(con, "optimization")
    if not set(names) <= held:
        return None
    made = con.execute("SELECT max(run_date) FROM optimization.plan_structure").fetchall()[0][0]
    if made is None or made > run_date:
        return None
    frames = [
        fetch_frame(con, f"SELECT * EXCLUDE (run_date) FROM optimization.{name}").drop(
            columns="scenario", errors="ignore"
        )
        for name in names
    ]
    if "kind" not in frames[2].columns:  # a basis of lead-time demand alone: solve everything
        return None
    return LastSolve(*frames)
