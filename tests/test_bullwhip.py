"""Bullwhip ratios of history against variances computed by hand, from mart tables."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from marts.reads import history_weekly_variances
from simulation.bullwhip import bullwhip

END = pd.Timestamp("2026-03-01")


def _weeks(node: str, weekly: list[float]) -> pd.DataFrame:
    """One flow per week on the week's last day, the latest week ending at END; zero weeks
    absent, as the marts leave them."""
    days = [END - pd.Timedelta(days=7 * k) for k in range(len(weekly))][::-1]
    frame = pd.DataFrame({"location_id": node, "sku": "A", "day": days, "qty": weekly})
    return frame[frame["qty"] > 0]


def _marts(demand: pd.DataFrame, transfers: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """The mart tables ``history_weekly_variances`` reads: customer demand, transfers (source
    ships to destination), a plant's receipts (none here)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.register("demand", demand)
    con.register("transfers", transfers)
    con.execute(
        "CREATE TABLE marts.fct_customer_demand_daily AS SELECT location_id, sku, "
        "CAST(day AS DATE) AS demand_date, qty AS demand_qty FROM demand"
    )
    con.execute(
        "CREATE TABLE marts.fct_internal_transfers_daily AS SELECT source_location_id, "
        "destination_location_id, sku, CAST(day AS DATE) AS ship_date, qty AS shipped_qty "
        "FROM transfers"
    )
    con.execute(
        "CREATE TABLE marts.fct_receipts_daily (location_id VARCHAR, sku VARCHAR, "
        "receipt_date DATE, quantity DOUBLE)"
    )
    con.execute(
        "CREATE TABLE marts.dim_locations AS SELECT * FROM (VALUES ('S1', 'STORE'), "
        "('S2', 'STORE'), ('DC', 'DC')) AS t(location_id, location_type)"
    )
    return con


def test_weekly_variance_counts_weeks_without_flow_as_zero_and_older_weeks_not():
    demand = _weeks("S1", [100.0, 4.0, 0.0, 8.0])  # the first week is older than 3
    con = _marts(
        demand, _weeks("S1", []).assign(source_location_id="DC", destination_location_id="S1")
    )
    variances = history_weekly_variances(con, weeks=3).set_index("location_id")
    assert variances.loc["S1", "received_weekly_variance"] == pytest.approx(
        np.var([4.0, 0.0, 8.0], ddof=1)
    )
    assert variances.loc["S1", "placed_weekly_variance"] == 0.0


def test_orders_in_batches_amplify_demand_and_a_pass_through_does_not():
    rng = np.random.default_rng(0)
    demand = list(10 + rng.normal(0, 2, 52))
    batched = [sum(demand[k : k + 4]) if k % 4 == 0 else 0.0 for k in range(52)]  # 4-weekly
    customers = pd.concat([_weeks("S1", demand), _weeks("S2", demand)])
    shipped = pd.concat([_weeks("S1", demand), _weeks("S2", batched)]).rename(
        columns={"location_id": "destination_location_id"}
    )
    con = _marts(customers, shipped.assign(source_location_id="DC"))
    nodes = pd.DataFrame(
        {
            "location_id": ["S1", "S2", "DC"],
            "sku": "A",
            "location_type": ["STORE", "STORE", "DC"],
            "demand_class": ["smooth", "lumpy", None],
        }
    )
    out = bullwhip(nodes, history_weekly_variances(con, weeks=52), 52).set_index("demand_class")
    assert out.loc["smooth", "median_ratio"] == pytest.approx(1.0)
    expected = np.var(batched, ddof=1) / np.var(demand, ddof=1)
    assert out.loc["lumpy", "pooled_ratio"] == pytest.approx(expected)
    assert expected > 10  # a month's demand in one week
    # the DC received what it shipped (both stores' replenishment) and placed nothing
    assert out.loc["all", "nodes"] == 1
    assert out.loc["all", "pooled_ratio"] == 0.0
