"""Bullwhip ratios against variances computed by hand."""

import numpy as np
import pandas as pd
import pytest

from simulation.bullwhip import bullwhip, weekly_variance


def _flows(node: str, weekly: list[float], end: pd.Timestamp) -> pd.DataFrame:
    """One flow per week, on the week's last day, the latest week ending at ``end``."""
    days = [end - pd.Timedelta(days=7 * k) for k in range(len(weekly))][::-1]
    return pd.DataFrame({"location_id": node, "sku": "A", "day": days, "qty": weekly})


def test_weekly_variance_counts_weeks_without_flow_as_zero():
    end = pd.Timestamp("2026-03-01")
    flows = _flows("S1", [4.0, 0.0, 8.0], end).query("qty > 0")  # the zero week absent
    variance = weekly_variance(flows, end, weeks=3).loc[("S1", "A")]
    assert variance == pytest.approx(np.var([4.0, 0.0, 8.0], ddof=1))


def test_orders_in_batches_amplify_demand_and_a_pass_through_does_not():
    end = pd.Timestamp("2026-03-01")
    rng = np.random.default_rng(0)
    demand = list(10 + rng.normal(0, 2, 52))
    batched = [sum(demand[k : k + 4]) if k % 4 == 0 else 0.0 for k in range(52)]  # 4-weekly
    received = pd.concat([_flows("S1", demand, end), _flows("S2", demand, end)])
    placed = pd.concat([_flows("S1", demand, end), _flows("S2", batched, end)])
    nodes = pd.DataFrame(
        {
            "location_id": ["S1", "S2"],
            "sku": "A",
            "location_type": "STORE",
            "demand_class": ["smooth", "lumpy"],
        }
    )
    out = bullwhip(received, placed, nodes, weeks=52).set_index("demand_class")
    assert out.loc["smooth", "median_ratio"] == pytest.approx(1.0)
    expected = np.var(batched, ddof=1) / np.var(demand, ddof=1)
    assert out.loc["lumpy", "pooled_ratio"] == pytest.approx(expected)
    assert expected > 10  # a month's demand in one week
