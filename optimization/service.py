"""Service-level targets: cycle service levels and fill rates turned into safety factors z."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import ndtri
from scipy.stats import norm

from optimization.config import DEFAULT_SERVICE_LEVEL, SERVICE_LEVEL_RANGE

DEFAULT_SERVICE_TYPE = "cycle"
SCOPE_PRIORITY = ("item_location", "item", "location", "item_class", "default")


def loss_function(z: np.ndarray | float) -> np.ndarray:
    """Standard normal first-order loss G(z) = phi(z) - z (1 - Phi(z))."""
    z = np.asarray(z, dtype=float)
    return norm.pdf(z) - z * norm.sf(z)


def z_for_cycle_service(level: np.ndarray | float) -> np.ndarray:
    """z with P(demand over the protection interval <= mean + z sd) = level (scipy's
    ``ndtri``, what ``norm.ppf`` computes, without its per-call checks: ~50 us a call, and the
    optimizer calls it per item network)."""
    return ndtri(np.asarray(level, dtype=float))


def z_for_fill_rate(fill_rate: float, sd_protection: float, demand_per_cycle: float) -> float:
    """z such that expected units short per replenishment cycle sd G(z) = (1 - fill rate) x
    demand per cycle (both in units). Returns 0 where no stock is needed for the target."""
    if sd_protection <= 0:
        return 0.0
    target = (1.0 - fill_rate) * demand_per_cycle / sd_protection
    if target >= loss_function(0.0):
        return 0.0
    return float(brentq(lambda z: loss_function(z) - target, 0.0, 10.0))


def resolve_service_policy(nodes: pd.DataFrame, policy: pd.DataFrame | None) -> pd.DataFrame:
    """Service target per node: most specific matching rule wins.

    nodes: sku, location_id, item_class. policy: scope (item_location | item | location |
    item_class | default), sku, location_id, item_class, service_type (cycle | fill_rate),
    service_level (0-1). Returns nodes with service_type and service_level.
    """
    out = nodes.copy()
    out["service_type"] = DEFAULT_SERVICE_TYPE
    out["service_level"] = DEFAULT_SERVICE_LEVEL
    out["service_rule"] = f"default {DEFAULT_SERVICE_LEVEL:.0%} cycle service"
    if policy is None or policy.empty:
        return out
    keys = {
        "item_location": ["sku", "location_id"],
        "item": ["sku"],
        "location": ["location_id"],
        "item_class": ["item_class"],
        "default": [],
    }
    for scope in reversed(SCOPE_PRIORITY):  # least specific first, overwritten by more specific
        rules = policy[policy["scope"] == scope]
        if rules.empty:
            continue
        bad = ~rules["service_type"].isin(["cycle", "fill_rate"]) | ~rules["service_level"].between(
            *SERVICE_LEVEL_RANGE
        )
        if bad.any():
            row = rules[bad].iloc[0]
            raise ValueError(
                f"service policy rule {scope}: service_type must be cycle|fill_rate and service_level "
                f"in {list(SERVICE_LEVEL_RANGE)}, got {row['service_type']!r} {row['service_level']!r}"
            )
        if scope == "default":
            rule = rules.iloc[-1]
            mask = pd.Series(True, index=out.index)
        else:
            merged = out[keys[scope]].merge(
                rules[keys[scope] + ["service_type", "service_level"]].drop_duplicates(
                    keys[scope], keep="last"
                ),
                on=keys[scope],
                how="left",
            )
            mask = merged["service_level"].notna().to_numpy()
            out.loc[mask, "service_type"] = merged.loc[mask, "service_type"].to_numpy()
            out.loc[mask, "service_level"] = merged.loc[mask, "service_level"].to_numpy()
            out.loc[mask, "service_rule"] = f"{scope} rule"
            continue
        out.loc[mask, "service_type"] = rule["service_type"]
        out.loc[mask, "service_level"] = float(rule["service_level"])
        out.loc[mask, "service_rule"] = (
            f"default rule {float(rule['service_level']):.1%} {rule['service_type']}"
        )
    return out
