"""Planner actions from the inventory position against the published targets.

Quantities in units. Inventory position = on hand + in transit + on order - allocated -
backorders. Three kinds of action, each with its reason:
* replenish: position at or below the reorder point -> order up to the target stock level,
  rounded up to the lot size and at least the MOQ, from the node's inbound lane source;
* allocate: when a supplier node cannot fill every replenishment order of its customers from
  its available stock, share what it has so that every customer reaches the same fraction of
  its need (fair share), instead of first come, first served;
* redeploy: stock above the target at one node moved to a peer node of the same echelon below
  its reorder point, where a lane joins them and moving costs less than the stock it saves
  holding and the shortfall risk it removes (transfer cost per unit below the unit's value x
  holding rate x the days the peer would otherwise wait).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ACTION_COLUMNS = [
    "action",
    "sku",
    "from_location_id",
    "to_location_id",
    "quantity",
    "inventory_position",
    "reorder_point",
    "target_stock_level",
    "reason",
]


def _round_order(quantity: np.ndarray, lot: np.ndarray, moq: np.ndarray) -> np.ndarray:
    lot = np.clip(lot, 1, None)
    rounded = np.ceil(np.maximum(quantity, moq) / lot - 1e-9) * lot
    return np.where(quantity > 0, rounded, 0.0)


def _net_position(position: pd.DataFrame) -> pd.DataFrame:
    """sku, location_id, inventory_position net of backorders where the extract has them."""
    backorders = position.get("backorders", 0.0)
    return position.assign(inventory_position=position["inventory_position"] - backorders)[
        ["sku", "location_id", "inventory_position"]
    ]


def replenishment_orders(
    targets: pd.DataFrame, position: pd.DataFrame, item_network: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """One order per node at or below its reorder point (targets x position x lanes x items)."""
    plan = targets[["sku", "location_id", "reorder_point", "target_stock_level"]].merge(
        _net_position(position), on=["sku", "location_id"], how="left"
    )
    plan["inventory_position"] = plan["inventory_position"].fillna(0.0)
    source = item_network.rename(
        columns={"destination_location_id": "location_id", "source_location_id": "from_location_id"}
    )
    source = source.sort_values("from_location_id").drop_duplicates(["sku", "location_id"])
    plan = plan.merge(
        source[["sku", "location_id", "from_location_id"]], on=["sku", "location_id"], how="left"
    )
    plan = plan.merge(items[["sku", "lot_size", "moq"]], on="sku", how="left")
    due = plan[plan["inventory_position"] <= plan["reorder_point"]].copy()
    need = due["target_stock_level"] - due["inventory_position"]
    due["quantity"] = _round_order(
        need.to_numpy(float), due["lot_size"].to_numpy(float), due["moq"].to_numpy(float)
    )
    due = due[due["quantity"] > 0]
    due["action"] = "replenish"
    due["to_location_id"] = due["location_id"]
    due["reason"] = [
        f"Position {p:g} is at or below the reorder point {r:g}; order {q:g} from {s} to reach the target {t:g}"
        f" (lot {lot:g}, MOQ {m:g})."
        for p, r, q, s, t, lot, m in zip(
            due["inventory_position"],
            due["reorder_point"],
            due["quantity"],
            due["from_location_id"],
            due["target_stock_level"],
            due["lot_size"],
            due["moq"],
            strict=True,
        )
    ]
    return due[ACTION_COLUMNS].reset_index(drop=True)


def fair_share(available: float, needs: np.ndarray) -> np.ndarray:
    """Split ``available`` units so each need gets the same fraction of itself (whole units,
    largest remainders first). Needs <= 0 get nothing."""
    needs = np.clip(np.asarray(needs, dtype=float), 0, None)
    total = needs.sum()
    if total <= 0 or available <= 0:
        return np.zeros_like(needs)
    if available >= total:
        return needs.copy()
    exact = needs * available / total
    share = np.floor(exact)
    left = int(round(available - share.sum()))
    order = np.argsort(-(exact - share), kind="stable")
    share[order[:left]] += 1
    return share


def allocate_constrained_supply(orders: pd.DataFrame, position: pd.DataFrame) -> pd.DataFrame:
    """Cut internal replenishment orders to what the supplier node has available (on hand -
    allocated), shared fairly by need, with the reason on every cut order."""
    if orders.empty:
        return orders
    stock = position.assign(available=(position["on_hand"] - position["allocated"]).clip(lower=0))
    stock = stock.set_index(["location_id", "sku"])["available"]
    out = []
    for (source, sku), group in orders.groupby(["from_location_id", "sku"], sort=False):
        group = group.copy()
        if (source, sku) not in stock.index:
            out.append(group)  # external supplier: not constrained here
            continue
        available = float(stock.loc[(source, sku)])
        need = group["quantity"].to_numpy(float)
        if need.sum() <= available:
            out.append(group)
            continue
        share = fair_share(available, need)
        group["reason"] = [
            f"{r} {source} has {available:g} available for {need.sum():g} ordered: allocated {s:g} of {n:g}"
            f" ({s / n:.0%}, fair share by need)."
            for r, s, n in zip(group["reason"], share, need, strict=True)
        ]
        group["quantity"] = share
        group["action"] = "allocate"
        out.append(group[group["quantity"] > 0])
    return pd.concat(out, ignore_index=True)


def redeployments(
    targets: pd.DataFrame,
    position: pd.DataFrame,
    item_network: pd.DataFrame,
    holding_rate_per_year: float = 0.25,
) -> pd.DataFrame:
    """Excess above target at a node moved to a peer (same location type) below its reorder
    point, where a lane joins them and the transfer costs less than waiting."""
    plan = targets.merge(_net_position(position), on=["sku", "location_id"], how="left")
    plan["inventory_position"] = plan["inventory_position"].fillna(0.0)
    plan["excess"] = (plan["inventory_position"] - plan["target_stock_level"]).clip(lower=0)
    plan["shortfall"] = (plan["reorder_point"] - plan["inventory_position"]).clip(lower=0)
    lanes = item_network.merge(
        plan[["sku", "location_id", "location_type", "excess", "unit_value"]].rename(
            columns={"location_id": "source_location_id"}
        ),
        on=["sku", "source_location_id"],
    ).merge(
        plan[
            [
                "sku",
                "location_id",
                "location_type",
                "shortfall",
                "reorder_point",
                "target_stock_level",
                "inventory_position",
                "processing_time_days",
            ]
        ].rename(columns={"location_id": "destination_location_id", "location_type": "peer_type"}),
        on=["sku", "destination_location_id"],
    )
    lanes = lanes[
        (lanes["location_type"] == lanes["peer_type"])
        & (lanes["excess"] > 0)
        & (lanes["shortfall"] > 0)
    ]
    waiting_cost = lanes["unit_value"] * holding_rate_per_year / 365 * lanes["processing_time_days"]
    lanes = lanes[lanes["transfer_cost"] < waiting_cost]
    rows = []
    remaining = {}
    for lane in lanes.sort_values("shortfall", ascending=False).itertuples(index=False):
        key = (lane.sku, lane.source_location_id)
        left = remaining.setdefault(key, lane.excess)
        quantity = float(np.floor(min(left, lane.shortfall)))
        if quantity <= 0:
            continue
        remaining[key] = left - quantity
        rows.append(
            {
                "action": "redeploy",
                "sku": lane.sku,
                "from_location_id": lane.source_location_id,
                "to_location_id": lane.destination_location_id,
                "quantity": quantity,
                "inventory_position": lane.inventory_position,
                "reorder_point": lane.reorder_point,
                "target_stock_level": lane.target_stock_level,
                "reason": (
                    f"{lane.source_location_id} holds {lane.excess:g} above its target; {lane.destination_location_id} is "
                    f"{lane.shortfall:g} below its reorder point. Moving {quantity:g} costs {lane.transfer_cost:g}/unit, "
                    f"less than waiting {lane.processing_time_days:g} d for replenishment."
                ),
            }
        )
    return pd.DataFrame(rows, columns=ACTION_COLUMNS)


def plan_actions(
    targets: pd.DataFrame,
    position: pd.DataFrame,
    item_network: pd.DataFrame,
    items: pd.DataFrame,
    holding_rate_per_year: float = 0.25,
) -> pd.DataFrame:
    """Redeployments first (they use stock already in the network), then replenishment orders
    for what is still short, cut fairly where an internal supplier cannot fill them."""
    moves = redeployments(targets, position, item_network, holding_rate_per_year)
    moved_in = moves.groupby(["sku", "to_location_id"])["quantity"].sum()
    moved_out = moves.groupby(["sku", "from_location_id"])["quantity"].sum()
    adjusted = position.copy()
    key = list(zip(adjusted["sku"], adjusted["location_id"], strict=True))
    adjusted["inventory_position"] = (
        adjusted["inventory_position"]
        + pd.Series(key).map(moved_in).fillna(0.0).to_numpy()
        - pd.Series(key).map(moved_out).fillna(0.0).to_numpy()
    )
    orders = replenishment_orders(targets, adjusted, item_network, items)
    orders = allocate_constrained_supply(orders, position)
    parts = [frame for frame in (moves, orders) if not frame.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ACTION_COLUMNS)
