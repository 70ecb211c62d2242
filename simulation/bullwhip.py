"""Bullwhip per echelon and demand class: how much more the orders a node places upstream vary
than the demand it receives. Ratio of the variances of weekly sums (units per week) over the
same weeks: 1 passes demand on as it came, above 1 amplifies it (batching, over-reaction).

From history: a store receives its customers' demand; a DC or plant receives the transfers it
ships to the nodes it serves. A node places upstream the transfers shipped to it (its
replenishment), the plant its receipts from suppliers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEK = 7


def weekly_variance(flows: pd.DataFrame, end: pd.Timestamp, weeks: int) -> pd.Series:
    """Sample variance (units^2) of each node's weekly sums of ``flows`` (location_id, sku,
    day, qty) over the ``weeks`` whole weeks ending at ``end``; weeks without a flow count 0."""
    day = pd.to_datetime(flows["day"])
    back = ((end - day).dt.days // WEEK).to_numpy()
    inside = (back >= 0) & (back < weeks)
    frame = flows[inside].assign(week=back[inside])
    sums = frame.groupby(["location_id", "sku", "week"])["qty"].sum()
    per_node = sums.groupby(level=["location_id", "sku"])
    total, squares = per_node.sum(), (sums**2).groupby(level=["location_id", "sku"]).sum()
    mean = total / weeks
    return (squares - weeks * mean**2) / (weeks - 1)


def bullwhip(
    received: pd.DataFrame, placed: pd.DataFrame, nodes: pd.DataFrame, weeks: int = 52
) -> pd.DataFrame:
    """Per location type x demand class (``nodes``: location_id, sku, location_type,
    demand_class, none for internal nodes: "all"): nodes measured, the median of the nodes' ratios and the pooled ratio (sum
    of placed variances over sum of received variances), over the ``weeks`` whole weeks
    ending at the latest day received. Nodes whose received demand did not vary are left out."""
    columns = ["location_type", "demand_class", "nodes", "median_ratio", "pooled_ratio", "weeks"]
    if received.empty:
        return pd.DataFrame(columns=columns)
    end = pd.to_datetime(received["day"]).max()
    nodes = nodes.assign(demand_class=nodes["demand_class"].fillna("all"))  # internal nodes
    keys = pd.MultiIndex.from_frame(nodes[["location_id", "sku"]])
    table = nodes.assign(
        received_variance=weekly_variance(received, end, weeks).reindex(keys).fillna(0).to_numpy(),
        placed_variance=weekly_variance(placed, end, weeks).reindex(keys).fillna(0).to_numpy(),
    )
    table = table[table["received_variance"] > 1e-12]
    table = table.assign(ratio=table["placed_variance"] / table["received_variance"])
    out = (
        table.groupby(["location_type", "demand_class"])
        .agg(
            nodes=("ratio", "size"),
            median_ratio=("ratio", "median"),
            placed=("placed_variance", "sum"),
            received=("received_variance", "sum"),
        )
        .reset_index()
    )
    out["pooled_ratio"] = np.where(out["received"] > 0, out["placed"] / out["received"], np.nan)
    return out.assign(weeks=weeks)[columns]
