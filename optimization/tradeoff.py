"""Service versus inventory: total safety stock value at a range of cycle-service targets.

With one cycle-service target for every customer-facing node, every stage's safety factor z is
the same, so the GSM cost table scales by z and the optimal service times do not move: the
safety stock of every node (GSM and single-echelon alike) scales by z(level) / z(planned level).
The curve is exact under that assumption; for a mixed policy, re-plan at each level instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from optimization.service import z_for_cycle_service

DEFAULT_LEVELS = (0.90, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995)


def service_tradeoff(
    targets: pd.DataFrame, levels: Sequence[float] = DEFAULT_LEVELS
) -> pd.DataFrame:
    """Safety stock value (currency) of the GSM plan and of the single-echelon baseline per
    service level, with the marginal value of each step up. ``targets`` is the output of
    ``plan_targets`` planned with one cycle-service level for all customer-facing nodes."""
    customer = targets[targets["is_customer_facing"]]
    planned = customer["service_level"].unique()
    if len(planned) != 1 or set(customer["service_type"]) != {"cycle"}:
        raise ValueError(
            "service_tradeoff needs one cycle-service level for every customer-facing node; "
            f"got levels {sorted(planned)} and types {sorted(set(customer['service_type']))}"
        )
    z_planned = float(z_for_cycle_service(planned[0]))
    meio = float(targets["safety_stock_value"].sum())
    baseline = float(targets["baseline_safety_stock_value"].sum())
    rows = []
    for level in levels:
        scale = float(z_for_cycle_service(level)) / z_planned
        rows.append(
            {
                "service_level": level,
                "safety_factor_z": float(z_for_cycle_service(level)),
                "meio_safety_stock_value": meio * scale,
                "single_echelon_safety_stock_value": baseline * scale,
            }
        )
    curve = pd.DataFrame(rows)
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
