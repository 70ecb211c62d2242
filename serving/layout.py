"""Where each location sits in a picture of the network: one layout and one echelon order for
the planner report and the Dagster metadata pictures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from extracts.contract import LOCATION_TYPES

# echelons left to right in the network's order (the contract's location types), everywhere
ECHELON_X = {location_type: k for k, location_type in enumerate(LOCATION_TYPES)}


def network_layout(network: pd.DataFrame, locations: pd.DataFrame) -> pd.DataFrame:
    """Positions of ``locations`` (location_id, location_type): x the echelon, y such that no
    two locations of a layer are closer than 1 and each sits near what it supplies.

    Layers are ordered top-down (a location after those whose parents come first, so a DC's
    stores sit together), the widest layer is spaced evenly, and every other layer takes the
    mean height of the locations it ships to (or, below the widest, of its suppliers), pushed
    apart where closer than 1. ``network``: source_location_id, destination_location_id."""
    nodes = locations.drop_duplicates("location_id").copy()
    nodes["x"] = nodes["location_type"].map(ECHELON_X)
    lanes = network[["source_location_id", "destination_location_id"]].drop_duplicates()
    lanes = lanes[
        lanes["source_location_id"].isin(nodes["location_id"])
        & lanes["destination_location_id"].isin(nodes["location_id"])
    ]
    rank: dict[str, float] = {}
    for _, layer in nodes.groupby("x", sort=True):
        parents = lanes[lanes["destination_location_id"].isin(layer["location_id"])]
        mean_parent = (
            parents.assign(r=parents["source_location_id"].map(rank))
            .groupby("destination_location_id")["r"]
            .mean()
        )
        order = layer.assign(key=layer["location_id"].map(mean_parent).fillna(-1.0)).sort_values(
            ["key", "location_id"]
        )
        rank.update({loc: float(k) for k, loc in enumerate(order["location_id"])})
    nodes["rank"] = nodes["location_id"].map(rank)
    y: dict[str, float] = {}
    sizes = nodes.groupby("x").size()
    widest = int(sizes.idxmax())
    layer = nodes[nodes["x"] == widest].sort_values("rank")
    y.update(dict(zip(layer["location_id"], layer["rank"] - (len(layer) - 1) / 2, strict=True)))
    above = sorted((x for x in sizes.index if x < widest), reverse=True)
    below = sorted(x for x in sizes.index if x > widest)
    for x, near, far in [(x, "destination_location_id", "source_location_id") for x in above] + [
        (x, "source_location_id", "destination_location_id") for x in below
    ]:
        layer = nodes[nodes["x"] == x].sort_values("rank")
        linked = lanes[lanes[far].isin(layer["location_id"]) & lanes[near].isin(y)]
        wanted = linked.assign(h=linked[near].map(y)).groupby(far)["h"].mean()
        heights = layer["location_id"].map(wanted).to_numpy(dtype=float)
        fallback = layer["rank"].to_numpy(dtype=float) - (len(layer) - 1) / 2
        wanted_heights = np.where(np.isnan(heights), fallback, heights)
        order = np.argsort(wanted_heights, kind="stable")
        heights = wanted_heights[order]
        for k in range(1, len(heights)):  # in the wanted order, at least 1 apart
            heights[k] = max(heights[k], heights[k - 1] + 1.0)
        heights += wanted_heights.mean() - heights.mean()  # centred where they wanted to be
        ids = layer["location_id"].to_numpy()[order]
        y.update(dict(zip(ids, heights, strict=True)))
    nodes["y"] = nodes["location_id"].map(y)
    return nodes.drop(columns="rank").sort_values(["x", "y"], ignore_index=True)


def network_nodes(targets: pd.DataFrame, network: pd.DataFrame) -> pd.DataFrame:
    """Every location of the plan and the suppliers feeding it, laid out (``network_layout``),
    with the safety stock value each holds summed over items (currency; suppliers hold 0).
    ``targets``: location_id, location_type, safety_stock_value; ``network``: the item network's
    lanes (source_location_id, source_location_type, destination_location_id)."""
    held = targets.groupby(["location_id", "location_type"], as_index=False)[
        "safety_stock_value"
    ].sum()
    suppliers = network.loc[
        network["source_location_type"] == "SUPPLIER", "source_location_id"
    ].unique()
    nodes = pd.concat(
        [
            held,
            pd.DataFrame(
                {"location_id": suppliers, "location_type": "SUPPLIER", "safety_stock_value": 0.0}
            ),
        ],
        ignore_index=True,
    ).drop_duplicates("location_id")
    where = network_layout(network, nodes[["location_id", "location_type"]])
    return where.merge(nodes[["location_id", "safety_stock_value"]], on="location_id")
