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

COLUMNS = ["location_type", "demand_class", "nodes", "median_ratio", "pooled_ratio", "weeks"]


def bullwhip(nodes: pd.DataFrame, variances: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """``bullwhip_of_variances``' table for ``nodes`` (location_id, sku, location_type,
    demand_class) from their weekly variances (``variances``: location_id, sku,
    received_weekly_variance, placed_weekly_variance; of history: ``marts.reads.
    history_weekly_variances``, of a simulation: its rows); a node without a row did not vary."""
    measured = ["received_weekly_variance", "placed_weekly_variance"]
    table = nodes.merge(
        variances[["location_id", "sku", *measured]], on=["location_id", "sku"], how="left"
    )
    return bullwhip_of_variances(table.fillna({name: 0.0 for name in measured}), weeks)


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
