"""Service versus inventory: total safety stock value at a range of cycle-service targets.

With one cycle-service target for every customer-facing node, every stage's safety factor z is
the same. Each level is valued with the plan's own safety-stock model (``safety_stock_at_levels``:
normal or count-shaped per node, lead-time variability included) at the plan's service times:
for normal demand the cost table scales by z and those times stay optimal, so the curve is the
re-planned optimum; for count-shaped nodes it is today's placement valued at that level. A
mixed policy is refused: re-plan at each level instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from optimization.reuse import row_hashes
from optimization.service import z_for_cycle_service
from optimization.targets import PlanningInputs, safety_stock_at_levels

DEFAULT_LEVELS = (0.90, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995)
# columns of the plan that are not the plan: stamps of the table it was read from
STAMPS = ("run_date", "scenario")


def plan_fingerprints(targets: pd.DataFrame) -> pd.Series:
    """Per sku, a hash of its plan's rows (``targets`` without the STAMPS): equal exactly when
    the item's published plan is (an item that kept its last plan keeps its fingerprint)."""
    return row_hashes(targets.drop(columns=list(STAMPS), errors="ignore")).astype("uint64")


def tradeoff_by_item(
    inputs: PlanningInputs,
    targets: pd.DataFrame,
    levels: Sequence[float] = DEFAULT_LEVELS,
    last: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, int]:
    """Per item and service level the safety stock value (currency) of the GSM plan and of the
    single-echelon baseline (``safety_stock_at_levels``), with the item's plan_fingerprint;
    and how many items kept their rows from ``last``.

    ``targets``: ``plan_targets(inputs)`` planned with one cycle-service level for every
    customer-facing node. ``last``: the rows this function returned on an earlier run; an item
    whose plan is unchanged since (same fingerprint, same levels) keeps its rows there,
    valued with the inputs its plan was solved with, as its plan was: the items that kept
    their last plan (``optimization.reuse``) are not valued again."""
    customer = targets[targets["is_customer_facing"]]
    planned = customer["service_level"].unique()
    if len(planned) != 1 or set(customer["service_type"]) != {"cycle"}:
        raise ValueError(
            "service_tradeoff needs one cycle-service level for every customer-facing node; "
            f"got levels {sorted(planned)} and types {sorted(set(customer['service_type']))}"
        )
    fingerprints = plan_fingerprints(targets).rename("plan_fingerprint")
    kept = None
    if last is not None and len(last):
        last = last.drop(columns=list(STAMPS), errors="ignore")
        same = (
            last["plan_fingerprint"].astype("uint64").to_numpy()
            == fingerprints.reindex(last["sku"]).fillna(0).astype("uint64").to_numpy()
        )
        complete = (
            last[same].groupby("sku")["service_level"].agg(lambda v: sorted(v) == sorted(levels))
        )
        kept = last[last["sku"].isin(complete[complete].index) & same]
    fresh = sorted(set(fingerprints.index) - set(() if kept is None else kept["sku"]))
    valued = safety_stock_at_levels(
        inputs if kept is None else inputs.for_items(fresh), targets, levels
    )
    valued["plan_fingerprint"] = fingerprints.reindex(valued["sku"]).to_numpy()
    out = valued if kept is None or kept.empty else pd.concat([kept[valued.columns], valued])
    out["plan_fingerprint"] = out["plan_fingerprint"].astype("uint64")
    kept_items = 0 if kept is None else kept["sku"].nunique()
    return out.sort_values(["sku", "service_level"], ignore_index=True), kept_items


def service_tradeoff(
    inputs: PlanningInputs, targets: pd.DataFrame, levels: Sequence[float] = DEFAULT_LEVELS
) -> pd.DataFrame:
    """``tradeoff_curve`` of every item of ``inputs`` valued now (``tradeoff_by_item``)."""
    return tradeoff_curve(tradeoff_by_item(inputs, targets, levels)[0])


def tradeoff_curve(by_item: pd.DataFrame) -> pd.DataFrame:
    """Safety stock value (currency) of the GSM plan and of the single-echelon baseline per
    service level, with the marginal value of each step up: ``tradeoff_by_item``'s rows summed
    per level."""
    curve = (
        by_item.groupby("service_level", sort=True)[
            ["meio_safety_stock_value", "single_echelon_safety_stock_value"]
        ]
        .sum()
        .reset_index()
    )
    curve.insert(1, "safety_factor_z", z_for_cycle_service(curve["service_level"].to_numpy()))
    curve["saving_vs_single_echelon"] = (
        1 - curve["meio_safety_stock_value"] / curve["single_echelon_safety_stock_value"]
    )
    step = curve["service_level"].diff() * 100
    curve["meio_value_per_extra_point"] = curve["meio_safety_stock_value"].diff() / step
    curve["single_echelon_value_per_extra_point"] = (
        curve["single_echelon_safety_stock_value"].diff() / step
    )
    return curve


def empty_tradeoff() -> pd.DataFrame:
    """The curve's columns with no rows (published when the policy is mixed)."""
    columns = [
        "service_level",
        "safety_factor_z",
        "meio_safety_stock_value",
        "single_echelon_safety_stock_value",
        "saving_vs_single_echelon",
        "meio_value_per_extra_point",
        "single_echelon_value_per_extra_point",
    ]
    return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
