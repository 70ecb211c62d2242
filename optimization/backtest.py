"""Historical backtest: the plan the pipeline would have published at a past cutoff, replayed
against the demand that really came next, next to the inventory the history really held.

Units: days, units, currency. The history's inventory is reconstructed per customer-facing
node from today's on-hand snapshot backwards: on hand at the end of day t = on hand at the
snapshot - receipts after t + customer demand (net of returns) after t, clipped at 0.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def daily_matrix(
    frame: pd.DataFrame, value: str, date_column: str, keys: pd.DataFrame, days: pd.DatetimeIndex
) -> np.ndarray:
    """(days, nodes) matrix of ``value`` summed per (location_id, sku) and day; 0 where absent."""
    dates = pd.to_datetime(frame[date_column])
    inside = frame[(dates >= days[0]) & (dates <= days[-1])]
    table = inside.assign(day=pd.to_datetime(inside[date_column])).pivot_table(
        index="day", columns=["location_id", "sku"], values=value, aggfunc="sum", fill_value=0.0
    )
    columns = pd.MultiIndex.from_frame(keys[["location_id", "sku"]])
    return table.reindex(index=days, columns=columns, fill_value=0.0).fillna(0.0).to_numpy(float)


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
