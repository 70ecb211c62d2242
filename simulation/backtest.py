"""Historical backtest: the plan the pipeline would have published at a past cutoff, replayed
against the demand that really came next, next to the inventory the history really held.

Units: days, units, currency. The history's inventory is reconstructed per customer-facing
node from today's on-hand snapshot backwards: on hand at the end of day t = on hand at the
snapshot - receipts after t + customer demand (net of returns) after t, clipped at 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from forecasting.config import ForecastConfig
from forecasting.nodes import forecast_nodes
from optimization.config import PlanningConfig
from optimization.targets import PlanningInputs, plan_targets
from simulation.monte_carlo import (
    PLAN_COLUMNS,
    SimulationConfig,
    daily_matrix,
    plan_nodes,
    simulate,
)


def actual_inventory(
    keys: pd.DataFrame,
    on_hand: pd.DataFrame,
    receipts: pd.DataFrame,
    demand: pd.DataFrame,
    start: dt.date,
    end: dt.date,
) -> pd.DataFrame:
    """Average on hand and share of days ending with stock per node over ``start..end``.

    on_hand: location_id, sku, snapshot_date, on_hand (the latest snapshot, on or after end);
    receipts: location_id, sku, receipt_date, quantity; demand: location_id, sku, demand_date,
    demand_qty (net of returns).
    """
    snapshot = pd.Timestamp(on_hand["snapshot_date"].max())
    days = pd.date_range(pd.Timestamp(start), snapshot, freq="D")
    received = daily_matrix(receipts, "quantity", "receipt_date", keys, days)
    sold = daily_matrix(demand, "demand_qty", "demand_date", keys, days)
    now = (
        on_hand.set_index(["location_id", "sku"])["on_hand"]
        .reindex(pd.MultiIndex.from_frame(keys[["location_id", "sku"]]))
        .fillna(0.0)
        .to_numpy(float)
    )
    # end of day t = now - flows of the days after t
    after = np.cumsum((received - sold)[::-1], axis=0)[::-1]
    level = now[None, :] - np.vstack([after[1:], np.zeros((1, len(keys)))])
    level = np.clip(level, 0.0, None)[: (pd.Timestamp(end) - pd.Timestamp(start)).days + 1]
    return pd.DataFrame(
        {
            "actual_average_on_hand": level.mean(axis=0),
            "actual_in_stock_day_share": (level > 0).mean(axis=0),
        }
    )


def stratified_items(classes: pd.DataFrame, max_items: int, seed: int = 0) -> list[str]:
    """Items to re-plan: all when there are at most ``max_items``; else a random sample
    stratified by each item's most common demand class (classes: sku, demand_class, one row
    per node class), every class keeping at least min(its items, 10) and the rest of the
    limit shared in proportion to the items left in each class. Sorted."""
    dominant = (
        classes.groupby(["sku", "demand_class"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["sku", "n", "demand_class"], ascending=[True, False, True])
        .drop_duplicates("sku")
    )
    if len(dominant) <= max_items:
        return sorted(dominant["sku"])
    rng = np.random.default_rng(seed)
    share = dominant["demand_class"].value_counts()
    minimum = np.minimum(share, 10)
    left = share - minimum
    extra = np.floor(left / max(left.sum(), 1) * max(max_items - minimum.sum(), 0))
    quota = minimum + extra
    picked = []
    for demand_class, n in quota.astype(int).items():
        pool = np.sort(dominant.loc[dominant["demand_class"] == demand_class, "sku"].to_numpy())
        picked += list(rng.choice(pool, size=min(n, len(pool)), replace=False))
    return sorted(picked)


def replan(
    inputs: PlanningInputs,
    history: pd.DataFrame,
    forecast: ForecastConfig,
    planning: PlanningConfig,
    items: list[str] | None = None,
) -> tuple[PlanningInputs, pd.DataFrame]:
    """The plan the pipeline would have published from customer demand ``history`` (buckets
    of ``forecast.bucket_days`` up to a past cutoff) with today's lanes, lead times and policy
    in ``inputs``, for ``items`` only where given. Returns (the inputs as of the cutoff: their
    lead-time demand and customer nodes re-forecast, the targets)."""
    inputs = PlanningInputs(**vars(inputs))  # the caller's frames stay as they were
    if items is not None:
        keep = set(items)
        inputs.item_network = inputs.item_network[inputs.item_network["sku"].isin(keep)]
        inputs.items = inputs.items[inputs.items["sku"].isin(keep)]
        inputs.customer_nodes = inputs.customer_nodes[inputs.customer_nodes["sku"].isin(keep)]
        history = history[history["sku"].isin(keep)]
    customers = inputs.customer_nodes[["location_id", "sku"]]
    forecasts = forecast_nodes(history, inputs.item_network, customers, forecast)
    inputs.lead_time_demand = forecasts.lead_time_demand
    inputs.customer_nodes = forecasts.models.rename(columns={"demand_class": "item_class"})[
        ["location_id", "sku", "item_class"]
    ].merge(customers, on=["location_id", "sku"])
    targets, _ = plan_targets(inputs, planning)
    return inputs, targets


def replay(
    inputs: PlanningInputs,
    targets: pd.DataFrame,
    daily: pd.DataFrame,
    days: pd.DatetimeIndex,
    replications: int,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """The plan's policy (reorder point, target, lot, MOQ) against the customer demand of
    ``days`` as it came (``daily``: location_id, sku, demand_date, demand_qty); lead times drawn
    per replication, the warm-up from the forecast's model. One row per node of ``targets``.
    ``progress`` is told after each round of replications how many ran."""
    nodes = plan_nodes(
        targets, inputs.item_network, inputs.lane_lead_times, inputs.lead_time_demand
    )
    actual = daily_matrix(daily, "demand_qty", "demand_date", targets, days)
    result = simulate(
        nodes,
        SimulationConfig(days=len(days), replications=replications, seed=0, demand="gaussian"),
        actual_demand=actual,
        progress=progress,
    )
    keys = targets[PLAN_COLUMNS].reset_index(drop=True)
    return pd.concat([keys, result.drop(columns="node")], axis=1)


def backtest_day(
    inputs: PlanningInputs,
    history: pd.DataFrame,
    day: dt.date,
    *,
    holdout_days: int,
    daily: pd.DataFrame,
    on_hand: pd.DataFrame,
    receipts: pd.DataFrame,
    replications: int,
    forecast: ForecastConfig,
    planning: PlanningConfig,
) -> pd.DataFrame:
    """One day's backtest: the plan re-made ``holdout_days`` before ``day`` (from ``history``,
    the customer buckets known then) replayed against the demand that came, per
    customer-facing node, next to the inventory really held. ``daily`` demand and
    ``receipts`` (location_id, sku, receipt_date, quantity) from (at least) the cutoff on;
    ``on_hand`` the latest snapshot the stock history walks back from."""
    cutoff = day - dt.timedelta(days=holdout_days)
    inputs, targets = replan(inputs, history, forecast, planning)
    daily = daily[daily["demand_date"] > pd.Timestamp(cutoff)]
    receipts = receipts[receipts["receipt_date"] > pd.Timestamp(cutoff)]
    days = pd.date_range(pd.Timestamp(cutoff) + pd.Timedelta(days=1), pd.Timestamp(day))
    result = replay(inputs, targets, daily, days, replications).drop(
        columns=["service_type", "service_level", "demand_class"]
    )
    stores = result["is_customer_facing"].to_numpy()
    held = actual_inventory(
        targets.loc[stores, ["location_id", "sku"]].reset_index(drop=True),
        on_hand,
        receipts,
        daily,
        days[0].date(),
        day,
    )
    result = result[stores].reset_index(drop=True).join(held)
    return result.assign(
        plan_date=cutoff,
        days=len(days),
        average_on_hand_value=result["average_on_hand"] * result["unit_value"],
        actual_average_on_hand_value=result["actual_average_on_hand"] * result["unit_value"],
    )
