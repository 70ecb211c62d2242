"""Targets per node from the GSM on a small hand-built network."""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from planning_inputs import inputs, lane_frames
from scipy.stats import norm

from optimization.config import PlanningConfig
from optimization.service import loss_function, z_for_fill_rate
from optimization.targets import PlanningInputs, plan_problems, plan_targets


def test_meio_beats_single_echelon_and_stores_serve_from_stock():
    targets, summary = plan_targets(inputs())
    stores = targets[targets.location_type == "STORE"]
    assert (stores.outbound_service_time_days == 0).all()
    assert (
        summary.meio_holding_cost_per_day.iloc[0]
        < summary.single_echelon_holding_cost_per_day.iloc[0]
    )
    assert summary.safety_stock_value.iloc[0] < summary.baseline_safety_stock_value.iloc[0]
    z = norm.ppf(0.95)
    row = targets.set_index("location_id").loc["ST2"]
    assert row.safety_stock == pytest.approx(z * 4 * math.sqrt(row.net_replenishment_time_days))
    assert row.target_stock_level == row.reorder_point + 70  # review period 7 d x 10/d
    assert targets.reason.str.len().min() > 20
    # baseline: every node covers its own lead time
    assert targets.set_index("location_id").loc["PLT"].baseline_net_replenishment_time_days == 14


def test_lead_time_variability_raises_safety_stock():
    calm, _ = plan_targets(inputs(lead_time_sd=0.0))
    shaky, _ = plan_targets(inputs(lead_time_sd=1.5))
    assert shaky.safety_stock.sum() > calm.safety_stock.sum()


def test_lot_size_and_moq_round_order_quantity():
    targets, _ = plan_targets(inputs(lot=12, moq=100))
    assert (targets.order_quantity % 12 == 0).all()
    assert (targets.order_quantity >= 100).all()


def test_fill_rate_target_is_converted_not_treated_as_cycle_service():
    policy = pd.DataFrame(
        [
            {
                "scope": "location",
                "sku": None,
                "location_id": "ST1",
                "item_class": None,
                "service_type": "fill_rate",
                "service_level": 0.99,
            }
        ]
    )
    targets, _ = plan_targets(inputs(policy=policy))
    st1 = targets.set_index("location_id").loc["ST1"]
    sd = 4 * math.sqrt(st1.net_replenishment_time_days)
    expected_z = z_for_fill_rate(0.99, sd, 10 * 7)
    assert st1.safety_factor_z == pytest.approx(expected_z)
    assert loss_function(expected_z) * sd == pytest.approx(0.01 * 70)
    assert st1.service_type == "fill_rate"


def test_bad_policy_is_rejected_with_its_rule():
    policy = pd.DataFrame([{"scope": "default", "service_type": "cycle", "service_level": 1.5}])
    with pytest.raises(ValueError, match="service_level"):
        plan_targets(inputs(policy=policy))


def test_many_items_on_one_tree_solve_vectorised():
    base = inputs()
    n = 300
    skus = [f"I{i}" for i in range(n)]
    rng = np.random.default_rng(0)
    net = pd.concat([base.item_network.assign(sku=s) for s in skus])
    scale = dict(zip(skus, rng.uniform(0.5, 3, n), strict=True))
    ltd = pd.concat(
        [
            base.lead_time_demand.assign(
                sku=s,
                mean=lambda d, s=s: d["mean"] * scale[s],
                sd=lambda d, s=s: d["sd"] * scale[s],
            )
            for s in skus
        ]
    )
    items = pd.DataFrame(
        {"sku": skus, "unit_cost": rng.uniform(1, 100, n), "lot_size": 1, "moq": 0}
    )
    customers = pd.concat([base.customer_nodes.assign(sku=s) for s in skus])
    targets, summary = plan_targets(
        PlanningInputs(net, base.lane_lead_times, items, ltd, customers)
    )
    assert len(summary) == n and (summary.solver == "tree_dp").all()
    assert (
        summary.meio_holding_cost_per_day <= summary.single_echelon_holding_cost_per_day + 1e-9
    ).all()


def test_nodes_that_serve_no_customer_are_not_stages():
    base = inputs()
    customers = base.customer_nodes[base.customer_nodes.location_id == "ST1"]
    targets, _ = plan_targets(
        PlanningInputs(
            base.item_network, base.lane_lead_times, base.items, base.lead_time_demand, customers
        )
    )
    assert set(targets.location_id) == {"PLT", "DC", "ST1"}


def test_tradeoff_curve_matches_replanning_at_another_level():
    from optimization.tradeoff import service_tradeoff

    planned, _ = plan_targets(inputs())
    curve = service_tradeoff(inputs(), planned, levels=(0.9, 0.95, 0.99)).set_index("service_level")
    policy = pd.DataFrame([{"scope": "default", "service_type": "cycle", "service_level": 0.99}])
    replanned, _ = plan_targets(inputs(policy=policy))
    assert curve.loc[0.99, "meio_safety_stock_value"] == pytest.approx(
        replanned.safety_stock_value.sum()
    )
    assert curve.loc[0.99, "single_echelon_safety_stock_value"] == pytest.approx(
        replanned.baseline_safety_stock_value.sum()
    )
    assert curve.loc[0.95, "meio_safety_stock_value"] == pytest.approx(
        planned.safety_stock_value.sum()
    )
    assert (curve["meio_safety_stock_value"].diff().dropna() > 0).all()


def test_tradeoff_keeps_the_values_of_items_whose_plan_did_not_change():
    from planning_inputs import several_items

    from optimization.tradeoff import service_tradeoff, tradeoff_by_item, tradeoff_curve

    planning, levels = several_items(3), (0.9, 0.95, 0.99)
    planned, _ = plan_targets(planning)
    by_item, kept_items = tradeoff_by_item(planning, planned, levels)
    assert len(by_item) == 9 and by_item["plan_fingerprint"].nunique() == 3 and kept_items == 0
    pd.testing.assert_frame_equal(
        tradeoff_curve(by_item), service_tradeoff(planning, planned, levels)
    )
    # yesterday's rows, marked: an item whose plan is unchanged keeps them (not valued again)
    last = by_item.assign(meio_safety_stock_value=by_item["meio_safety_stock_value"] + 1.0)
    kept, kept_items = tradeoff_by_item(planning, planned, levels, last=last)
    assert kept_items == 3
    np.testing.assert_allclose(kept["meio_safety_stock_value"], last["meio_safety_stock_value"])
    # I1 re-planned with other lead-time demand: a new fingerprint, valued again
    moved = planning.lead_time_demand["sku"] == "I1"
    demand = planning.lead_time_demand.copy()
    demand.loc[moved, "mean"] *= 1.2
    replanned_inputs = replace(planning, lead_time_demand=demand)
    replanned, _ = plan_targets(replanned_inputs)
    again, kept_items = tradeoff_by_item(replanned_inputs, replanned, levels, last=last)
    assert kept_items == 2
    again = again.set_index(["sku", "service_level"])
    fresh = tradeoff_by_item(replanned_inputs, replanned, levels)[0].set_index(
        ["sku", "service_level"]
    )
    marked = last.set_index(["sku", "service_level"])
    np.testing.assert_allclose(again.loc["I1"].to_numpy(float), fresh.loc["I1"].to_numpy(float))
    np.testing.assert_allclose(
        again.loc[["I0", "I2"], "meio_safety_stock_value"],
        marked.loc[["I0", "I2"], "meio_safety_stock_value"],
    )
    # other levels: every item valued again
    other, kept_items = tradeoff_by_item(planning, planned, (0.9, 0.97), last=last)
    assert kept_items == 0
    assert set(other["service_level"]) == {0.9, 0.97}
    np.testing.assert_allclose(
        other.set_index(["sku", "service_level"]).xs(0.9, level=1)["meio_safety_stock_value"],
        by_item.set_index(["sku", "service_level"]).xs(0.9, level=1)["meio_safety_stock_value"],
    )


def test_tradeoff_refuses_a_mixed_policy():
    from optimization.tradeoff import service_tradeoff

    policy = pd.DataFrame(
        [
            {
                "scope": "location",
                "location_id": "ST1",
                "service_type": "fill_rate",
                "service_level": 0.99,
            }
        ]
    )
    targets, _ = plan_targets(inputs(policy=policy))
    with pytest.raises(ValueError, match="one cycle-service level"):
        service_tradeoff(inputs(policy=policy), targets)


def test_cover_bounds_per_location_type_cap_and_raise_targets():
    free, _ = plan_targets(inputs())
    bounded, _ = plan_targets(
        inputs(), PlanningConfig(min_cover_days={"STORE": 30}, max_cover_days={"DC": 10})
    )
    stores, dc = (
        bounded[bounded.location_type == "STORE"],
        bounded.set_index("location_id").loc["DC"],
    )
    assert (stores.target_stock_level >= 300).all() and set(stores.bound_applied) == {
        "raised to 30 days of cover"
    }
    assert (
        dc.target_stock_level == max(200, dc.reorder_point)
        and dc.bound_applied
        == "capped at 10 days of cover, leaving room for less than the smallest order allowed "
        "(1 units, lot/MOQ)"
    )
    assert free.set_index("location_id").loc["DC", "target_stock_level"] > 200
    # a cap that leaves less room than the smallest order the lot and MOQ allow is flagged
    moq_capped, _ = plan_targets(inputs(lot=12, moq=100), PlanningConfig(max_cover_days={"DC": 22}))
    dc = moq_capped.set_index("location_id").loc["DC"]
    assert dc.target_stock_level == max(440, dc.reorder_point)
    assert dc.target_stock_level - dc.reorder_point < 108
    assert "smallest order allowed (108 units" in dc.bound_applied
    assert dc.bound_applied in dc.reason


def test_an_item_without_demand_gets_no_order_or_target():
    targets, _ = plan_targets(inputs(moq=50, lot=12, mu=0.0, sigma=0.0))
    assert (targets.order_quantity == 0).all() and (targets.target_stock_level == 0).all()
    assert (targets.safety_stock == 0).all()


def test_empty_tradeoff_has_the_curve_columns():
    from optimization.tradeoff import empty_tradeoff, service_tradeoff

    planned, _ = plan_targets(inputs())
    assert list(empty_tradeoff().columns) == list(service_tradeoff(inputs(), planned).columns)
    assert empty_tradeoff().empty


def test_a_store_fed_by_two_locations_is_solved_by_the_mip():
    # ST2 also draws from the plant (4 days): PLT -> DC -> ST2 and PLT -> ST2 close a cycle, so
    # the tree DP cannot be used; ST2 waits for the later of its two suppliers.
    base = inputs()
    extra = base.item_network.iloc[[3]].assign(
        source_location_id="PLT", source_location_type="PLANT"
    )
    lead = pd.concat(
        [
            base.lane_lead_times,
            pd.DataFrame([("PLT", "ST2", 4.0, 0.0)], columns=base.lane_lead_times.columns),
        ]
    )
    targets, summary = plan_targets(
        PlanningInputs(
            pd.concat([base.item_network, extra]),
            lead,
            base.items,
            base.lead_time_demand,
            base.customer_nodes,
        )
    )
    assert summary.solver.iloc[0] == "pair_mip" and summary.status.iloc[0] == "optimal"
    by_location = targets.set_index("location_id")
    st2 = by_location.loc["ST2"]
    for supplier in ("PLT", "DC"):
        assert st2.inbound_service_time_days >= by_location.loc[supplier].outbound_service_time_days
    assert st2.outbound_service_time_days == 0
    latest = max(("DC", "PLT"), key=lambda loc: by_location.loc[loc].outbound_service_time_days)
    assert f"for {latest} (the latest of DC, PLT)" in st2.reason
    assert (
        summary.meio_holding_cost_per_day.iloc[0]
        <= summary.single_echelon_holding_cost_per_day.iloc[0]
    )


def chain_inputs(lead_time_sd: float, mean: float, sd: float, counts: bool = False, days=30):
    """SUP -(10 d, sd lead_time_sd)-> PLANT -(2 d)-> STORE with iid daily demand."""
    types = {"SUP": "SUPPLIER", "PLANT": "PLANT", "STORE": "STORE"}
    network, lead = lane_frames(
        types, [("SUP", "PLANT", 10.0, lead_time_sd), ("PLANT", "STORE", 2.0, 0.0)]
    )
    ltd = pd.DataFrame(
        [
            (loc, "A", p, mean * p, sd * math.sqrt(p), counts)
            for loc in ("PLANT", "STORE")
            for p in range(1, days + 1)
        ],
        columns=["location_id", "sku", "periods", "mean", "sd", "count_valued"],
    )
    items = pd.DataFrame({"sku": ["A"], "unit_cost": [10.0], "lot_size": [1], "moq": [0]})
    customers = pd.DataFrame({"location_id": ["STORE"], "sku": ["A"], "item_class": ["smooth"]})
    return PlanningInputs(network, lead, items, ltd, customers)


def test_upstream_lead_time_variability_is_buffered_at_or_below_the_plant():
    # demand over a 10 +- 5 day supply has sd >= 100 x 5 = 500 units: at least
    # 1.645 x 500 = 822 units of safety stock at or below the plant, in both policies
    targets, _ = plan_targets(chain_inputs(lead_time_sd=5.0, mean=100.0, sd=20.0))
    assert targets.safety_stock.sum() >= 822
    assert targets.baseline_safety_stock.sum() >= 822
    plant = targets.set_index("location_id").loc["PLANT"]
    assert plant.safety_stock >= norm.ppf(0.95) * 100 * 5 - 1e-9
    calm, _ = plan_targets(chain_inputs(lead_time_sd=0.0, mean=100.0, sd=20.0))
    assert calm.safety_stock.sum() < 300


def test_whole_unit_demand_gets_count_quantiles_not_normal_ones():
    # iid Poisson(3) a day at the store, 2 d lead time from a plant that holds stock (tau > 0)
    from scipy.stats import poisson

    targets, _ = plan_targets(
        chain_inputs(0.0, mean=3.0, sd=math.sqrt(3.0), counts=True),
        PlanningConfig(holding_rate_per_year=0.25),
    )
    store = targets.set_index("location_id").loc["STORE"]
    tau = store.net_replenishment_time_days
    assert tau >= 2
    assert store.reorder_point == poisson(3.0 * tau).ppf(0.95)
    # an sd below the Poisson's is floored at it
    low, _ = plan_targets(chain_inputs(0.0, mean=3.0, sd=0.5, counts=True))
    low_store = low.set_index("location_id").loc["STORE"]
    assert low_store.reorder_point == poisson(3.0 * low_store.net_replenishment_time_days).ppf(0.95)


def test_tradeoff_values_count_shaped_nodes_with_their_own_distribution():
    from optimization.tradeoff import service_tradeoff

    planning = chain_inputs(1.0, mean=3.0, sd=2.0, counts=True)
    planned, _ = plan_targets(planning)
    curve = service_tradeoff(planning, planned, levels=(0.9, 0.95, 0.99)).set_index("service_level")
    assert curve.loc[0.95, "meio_safety_stock_value"] == pytest.approx(
        planned.safety_stock_value.sum()
    )
    policy = pd.DataFrame([{"scope": "default", "service_type": "cycle", "service_level": 0.99}])
    replanned, _ = plan_targets(replace(planning, service_policy=policy))
    # valued at today's placement: never below the re-planned optimum
    assert curve.loc[0.99, "meio_safety_stock_value"] >= replanned.safety_stock_value.sum() - 1e-9
    assert curve.loc[0.99, "single_echelon_safety_stock_value"] == pytest.approx(
        replanned.baseline_safety_stock_value.sum()
    )


def test_a_stage_without_cycle_stock_explains_the_lead_time_stock_it_holds():
    targets, _ = plan_targets(inputs(lead_time_sd=1.5))
    plant = targets.set_index("location_id").loc["PLT"]
    # the plant passes its 14 d on to the DC and still buffers its own lane: z x 2 x 10 x 1.5
    assert plant.net_replenishment_time_days == 0
    assert plant.safety_stock == pytest.approx(norm.ppf(0.95) * 20 * 1.5)
    for row in targets.itertuples():
        if row.net_replenishment_time_days == 0 and row.safety_stock > 0:
            assert row.reason.startswith("No cycle buffer:")
            assert f"holds {row.safety_stock:.0f} units for its own lead-time" in row.reason
        elif row.net_replenishment_time_days > 0:
            assert row.reason.startswith("Buffer: covers")
    assert targets.reason.str.contains("No safety stock").sum() == 0


def test_a_plan_with_infinite_or_negative_values_is_not_publishable():
    targets, _ = plan_targets(inputs())
    assert plan_problems(targets) == []
    absurd, _ = plan_targets(replace(inputs(), items=inputs().items.assign(unit_cost=1e308)))
    problems = plan_problems(absurd)
    assert any(p.startswith("safety_stock_value: ") and "inf" in p for p in problems), problems
    negative = targets.assign(reorder_point=targets["reorder_point"] * -1 - 1)
    assert plan_problems(negative)[0].startswith(f"reorder_point: {len(targets)} nodes")


def test_the_loss_function_at_known_points():
    # G(z) = phi(z) - z (1 - Phi(z)), tabulated (e.g. Silver, Pyke and Peterson, table B.1)
    assert loss_function(0.0) == pytest.approx(0.398942, abs=1e-6)
    assert loss_function(1.0) == pytest.approx(0.083315, abs=1e-6)
    assert loss_function(2.0) == pytest.approx(0.008491, abs=1e-6)
    assert loss_function(-1.0) == pytest.approx(1.083315, abs=1e-6)  # G(-z) = G(z) + z


def test_loss_function_matches_the_textbook_table():
    # standard normal loss G(z) = phi(z) - z (1 - Phi(z)), tabled values
    for z, expected in ((0.0, 0.398942), (1.0, 0.083315), (2.0, 0.008491), (-1.0, 1.083315)):
        assert loss_function(z) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("service_type", "level", "measure"),
    [("fill_rate", 0.99, "fill_rate"), ("cycle", 0.95, "cycle_service_level")],
)
def test_a_plan_meets_its_target_when_its_policy_is_simulated(service_type, level, measure):
    # one store, 4-day lead time, normal demand 100 +- 30 a day, order quantity 7 days of
    # demand in lots of 50: the plan simulated as published (reorder point, target, lots).
    # Sized as a base stock (reorder point = demand over tau + safety stock: 450 / 499) the
    # same plan achieved 99.75% fill rate / 98.58% cycle service (measured on this case): the
    # order lands tau - 1 days after the review that triggers it and the position is then only
    # ~half a day below the point.
    from simulation.config import SimulationConfig
    from simulation.monte_carlo import simulate_plan

    types = {"SUP": "SUPPLIER", "ST": "STORE"}
    network, lead = lane_frames(types, [("SUP", "ST", 4, 0.0)])
    ltd = pd.DataFrame(
        [("ST", "A", p, 100.0 * p, 30.0 * math.sqrt(p)) for p in range(1, 31)],
        columns=["location_id", "sku", "periods", "mean", "sd"],
    )
    items = pd.DataFrame({"sku": ["A"], "unit_cost": [10.0], "lot_size": [50], "moq": [0]})
    customers = pd.DataFrame({"location_id": ["ST"], "sku": ["A"], "item_class": ["smooth"]})
    policy = pd.DataFrame(
        [{"scope": "default", "service_type": service_type, "service_level": level}]
    )
    targets, _ = plan_targets(PlanningInputs(network, lead, items, ltd, customers, policy))
    plan = targets.iloc[0]
    assert plan.safety_factor_z > 0 and plan.order_quantity == 700
    config = SimulationConfig(demand="gaussian", days=2000, replications=20, target_half_width=None)
    plan_as_simulated = targets.assign(demand_class="smooth")
    simulated = simulate_plan(plan_as_simulated, network, lead, ltd, config).set_index("policy")
    achieved = simulated.loc["meio"]
    assert achieved.reorder_level == plan.reorder_point
    assert achieved.order_up_to_level == plan.target_stock_level
    # met within the Monte Carlo error (+-0.07 / 0.4 points here), not overshot by a point
    assert achieved[measure] >= level - achieved[f"{measure}_ci95"] - 0.001
    assert achieved[measure] <= level + 0.01
    # the GSM plan alone (what-if scenarios): the same rows, whether the baseline ran or not
    alone = simulate_plan(
        plan_as_simulated, network, lead, ltd, config, policies=["meio"]
    ).set_index("policy")
    pd.testing.assert_frame_equal(alone, simulated.loc[["meio"]])


def test_the_dbt_service_level_range_is_the_optimizers():
    import yaml

    from optimization.config import SERVICE_LEVEL_RANGE

    project = Path(__file__).resolve().parent.parent / "transforms" / "dbt_project.yml"
    assert tuple(yaml.safe_load(project.read_text())["vars"]["service_level_range"]) == (
        SERVICE_LEVEL_RANGE
    )


def test_a_plan_reads_lead_time_demand_only_up_to_its_longest_path():
    from optimization.targets import planned_horizons
    from optimization.tradeoff import service_tradeoff

    whole = inputs(lead_time_sd=1.0)  # periods 1..30, longest path SUP -> PLT -> DC -> ST2: 19
    trimmed = planned_horizons(whole)
    assert sorted(trimmed.lead_time_demand["periods"].unique()) == [*range(1, 20), 30]
    planned, summary = plan_targets(whole)
    planned_trimmed, summary_trimmed = plan_targets(trimmed)
    pd.testing.assert_frame_equal(planned, planned_trimmed)
    pd.testing.assert_frame_equal(summary, summary_trimmed)
    pd.testing.assert_frame_equal(
        service_tradeoff(whole, planned, levels=(0.9, 0.99)),
        service_tradeoff(trimmed, planned, levels=(0.9, 0.99)),
    )
