"""Network simulation against an analytical single stage and a hand-computed serial system."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from simulation.config import SimulationConfig
from simulation.monte_carlo import (
    SimulationNodes,
    _lead_time_cdf,
    fit_persistence,
    normal_fill_rate,
    simulate,
    simulate_plan,
)


def _nodes(parent, base_stock, lead_time, customer, mean, sd, phi=None, lead_time_sd=None):
    n = len(parent)
    arr = lambda x: np.asarray(x, dtype=float)  # noqa: E731
    return SimulationNodes(
        parent=np.asarray(parent),
        reorder_level=arr(base_stock),
        order_up_to=arr(base_stock),
        lot_size=np.zeros(n),
        minimum_order=np.zeros(n),
        lead_time_mean=arr(lead_time),
        lead_time_sd=arr(lead_time_sd if lead_time_sd is not None else np.zeros(n)),
        is_customer=np.asarray(customer, dtype=bool),
        demand_mean=arr(mean),
        demand_sd=arr(sd),
        demand_persistence=arr(phi if phi is not None else np.zeros(n)),
    )


def test_single_stage_reaches_its_analytical_fill_rate_and_cycle_service():
    mean, sd, lead, z = 100.0, 20.0, 4, 1.2816  # 90% cycle service
    base_stock = mean * lead + z * sd * np.sqrt(lead)
    nodes = _nodes([-1], [base_stock], [lead], [True], [mean], [sd])
    result = simulate(
        nodes, SimulationConfig(days=2000, replications=40, seed=3, demand="gaussian")
    ).iloc[0]
    expected_fill = normal_fill_rate(mean, sd, lead, base_stock)
    assert expected_fill == pytest.approx(0.9813, abs=1e-3)
    assert result["fill_rate"] == pytest.approx(expected_fill, abs=0.002)
    assert result["cycle_service_level"] == pytest.approx(norm.cdf(z), abs=0.005)
    # the average on hand is the safety stock plus what is lost to backorders, roughly
    assert result["average_on_hand"] == pytest.approx(z * sd * np.sqrt(lead), rel=0.15)


def test_serial_two_stage_matches_the_hand_computed_case():
    """Constant demand 10/day; warehouse (3 d from the supplier) holds 20 < 30 it needs, so it
    ships each order one day late; the store (2 d from the warehouse) then waits 3 d and its
    base stock 25 covers 2.5 d: every day ends 5 short and half the day's demand waits."""
    short = _nodes([-1, 0], [20, 25], [3, 2], [False, True], [0, 10], [0, 0])
    result = simulate(short, SimulationConfig(days=100, replications=2, seed=1, demand="gaussian"))
    store = result.iloc[1]
    assert store["fill_rate"] == pytest.approx(0.5)
    assert store["cycle_service_level"] == pytest.approx(0.0)
    assert store["average_backorders"] == pytest.approx(5.0)
    assert result.iloc[0]["average_on_hand"] == pytest.approx(0.0)

    covered = _nodes([-1, 0], [30, 25], [3, 2], [False, True], [0, 10], [0, 0])
    result = simulate(
        covered, SimulationConfig(days=100, replications=2, seed=1, demand="gaussian")
    )
    store = result.iloc[1]
    assert store["fill_rate"] == pytest.approx(1.0)
    assert store["cycle_service_level"] == pytest.approx(1.0)
    assert store["average_on_hand"] == pytest.approx(5.0)  # 25 - 2 days x 10 at day's end


def test_persistence_fit_reproduces_the_spread_over_the_lead_time():
    sd_one = np.array([10.0, 10.0, 5.0])
    periods = np.array([5, 10, 3])
    sd_many = np.array([10 * np.sqrt(5), 10 * np.sqrt(10) * 1.6, 5 * np.sqrt(3) * 0.9])
    phi = fit_persistence(sd_one, sd_many, periods)
    assert phi[0] == pytest.approx(0.0, abs=1e-6)
    assert phi[2] == 0.0  # less spread than independent: no negative persistence
    nodes = _nodes([-1], [0.0], [1], [True], [0.0], [10.0], phi=[phi[1]])
    # simulate the demand process alone and measure the spread of 10-day sums
    rng = np.random.default_rng(0)
    state = rng.standard_normal(20000) * 10
    sums = np.zeros(20000)
    for _ in range(200):
        state = phi[1] * state + 10 * np.sqrt(1 - phi[1] ** 2) * rng.standard_normal(20000)
    for _ in range(10):
        state = phi[1] * state + 10 * np.sqrt(1 - phi[1] ** 2) * rng.standard_normal(20000)
        sums += state
    assert sums.std() == pytest.approx(sd_many[1], rel=0.03)
    assert nodes.demand_persistence[0] == pytest.approx(phi[1])


def test_lost_sales_keep_no_backorders_and_shortage_upstream_lowers_service():
    nodes = _nodes([-1, 0, 0], [50, 40, 40], [5, 2, 2], [False, True, True], [0, 10, 10], [0, 3, 3])
    backorders = simulate(nodes, SimulationConfig(days=300, replications=20, demand="gaussian"))
    lost = simulate(
        nodes, SimulationConfig(days=300, replications=20, lost_sales=True, demand="gaussian")
    )
    assert (lost.loc[1:, "average_backorders"] == 0).all()
    generous = _nodes(
        [-1, 0, 0], [150, 40, 40], [5, 2, 2], [False, True, True], [0, 10, 10], [0, 3, 3]
    )
    better = simulate(generous, SimulationConfig(days=300, replications=20, demand="gaussian"))
    assert (better.loc[1:, "fill_rate"] > backorders.loc[1:, "fill_rate"] + 0.05).all()


def test_bad_node_arrays_are_refused():
    with pytest.raises(ValueError, match="demand_sd"):
        SimulationNodes(
            parent=np.array([-1]),
            reorder_level=np.ones(1),
            order_up_to=np.ones(1),
            lot_size=np.zeros(1),
            minimum_order=np.zeros(1),
            lead_time_mean=np.ones(1),
            lead_time_sd=np.zeros(1),
            is_customer=np.ones(1, bool),
            demand_mean=np.ones(1),
            demand_sd=np.ones(2),
            demand_persistence=np.zeros(1),
        )


def test_replay_uses_the_actual_demand_after_the_warm_up():
    nodes = _nodes([-1], [25.0], [2], [True], [10.0], [0.0])
    actual = np.full((30, 1), 10.0)
    actual[10:12] = 40.0  # a two-day surge the base stock of 25 cannot cover
    result = simulate(
        nodes, SimulationConfig(days=30, replications=2, demand="gaussian"), actual_demand=actual
    ).iloc[0]
    assert result["cycle_service_level"] < 1.0
    assert result["fill_rate"] < 1.0
    calm = simulate(
        nodes,
        SimulationConfig(days=30, replications=2, demand="gaussian"),
        actual_demand=np.full((30, 1), 10.0),
    )
    assert calm.iloc[0]["fill_rate"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="actual_demand has shape"):
        simulate(
            nodes, SimulationConfig(days=30, demand="gaussian"), actual_demand=np.zeros((29, 1))
        )


def test_history_inventory_is_rebuilt_backwards_from_the_snapshot():
    import datetime as dt

    from simulation.backtest import actual_inventory

    keys = pd.DataFrame({"location_id": ["S1"], "sku": ["A"]})
    on_hand = pd.DataFrame(
        {
            "location_id": ["S1"],
            "sku": ["A"],
            "snapshot_date": [dt.date(2026, 1, 5)],
            "on_hand": [4.0],
        }
    )
    receipts = pd.DataFrame(
        {
            "location_id": ["S1"],
            "sku": ["A"],
            "receipt_date": [dt.date(2026, 1, 4)],
            "quantity": [10.0],
        }
    )
    demand = pd.DataFrame(
        {
            "location_id": ["S1"] * 5,
            "sku": ["A"] * 5,
            "demand_date": pd.date_range("2026-01-01", periods=5).date,
            "demand_qty": [3.0, 3.0, 3.0, 3.0, 3.0],
        }
    )
    # end of day: Jan 5: 4; Jan 4: 7; Jan 3: 0 (7 - 10 + 3); Jan 2: 3; Jan 1: 6
    held = actual_inventory(
        keys, on_hand, receipts, demand, dt.date(2026, 1, 1), dt.date(2026, 1, 5)
    )
    assert held["actual_average_on_hand"].iloc[0] == pytest.approx((6 + 3 + 0 + 7 + 4) / 5)
    assert held["actual_in_stock_day_share"].iloc[0] == pytest.approx(0.8)


def test_results_do_not_depend_on_how_many_threads_ran_the_batches():
    nodes = _nodes(
        [-1, 0, 0], [300, 120, 90], [5, 2, 3], [False, True, True], [0, 20, 15], [0, 6, 5]
    )
    config = dict(days=200, replications=60, batch_replications=25, seed=7)
    fixed = dict(demand="gaussian", target_half_width=None)
    one = simulate(nodes, SimulationConfig(workers=1, **fixed, **config))
    two = simulate(nodes, SimulationConfig(workers=2, **fixed, **config))
    assert one.equals(two)
    assert (one["replications"] == 60).all()
    # an adaptive run stops at the same replication whatever the threads
    adaptive = dict(days=200, replications=200, batch_replications=5, seed=7, demand="gaussian")
    groups = np.array(["", "a", "b"], dtype=object)
    one = simulate(nodes, SimulationConfig(workers=1, **adaptive), groups=groups)
    three = simulate(nodes, SimulationConfig(workers=3, **adaptive), groups=groups)
    assert one.equals(three)


def test_lead_times_follow_each_lanes_rounded_normal_distribution():
    cdf, shortest, lane_of = _lead_time_cdf(np.array([3.2, 2.0, 3.2]), np.array([1.0, 0.0, 1.0]))
    assert lane_of[0] == lane_of[2] != lane_of[1]  # one row per distinct lane
    horizon = cdf.shape[1]
    assert horizon == 9  # ceil(3.2 + 4 x 1.0) + 1
    draws = np.clip(np.rint(3.2 + np.random.default_rng(0).standard_normal(1_000_000)), 1, 8)
    empirical = [(draws <= k).mean() for k in range(horizon)]
    np.testing.assert_allclose(cdf[lane_of[0]], empirical, atol=0.002)
    fixed = cdf[lane_of[1]]  # no spread: always 2 days
    assert shortest[lane_of[1]] == 2 and fixed[1] == 0.0 and fixed[2] == 1.0


def test_a_parent_cycle_is_refused_before_simulating():
    nodes = _nodes([1, 0], [10, 10], [1, 1], [True, True], [1, 1], [0, 0])
    with pytest.raises(ValueError, match="cycle"):
        simulate(nodes, SimulationConfig(days=5, replications=1, demand="gaussian"))


def test_empirical_mode_reproduces_the_poisson_ready_rate_of_a_single_stage():
    # iid Poisson(3) a day, 4-day lead time, base stock 15: a day ends without backorder when
    # the last 4 days' demand is at most 15, P(Poisson(12) <= 15) = 0.8444
    from scipy.stats import poisson

    rng = np.random.default_rng(0)
    history = rng.poisson(3.0, size=(7 * 700, 1)).astype(float)
    nodes = _nodes([-1], [15.0], [4], [True], [3.0], [np.sqrt(3.0)])
    result = simulate(
        nodes, SimulationConfig(days=1000, replications=30, seed=2), demand_history=history
    ).iloc[0]
    assert result["ready_rate"] == pytest.approx(poisson(12.0).cdf(15), abs=0.01)


def test_a_plan_on_the_wrong_distribution_fails_the_empirical_check_not_the_gaussian_one():
    # Lumpy demand (a 10% chance a day of 1 + Poisson(20) units), planned as if normal with the
    # right mean and sd: the model's own (Gaussian) world says 95%, real draws say otherwise.
    rng = np.random.default_rng(1)
    days = 7 * 1000
    history = (rng.random(days) < 0.1) * (1 + rng.poisson(20.0, days))
    mean, sd, lead = history.mean(), history.std(), 3
    base_stock = mean * lead + norm.ppf(0.95) * sd * np.sqrt(lead)
    nodes = _nodes([-1], [base_stock], [lead], [True], [mean], [sd])
    config = dict(days=1000, replications=30, seed=4)
    gaussian = simulate(nodes, SimulationConfig(demand="gaussian", **config)).iloc[0]
    empirical = simulate(
        nodes, SimulationConfig(**config), demand_history=history[:, None].astype(float)
    ).iloc[0]
    # the Gaussian world about passes the plan (its negative draws are days without demand,
    # which lifts the mean a little); the real draws fail it by far more
    assert gaussian["ready_rate"] >= 0.94
    assert empirical["ready_rate"] < 0.93


def test_bootstrap_blocks_keep_the_weekday_and_stay_inside_the_history():
    from simulation.monte_carlo import bootstrap_rows

    rows = bootstrap_rows(np.random.default_rng(0), history_days=364, days=421, block_days=28)
    assert rows.min() >= 0 and rows.max() < 364
    assert len(np.unique(rows % 7 - np.arange(421) % 7)) == 1  # one weekday offset throughout
    assert len(np.unique(rows[::28])) > 5  # blocks drawn, not one replay


def test_stratified_items_keep_every_class_and_the_limit():

    from simulation.backtest import stratified_items

    classes = pd.DataFrame(
        {
            "sku": [f"S{i:03d}" for i in range(300)] + ["S000"],
            "demand_class": ["smooth"] * 270 + ["lumpy"] * 25 + ["erratic"] * 5 + ["lumpy"],
        }
    )
    assert len(stratified_items(classes, 400)) == 300
    picked = stratified_items(classes, 60, seed=1)
    assert len(picked) <= 60 and picked == sorted(picked)
    dominant = dict(zip(classes["sku"][:300], classes["demand_class"][:300], strict=True))
    counts = pd.Series([dominant[s] for s in picked]).value_counts()
    # minimums 10 / 10 / 5, the other 35 shared by what is left: smooth 259, lumpy 16 items
    assert counts["erratic"] == 5 and counts["lumpy"] == 12 and counts["smooth"] == 42
    assert stratified_items(classes, 60, seed=1) == picked  # reproducible


def test_observed_lead_times_replace_the_normal_draw():
    # a lane measured at 2 +- 0 days but observed at 4 days every time: the simulation follows
    # the observations, exactly as a deterministic 4-day lane
    histogram = np.zeros((1, 6))
    histogram[0, 4] = 50
    cdf, shortest, lane_of = _lead_time_cdf(np.array([2.0]), np.array([0.0]), histogram)
    assert shortest[lane_of[0]] == 4 and cdf[lane_of[0], 3] == 0 and cdf[lane_of[0], 4] == 1
    config = SimulationConfig(days=300, replications=5, seed=3, demand="gaussian")
    observed = _nodes([-1], [45.0], [2.0], [True], [10.0], [3.0])
    observed = SimulationNodes(**{**vars(observed), "lead_time_histogram": histogram})
    four_days = _nodes([-1], [45.0], [4.0], [True], [10.0], [3.0])
    a, b = simulate(observed, config).iloc[0], simulate(four_days, config).iloc[0]
    assert a["cycle_service_level"] == pytest.approx(b["cycle_service_level"])
    assert a["cycle_service_level"] < 0.9  # 45 units cover 4 days of 10 +- 3 poorly


def test_demand_history_keeps_the_last_days_per_node_and_aligns_to_a_plan():

    from simulation.monte_carlo import DemandHistory

    daily = pd.DataFrame(
        {
            "location_id": ["S1", "S1", "S2", "S1"],
            "sku": ["A", "A", "A", "A"],
            "demand_date": pd.to_datetime(["2026-01-01", "2026-01-05", "2026-01-04", "2026-01-03"]),
            "demand_qty": [9.0, 2.0, 5.0, 1.0],
        }
    )
    history = DemandHistory.from_rows(daily, days=3)  # 01-03 .. 01-05: the 9 falls out
    targets = pd.DataFrame({"sku": ["A", "A", "A"], "location_id": ["S2", "DC", "S1"]})
    aligned = history.aligned(targets)
    assert aligned.tolist() == [[0, 0, 1], [5, 0, 0], [0, 0, 2]]  # days x plan rows
    doubled = history.scaled(pd.Series({("A", "S1"): 2.0})).aligned(targets)
    assert doubled[:, 2].tolist() == [2, 0, 4] and doubled[:, 0].tolist() == [0, 5, 0]


def test_demand_history_from_warehouse_codes_equals_the_rows_and_adds_repeated_cells():
    from simulation.monte_carlo import DemandHistory

    rng = np.random.default_rng(3)
    days, nodes = 30, 7
    keys = pd.MultiIndex.from_tuples(
        [("A", f"S{k}") for k in range(nodes)], names=["sku", "location_id"]
    )
    column = np.repeat(np.arange(nodes), days)
    back = np.tile(np.arange(days), nodes)
    quantity = rng.poisson(2.0, days * nodes).astype(np.float32)
    daily = pd.DataFrame(
        {
            "sku": "A",
            "location_id": [f"S{k}" for k in column],
            "demand_date": pd.Timestamp("2026-03-31") - pd.to_timedelta(back, unit="D"),
            "demand_qty": quantity,
        }
    )
    coded = DemandHistory.from_codes(keys, column, back, quantity, days)
    np.testing.assert_array_equal(coded.matrix, DemandHistory.from_rows(daily, days).matrix)
    twice = DemandHistory.from_codes(
        keys, np.r_[column, 2], np.r_[back, 0], np.r_[quantity, 5.0], days
    )
    assert twice.matrix[-1, 2] == coded.matrix[-1, 2] + 5.0  # the latest day, node S2
    assert (twice.matrix != coded.matrix).sum() == 1


def test_adaptive_replications_stop_at_the_target_interval_and_repeat_a_fixed_run():
    mean, sd, lead = 20.0, 8.0, 3
    base = mean * lead + 1.2816 * sd * np.sqrt(lead)
    nodes = _nodes([-1, 0, 0], [200, base, base], [5, lead, lead], [False, True, True],
                   [0, mean, mean], [0, sd, sd])  # fmt: skip
    fixed = dict(days=120, warmup_days=14, seed=4, demand="gaussian", batch_replications=5)
    groups = np.array(["", "fast", "slow"], dtype=object)

    heard: list[str] = []

    def run(target: float, most: int = 100):
        config = SimulationConfig(
            replications=most, target_half_width=target, min_replications=20, **fixed
        )
        return simulate(nodes, config, groups=groups, progress=heard.append)

    loose, middle, tight = run(0.2), run(0.02), run(0.001, most=60)
    assert loose["replications"].iloc[0] == 20  # wide target: the first round is enough
    assert 20 < middle["replications"].iloc[0] < 100  # more rounds, short of the maximum
    assert tight["replications"].iloc[0] == 60  # out of reach: the maximum
    # each round said how far it was: the loose run's one round first, the tight run's last
    assert heard[0].startswith("20 of at most 100 replications, widest class interval")
    assert heard[-1].startswith("60 of at most 60 replications")
    # the replications an adaptive run made are those of a fixed run of that many
    reps = int(middle["replications"].iloc[0])
    same = simulate(nodes, SimulationConfig(replications=reps, **fixed))
    np.testing.assert_allclose(
        middle["cycle_service_level"].to_numpy(float)[1:],
        same["cycle_service_level"].to_numpy(float)[1:],
    )


def _reference_single_stage(demand, reorder, up_to, lot, moq, lead):
    """A plain loop of one stage's published policy, written apart from the kernel: each day
    receive what is due, serve backorders then demand, and when the position is below the
    reorder point order up to the target (at least the MOQ, whole lots), due ``lead`` days
    later. Returns (fill rate, cycle service, ready rate, average on hand)."""
    on_hand, backlog, pipeline = float(up_to), 0.0, {}
    served_total, ready_days, on_hand_sum = 0.0, 0, 0.0
    cycles, cycles_met, short_in_cycle = 0, 0, False
    for day, d in enumerate(demand):
        on_hand += pipeline.pop(day, 0.0)
        late = min(on_hand, backlog)
        on_hand, backlog = on_hand - late, backlog - late
        served = min(on_hand, d)
        on_hand, backlog = on_hand - served, backlog + d - served
        served_total += served
        ready_days += backlog == 0
        short_in_cycle |= backlog > 0
        position = on_hand - backlog + sum(pipeline.values())
        if position < reorder:
            quantity = max(up_to - position, moq)
            quantity = math.ceil(quantity / lot - 1e-9) * lot
            pipeline[day + lead] = pipeline.get(day + lead, 0.0) + quantity
            cycles, cycles_met = cycles + 1, cycles_met + (not short_in_cycle)
            short_in_cycle = False
        on_hand_sum += on_hand
    cycles, cycles_met = cycles + 1, cycles_met + (not short_in_cycle)  # the open cycle
    n = len(demand)
    return served_total / sum(demand), cycles_met / cycles, ready_days / n, on_hand_sum / n


def test_the_published_policy_matches_a_plain_loop_with_lot_moq_and_reorder_point():
    # lumpy demand replayed with a fixed lead time: the kernel is deterministic, so its
    # measures must equal a loop written apart from it, to the last unit
    rng = np.random.default_rng(3)
    demand = (rng.random(400) < 0.4) * rng.poisson(6.0, 400).astype(float)
    reorder, up_to, lot, moq, lead = 14.0, 40.0, 6.0, 18.0, 5
    nodes = SimulationNodes(
        **{
            **vars(_nodes([-1], [reorder], [lead], [True], [demand.mean()], [demand.std()])),
            "order_up_to": np.array([up_to]),
            "lot_size": np.array([lot]),
            "minimum_order": np.array([moq]),
        }
    )
    result = simulate(
        nodes,
        SimulationConfig(days=400, warmup_days=0, replications=1, demand="gaussian"),
        actual_demand=demand[:, None],
    ).iloc[0]
    fill, cycle, ready, on_hand = _reference_single_stage(demand, reorder, up_to, lot, moq, lead)
    assert 0.5 < cycle < 0.99 and fill < 1  # the case has shortages to count
    assert result["fill_rate"] == pytest.approx(fill, abs=1e-9)
    assert result["cycle_service_level"] == pytest.approx(cycle, abs=1e-9)
    assert result["ready_rate"] == pytest.approx(ready, abs=1e-9)
    assert result["average_on_hand"] == pytest.approx(on_hand, abs=1e-9)


def test_simulated_bullwhip_is_one_for_a_daily_base_stock_and_grows_with_lots():
    """Order-up-to every day re-orders each day's demand: the orders a store places vary as
    its demand does (ratio 1). Lots of two weeks' demand make the weekly orders lumpy; the DC
    behind the store receives exactly the store's orders."""
    mean, sd, lead = 50.0, 15.0, 3
    base = mean * lead + 2 * sd * np.sqrt(lead)
    config = SimulationConfig(days=1400, replications=10, seed=2, demand="gaussian")
    daily = simulate(_nodes([-1], [base], [lead], [True], [mean], [sd]), config).iloc[0]
    ratio = daily["placed_weekly_variance"] / daily["received_weekly_variance"]
    assert daily["received_weekly_variance"] == pytest.approx(7 * sd**2, rel=0.1)
    assert ratio == pytest.approx(1.0, abs=0.02)
    lots = _nodes([1, -1], [base, 4000.0], [lead, 2], [True, False], [mean, 0.0], [sd, 0.0])
    lots = SimulationNodes(**{**vars(lots), "lot_size": np.array([14 * mean, 0.0])})
    store, dc = simulate(lots, config).itertuples(index=False)
    assert store.placed_weekly_variance > 5 * store.received_weekly_variance
    assert dc.received_weekly_variance == pytest.approx(store.placed_weekly_variance, rel=1e-9)


def _simulated_rows(plan, planning, history, config: SimulationConfig) -> pd.DataFrame:
    """``simulate_plan`` of ``plan`` on ``several_items_simulation_case``'s inputs, indexed by
    policy, sku and location."""
    return simulate_plan(
        plan,
        planning.item_network,
        planning.lane_lead_times,
        planning.lead_time_demand,
        config,
        demand_history=history,
    ).set_index(["policy", "sku", "location_id"])


def test_an_items_simulation_does_not_depend_on_the_other_items_in_the_run():
    # each item network draws from its own streams (the seed, the replication and the item):
    # re-simulating some items (the daily reuse, a Dask task) gives the full run's rows
    from planning_inputs import several_items_simulation_case

    targets, planning, history = several_items_simulation_case(5)
    config = SimulationConfig(days=140, warmup_days=28, replications=10, target_half_width=None)

    def run(plan: pd.DataFrame) -> pd.DataFrame:
        return _simulated_rows(plan, planning, history, config)

    every_item = run(targets)
    some = run(targets[targets["sku"].isin(["I3", "I1"])].iloc[::-1])
    pd.testing.assert_frame_equal(some.sort_index(), every_item.loc[some.sort_index().index])
    # and the items' draws differ: two copies of one item get different lead times
    stores = every_item.xs("meio").query("is_customer_facing")
    assert stores["average_on_hand"].nunique() == len(stores)


def test_items_simulated_beside_kept_ones_run_the_kept_replications():
    # the daily subset runs the count the whole set stopped at: its rows are the full run's
    from planning_inputs import several_items_simulation_case

    from simulation.reuse import subset_config

    targets, planning, history = several_items_simulation_case(5)
    config = SimulationConfig(
        days=140, warmup_days=28, replications=60, min_replications=10, target_half_width=0.005
    )

    def run(plan: pd.DataFrame, settings: SimulationConfig) -> pd.DataFrame:
        return _simulated_rows(plan, planning, history, settings)

    every_item = run(targets, config)
    count = int(every_item["replications"].iloc[0])
    assert 10 < count < 60  # stopped by the target, not at either bound
    kept = every_item.reset_index().query("sku not in ['I1', 'I3']")
    fixed = subset_config(config, kept)
    assert (fixed.replications, fixed.target_half_width) == (count, None)
    some = run(targets[targets["sku"].isin(["I1", "I3"])], fixed).sort_index()
    pd.testing.assert_frame_equal(some, every_item.loc[some.index])
    assert subset_config(config, kept.iloc[:0]) == config  # nothing kept: adaptive


def test_two_networks_of_one_item_draw_their_own_lead_times():
    # an item reaching stores through two plants, each from its own supplier: two networks of
    # one sku; keyed by sku and root location they draw different lead times (keyed by the
    # sku alone both would draw the same numbers and report identical stock)
    import math

    from planning_inputs import lane_frames

    from optimization.targets import PlanningInputs, plan_targets

    types = {"SA": "SUPPLIER", "SB": "SUPPLIER", "P1": "PLANT", "P2": "PLANT"}
    types |= {"S1": "STORE", "S2": "STORE"}
    lanes = [("SA", "P1", 7, 2.0), ("SB", "P2", 7, 2.0), ("P1", "S1", 2, 1.0), ("P2", "S2", 2, 1.0)]
    network, lead = lane_frames(types, lanes)
    ltd = pd.DataFrame(
        [
            (loc, "A", p, 10.0 * p, 4.0 * math.sqrt(p))
            for loc in ("P1", "P2", "S1", "S2")
            for p in range(1, 31)
        ],
        columns=["location_id", "sku", "periods", "mean", "sd"],
    )
    items = pd.DataFrame({"sku": ["A"], "unit_cost": [10.0], "lot_size": [1], "moq": [0]})
    customers = pd.DataFrame(
        {"location_id": ["S1", "S2"], "sku": ["A", "A"], "item_class": ["A", "A"]}
    )
    targets, _ = plan_targets(PlanningInputs(network, lead, items, ltd, customers, None))
    config = SimulationConfig(demand="gaussian", days=200, replications=4, target_half_width=None)
    simulated = simulate_plan(targets, network, lead, ltd, config, policies=["meio"])
    stores = simulated.set_index("location_id").loc[["S1", "S2"]]
    assert stores["reorder_level"].nunique() == 1  # the two branches are planned alike
    assert stores["average_on_hand"].nunique() == 2


def test_node_intervals_use_student_t_over_the_replications():
    # replication r's values are recovered from fixed runs of r and r + 1 replications (the
    # first r are the same draws); the published half-width is t(0.975, n - 1) sd / sqrt(n)
    from scipy.stats import t as student_t

    nodes = _nodes([-1, 0, 0], [300, 120, 90], [5, 2, 3], [False, True, True],
                   [0, 20, 15], [0, 6, 5])  # fmt: skip
    fixed = dict(days=120, warmup_days=14, seed=3, demand="gaussian", target_half_width=None)
    n = 5
    means = [
        simulate(nodes, SimulationConfig(replications=k, **fixed))["average_on_hand"].to_numpy()
        for k in range(1, n + 1)
    ]
    each = np.array([means[0]] + [(k + 1) * means[k] - k * means[k - 1] for k in range(1, n)])
    last = simulate(nodes, SimulationConfig(replications=n, **fixed))
    expected = student_t.ppf(0.975, n - 1) * each.std(axis=0, ddof=1) / np.sqrt(n)
    np.testing.assert_allclose(last["average_on_hand_ci95"].to_numpy(), expected, rtol=1e-6)


def test_demand_spread_reads_one_day_and_each_nodes_tau_capped_at_the_forecasts_reach():
    from simulation.monte_carlo import _demand_spread

    rng = np.random.default_rng(3)
    nodes = [("A", "S1"), ("A", "S2"), ("B", "S1")]
    ltd = pd.DataFrame(
        [(sku, loc, p, rng.random()) for sku, loc in nodes for p in range(1, 11)],
        columns=["sku", "location_id", "periods", "sd"],
    )
    keys = pd.DataFrame(nodes + [("C", "S9")], columns=["sku", "location_id"])  # C: no rows
    sd_one, sd_many, periods = _demand_spread(keys, ltd, np.array([3, 1, 25, 4]))
    sd = ltd.set_index(["sku", "location_id", "periods"])["sd"]
    assert periods.tolist() == [3, 1, 10, 4]  # 25 days: the forecast's 10 at most
    assert sd_one.tolist() == [sd["A", "S1", 1], sd["A", "S2", 1], sd["B", "S1", 1], 0.0]
    assert sd_many.tolist() == [sd["A", "S1", 3], sd["A", "S2", 1], sd["B", "S1", 10], 0.0]
