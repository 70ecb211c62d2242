"""Solve only what changed: items whose inputs stayed within the tolerance keep their plan."""

from dataclasses import replace

import numpy as np
import pandas as pd
from planning_inputs import several_items

from optimization.config import PlanningConfig
from optimization.reuse import LastSolve, plan_reusing
from optimization.targets import plan_targets


def _last(planned) -> LastSolve:
    return LastSolve(planned.targets, planned.summary, planned.basis, planned.structure)


def _scaled(planning, sku: str, factor: float):
    demand = planning.lead_time_demand.copy()
    mine = demand["sku"] == sku
    demand.loc[mine, ["mean", "sd"]] *= factor
    return replace(planning, lead_time_demand=demand)


def test_first_run_solves_everything_and_equals_plan_targets():
    planning = several_items(3)
    planned = plan_reusing(planning, PlanningConfig(), None)
    targets, summary = plan_targets(planning)
    assert planned.reused == [] and planned.solved == ["I0", "I1", "I2"]
    pd.testing.assert_frame_equal(planned.targets, targets)
    pd.testing.assert_frame_equal(planned.summary, summary)


def test_an_item_within_the_tolerance_keeps_its_plan_one_beyond_is_solved_again():
    planning = several_items(3)
    config = PlanningConfig(reuse_tolerance=0.01)
    first = plan_reusing(planning, config, None)
    moved = _scaled(_scaled(planning, "I1", 1.005), "I2", 1.05)  # I1 within 1%, I2 beyond
    second = plan_reusing(moved, config, _last(first))
    assert second.reused == ["I0", "I1"] and second.solved == ["I2"]
    fresh, _ = plan_targets(moved)
    kept = second.targets["sku"].isin(["I0", "I1"])
    pd.testing.assert_frame_equal(
        second.targets[kept].reset_index(drop=True),
        first.targets[first.targets["sku"].isin(["I0", "I1"])].reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(
        second.targets[~kept].reset_index(drop=True),
        fresh[fresh["sku"] == "I2"].reset_index(drop=True),
    )
    # I1 kept the basis it was solved with: another 0.6% (1.1% in all) re-solves it
    third = plan_reusing(_scaled(moved, "I1", 1.006), config, _last(second))
    assert third.solved == ["I1"]


def test_a_changed_structure_or_setting_re_solves_and_zero_tolerance_solves_all():
    planning = several_items(2)
    config = PlanningConfig()
    first = plan_reusing(planning, config, None)
    items = planning.items.copy()
    items.loc[items["sku"] == "I0", "unit_cost"] *= 1.001  # any change of cost counts
    assert plan_reusing(replace(planning, items=items), config, _last(first)).solved == ["I0"]
    longer = replace(config, order_cycle_days=14)
    assert plan_reusing(planning, longer, _last(first)).solved == ["I0", "I1"]
    exact = replace(config, reuse_tolerance=0.0)
    assert plan_reusing(planning, exact, _last(first)).solved == ["I0", "I1"]
    assert plan_reusing(planning, config, _last(first)).reused == ["I0", "I1"]


def test_a_lane_s_lead_time_is_measured_with_the_tolerance_its_observation_count_not_at_all():
    planning = several_items(2)
    config = PlanningConfig(reuse_tolerance=0.01)
    first = plan_reusing(planning, config, None)
    lanes = planning.lane_lead_times.copy()
    lanes["observations"] = lanes.get("observations", 0) + 7  # a day's receipts
    lanes["lead_time_mean_days"] *= 1.004
    nudged = plan_reusing(replace(planning, lane_lead_times=lanes), config, _last(first))
    assert nudged.solved == [] and nudged.reused == ["I0", "I1"]
    lanes["lead_time_stddev_days"] += 0.5  # from 0: beyond any relative tolerance
    moved = plan_reusing(replace(planning, lane_lead_times=lanes), config, _last(first))
    assert moved.solved == ["I0", "I1"]
    fresh, _ = plan_targets(replace(planning, lane_lead_times=lanes))
    pd.testing.assert_frame_equal(moved.targets, fresh)


def test_moved_items_finds_added_removed_and_moved_rows_whatever_their_order():
    from optimization.reuse import moved_items

    def basis(rows):
        return pd.DataFrame(rows, columns=["kind", "location_id", "sku", "periods", "mean", "sd"])

    lt, lane = "lead_time_demand", "lane_lead_time"
    before = basis(
        [
            (lt, "S1", "A", 1, 10.0, 3.0),
            (lt, "S1", "A", 2, 20.0, 4.0),
            (lt, "S1", "B", 1, 5.0, np.nan),  # a node without a measured sd stays unmoved
            (lane, "P>S1", "B", 0, 2.0, 0.5),
            (lt, "S1", "C", 1, 1.0, 1.0),
            (lt, "S2", "C", 1, 1.0, 1.0),  # gone today
            (lt, "S1", "E", 1, 0.0, 0.0),
        ]
    )
    today = basis(
        [
            (lane, "P>S1", "B", 0, 2.0 * 1.009, 0.5),  # within 1%
            (lt, "S1", "E", 1, 0.0, 0.0),
            (lt, "S1", "B", 1, 5.0, np.nan),
            (lt, "S1", "C", 1, 1.0, 1.0),
            (lt, "S1", "A", 2, 20.0, 4.0 * 1.02),  # sd 2% off
            (lt, "S1", "A", 1, 10.0, 3.0),
            (lt, "S1", "D", 1, 1.0, 1.0),  # new row
        ]
    )
    assert moved_items(today, before, 0.01) == {
        "A": "lead_time_demand moved",
        "C": "lead_time_demand moved",
        "D": "lead_time_demand moved",
    }
    assert moved_items(today, before, 0.05) == {
        "C": "lead_time_demand moved",
        "D": "lead_time_demand moved",
    }
    assert moved_items(before, before, 0.0) == {}
    assert moved_items(today.iloc[:0], before.iloc[:0], 0.01) == {}
    assert set(moved_items(today, before.iloc[:0], 0.01)) == {"A", "B", "C", "D", "E"}
    assert set(moved_items(today.iloc[:0], before, 0.01)) == {"A", "B", "C", "E"}


def test_lead_time_demand_beyond_the_horizons_a_plan_reads_re_solves_nothing():
    planning = several_items(2)  # periods 1..30; the longest path, 19 days, and day 30 are read
    config = PlanningConfig(reuse_tolerance=0.01)
    first = plan_reusing(planning, config, None)
    assert sorted(
        first.basis.loc[first.basis["kind"] == "lead_time_demand", "periods"].unique()
    ) == [
        *range(1, 20),
        30,
    ]
    demand = planning.lead_time_demand.copy()
    unread = (demand["sku"] == "I0") & demand["periods"].between(20, 29)
    demand.loc[unread, ["mean", "sd"]] *= 2
    assert plan_reusing(
        replace(planning, lead_time_demand=demand), config, _last(first)
    ).reused == [
        "I0",
        "I1",
    ]
    demand.loc[(demand["sku"] == "I0") & (demand["periods"] == 19), "sd"] *= 2  # read: re-solved
    assert plan_reusing(
        replace(planning, lead_time_demand=demand), config, _last(first)
    ).solved == ["I0"]
