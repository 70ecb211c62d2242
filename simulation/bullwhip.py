"""Bullwhip per echelon and demand class: how much more the orders a node places upstream vary
than the demand it receives. Ratio of the variances of weekly sums (units per week) over the
same weeks: 1 passes demand on as it came, above 1 amplifies it (batching, over-reaction).

From history: a store receives its customers' demand; a DC or plant receives the transfers it
ships to the nodes it serves. A node places upstream the transfers shipped to it (its
replenishment), the plant its receipts from suppliers. From the simulated plan
(``simulation.monte_carlo``): a node receives its customers' demand or its children's orders
and places its own orders, as the published policy makes them.
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


COLUMNS = ["location_type", "demand_class", "nodes", "median_ratio", "pooled_ratio", "weeks"]


def bullwhip(
    received: pd.DataFrame, placed: pd.DataFrame, nodes: pd.DataFrame, weeks: int = 52
) -> pd.DataFrame:
    """From history (``received``, ``placed``: location_id, sku, day, qty) over the ``weeks``
    whole weeks ending at the latest day received: ``bullwhip_of_variances``' table."""
    if received.empty:
        return pd.DataFrame(columns=COLUMNS)
    end = pd.to_datetime(received["day"]).max()
    keys = pd.MultiIndex.from_frame(nodes[["location_id", "sku"]])
    table = nodes.assign(
        received_weekly_variance=weekly_variance(received, end, weeks)
        .reindex(keys)
        .fillna(0)
        .to_numpy(),
        placed_weekly_variance=weekly_variance(placed, end, weeks)
        .reindex(keys)
        .fillna(0)
        .to_numpy(),
    )
    return bullwhip_of_variances(table, weeks)


def bullwhip_of_variances(nodes: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """Per location type x demand class (``nodes``: location_id, sku, location_type,
    demand_class (none for internal nodes: "all"), received_weekly_variance,
    placed_weekly_variance, units^2): nodes measured, the median of the nodes' ratios and the
    pooled ratio (sum of placed variances over sum of received variances); ``weeks`` measured.
    Nodes whose received demand did not vary are left out."""
    table = nodes.assign(demand_class=nodes["demand_class"].fillna("all"))  # internal nodes
    table = table[table["received_weekly_variance"] > 1e-12]
    table = table.assign(ratio=table["placed_weekly_variance"] / table["received_weekly_variance"])
    out = (
        table.groupby(["location_type", "demand_class"])
        .agg(
            nodes=("ratio", "size"),
            median_ratio=("ratio", "median"),
            placed=("placed_weekly_variance", "sum"),
            received=("received_weekly_variance", "sum"),
        )
        .reset_index()
    )
    out["pooled_ratio"] = np.where(out["received"] > 0, out["placed"] / out["received"], np.nan)
    return out.assign(weeks=weeks)[COLUMNS]
