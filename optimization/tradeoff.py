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

from optimization.service import z_for_cycle_service
from optimization.targets import PlanningInputs, safety_stock_at_levels

DEFAULT_LEVELS = (0.90, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995)


def service_tradeoff(
    inputs: PlanningInputs, targets: pd.DataFrame, levels: Sequence[float] = DEFAULT_LEVELS
) -> pd.DataFrame:
    """Safety stock value (currency) of the GSM plan and of the single-echelon baseline per
    service level, with the marginal value of each step up. ``targets`` is the output of
    ``plan_targets(inputs)`` planned with one cycle-service level for all customer-facing
    nodes."""
    customer = targets[targets["is_customer_facing"]]
    planned = customer["service_level"].unique()
    if len(planned) != 1 or set(customer["service_type"]) != {"cycle"}:
        raise ValueError(
            "service_tradeoff needs one cycle-service level for every customer-facing node; "
            f"got levels {sorted(planned)} and types {sorted(set(customer['service_type']))}"
        )
    curve = safety_stock_at_levels(inputs, targets, levels)
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
