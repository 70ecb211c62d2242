"""Guaranteed Service Model solvers: shared textbook instances, hand-checked networks, MIP = DP."""

import itertools
import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from optimization.cli import main as cli_main
from optimization.gsm import (
    Network,
    single_echelon,
    solve,
    solve_general,
    solve_mip,
    solve_tree,
    sqrt_cost_table,
)
from optimization.gsm.pair_mip import _pair_model
from optimization.gsm.tree_dp import _fold, _forest_dp, _initial_bounds, _tree_dp
from optimization.instances import read_json_instance

EXPECTED = {
    "example_6_3": 2.8284271247,
    "problem_6_7": 357.7708764,
    "example_6_5": 8.2779169,
    "problem_6_9": 15.649530249501,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_instances_match_published_optimum(shared_dir, name):
    instance = read_json_instance(shared_dir / "validation" / "gsm" / f"{name}.json")
    tree = solve_tree(instance.network, instance.cost, instance.max_service_time)
    mip = solve_mip(instance.network, instance.cost, instance.max_service_time)
    assert tree.cost[0] == pytest.approx(EXPECTED[name], rel=1e-6)
    assert mip.cost[0] == pytest.approx(EXPECTED[name], rel=1e-6)
    assert mip.status == "optimal"


@pytest.mark.parametrize("cst, expected", [((0, 7), 13.121240238718), ((21, 5), 10.5811190103555)])
def test_problem_6_9_variants(shared_dir, tmp_path, cst, expected):
    data = json.loads((shared_dir / "validation" / "gsm" / "problem_6_9.json").read_text())
    for node in data["nodes"]:
        if node["_index"] in (1, 2):
            node["external_outbound_cst"] = cst[node["_index"] - 1]
    path = tmp_path / "variant.json"
    path.write_text(json.dumps(data))
    instance = read_json_instance(path)
    assert solve_tree(instance.network, instance.cost, instance.max_service_time).cost[
        0
    ] == pytest.approx(expected, rel=1e-6)


def serial(T, h, max_s, sigma=1.0, z=1.0, ext=0):
    n = len(T)
    net = Network(
        tuple(map(str, range(n))),
        np.array(T),
        tuple((k, k + 1) for k in range(n - 1)),
        np.array([ext] + [0] * (n - 1)),
    )
    M = int(net.longest_lead_time().max())
    cost = sqrt_cost_table(np.array([h]), np.full((1, n), z), np.full((1, n), sigma), M)
    ms = np.full((1, n), np.inf)
    ms[0, -1] = max_s
    return net, cost, ms


def test_serial_two_stage_by_hand():
    # upstream T=4 h=1, downstream T=1 h=3, customer max service 0.
    # Options: S_up=0 -> cost 1*2 + 3*1 = 5; S_up=4 -> 0 + 3*sqrt(5) = 6.708 -> optimum 5.
    net, cost, ms = serial([4, 1], [1.0, 3.0], 0)
    solution = solve_tree(net, cost, ms)
    assert solution.cost[0] == pytest.approx(5.0)
    assert solution.outbound_service_time[0].tolist() == [0, 0]
    # a cheap upstream stage holding everything is better when downstream holding is dear
    net, cost, ms = serial([4, 1], [1.0, 30.0], 0)
    assert solve_tree(net, cost, ms).cost[0] == pytest.approx(min(2 + 30, 30 * math.sqrt(5)))


def test_max_service_time_and_external_inbound_are_respected():
    net, cost, ms = serial([2, 3], [1.0, 1.0], 4, ext=1)
    solution = solve_tree(net, cost, ms)
    assert solution.outbound_service_time[0, 1] <= 4
    assert solution.inbound_service_time[0, 0] == 1
    assert (solution.net_replenishment_time >= 0).all()
    # all lead time (1 + 2 + 3 = 6) minus the quoted 4 leaves 2 periods to cover in total
    assert solution.cost[0] == pytest.approx(math.sqrt(2))


def random_network(rng, n: int, arcs, max_time: int = 5) -> Network:
    """Stages 0..n-1 with times 0..max_time-1 and external inbound times 0-2."""
    return Network(
        tuple(map(str, range(n))),
        rng.integers(0, max_time, n),
        tuple(sorted(arcs)),
        rng.integers(0, 3, n),
    )


def random_tree(rng, n):
    arcs = []
    for k in range(1, n):
        p = int(rng.integers(0, k))
        arcs.append((p, k) if rng.random() < 0.7 else (k, p))
    return random_network(rng, n, arcs)


def random_costs(rng, net: Network, items: int) -> tuple[np.ndarray, np.ndarray]:
    """sqrt cost tables and max service times (0-2 periods at customer-facing stages)."""
    M = int(net.longest_lead_time().max())
    cost = sqrt_cost_table(
        rng.uniform(0.1, 3, (items, net.n)),
        np.full((items, net.n), 1.65),
        rng.uniform(0.5, 5, (items, net.n)),
        M,
    )
    ms = np.full((items, net.n), np.inf)
    leaves = [j for j in range(net.n) if not net.customers()[j]]
    ms[:, leaves] = rng.integers(0, 3, (items, len(leaves)))
    return cost, ms


def brute_force(net: Network, cost: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """Cheapest outbound service times per item by enumerating every S (small networks)."""
    grids = np.meshgrid(*[np.arange(m + 1) for m in net.longest_lead_time()], indexing="ij")
    S = np.stack(grids, axis=-1).reshape(-1, net.n)
    up = net.suppliers()
    SI = np.stack(
        [
            S[:, up[j]].max(axis=1) if up[j] else np.full(len(S), net.external_inbound[j])
            for j in range(net.n)
        ],
        axis=1,
    )
    tau = SI + net.processing_time - S
    feasible = (tau >= 0).all(axis=1)
    best = []
    for item in range(cost.shape[0]):
        ok = feasible & (ms[item] >= S).all(axis=1)
        best.append(cost[item, np.arange(net.n), tau[ok]].sum(axis=1).min())
    return np.array(best)


def test_tree_dp_equals_enumeration_on_random_trees_for_many_items():
    rng = np.random.default_rng(5)
    checked = 0
    while checked < 6:
        net = random_tree(rng, 6)
        if np.prod(net.longest_lead_time() + 1.0) > 300_000:
            continue
        checked += 1
        cost, ms = random_costs(rng, net, items=4)
        tree = solve_tree(net, cost, ms)
        np.testing.assert_allclose(tree.cost, brute_force(net, cost, ms), rtol=1e-9)
        np.testing.assert_allclose(tree.cost, solve_mip(net, cost, ms).cost, rtol=1e-9)
        assert (tree.cost <= single_echelon(net, cost).cost + 1e-9).all()


def test_compiled_forest_dp_gives_the_numpy_dp_s_value_and_service_times_ties_included():
    rng = np.random.default_rng(11)
    for case in range(40):
        n = int(rng.integers(2, 12))
        net = random_tree(rng, n)
        if case % 4 == 0:  # a forest: two trees side by side
            other = random_tree(rng, 3)
            arcs = tuple(net.arcs) + tuple((i + n, j + n) for i, j in other.arcs)
            net = random_network(rng, n + 3, list(arcs))
        cost, ms = random_costs(rng, net, items=3)
        if case % 3 == 0:  # flat tables: many ties between service times
            cost = np.round(cost, 0)
        latest = net.longest_lead_time()
        s_bounds, si_bounds = _initial_bounds(net, ms, latest)
        value, S, _ = _tree_dp(net, cost, latest, s_bounds, si_bounds)
        compiled_value, compiled_S = _forest_dp(net, cost, latest, s_bounds, si_bounds)
        assert np.array_equal(value, compiled_value)  # the same sums in the same order
        assert np.array_equal(S, compiled_S)


def test_every_solver_equals_enumeration_on_random_small_dags():
    # 30 random acyclic networks of 4-6 stages that are not trees (assembly and several
    # suppliers per stage), 3 items each: the project's solvers against an enumeration of
    # every outbound service time, which shares no code with them
    rng = np.random.default_rng(11)
    checked = 0
    while checked < 30:
        n = int(rng.integers(4, 7))
        arcs = {(int(rng.integers(0, k)), k) for k in range(1, n) for _ in range(2)}
        net = random_network(rng, n, arcs, max_time=4)
        if net.is_forest() or np.prod(net.longest_lead_time() + 1.0) > 200_000:
            continue
        checked += 1
        cost, ms = random_costs(rng, net, items=3)
        best = brute_force(net, cost, ms)
        for solver in (solve, solve_mip, solve_general):
            found = solver(net, cost, ms)
            np.testing.assert_allclose(found.cost, best, rtol=1e-9, err_msg=solver.__name__)
            assert (found.item_gaps() <= 1e-9).all()


def test_mip_solves_a_network_with_shared_components():
    # components 0, 1 assemble into 2, which supplies customers 3 and 4; 5 also feeds 3, 1 also feeds 4
    net = Network(
        tuple("012345"),
        np.array([3, 2, 1, 1, 2, 4]),
        ((0, 2), (1, 2), (2, 3), (2, 4), (5, 3), (1, 4)),
        np.zeros(6, dtype=int),
    )
    assert not net.is_forest()
    M = int(net.longest_lead_time().max())
    cost = sqrt_cost_table(np.array([[1, 1, 3, 5, 5, 1.0]]), np.ones((1, 6)), np.ones((1, 6)), M)
    ms = np.array([[np.inf, np.inf, np.inf, 0, 1, np.inf]])
    mip = solve_mip(net, cost, ms)
    branch_and_bound = solve_general(net, cost, ms)
    best = brute_force(net, cost, ms)[0]
    assert mip.cost[0] == pytest.approx(best, rel=1e-9)
    assert branch_and_bound.cost[0] == pytest.approx(best, rel=1e-9)
    assert mip.status == branch_and_bound.status == "optimal"


def test_cli_prints_cost_and_service_times(shared_dir):
    path = shared_dir / "validation" / "gsm" / "example_6_5.json"
    out = subprocess.run(
        [sys.executable, "-m", "optimization.cli", "solve", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["optimal_cost"] == pytest.approx(8.2779169, rel=1e-6)
    assert {s["stage"] for s in result["stages"]} == {"1", "2", "3", "4"}


def test_cli_reports_unreadable_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    out = subprocess.run(
        [sys.executable, "-m", "optimization.cli", "solve", str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "cannot read" in out.stderr


def test_branch_and_bound_equals_mip_on_random_acyclic_networks():
    rng = np.random.default_rng(3)
    for _ in range(10):
        n = 8
        arcs = {(int(rng.integers(0, k)), k) for k in range(1, n) for _ in range(2)}
        net = random_network(rng, n, arcs)
        cost, ms = random_costs(rng, net, items=2)
        general = solve_general(net, cost, ms)
        np.testing.assert_allclose(general.cost, solve_mip(net, cost, ms).cost, rtol=1e-9)
        assert general.status == "optimal"
        S, SI = general.outbound_service_time, general.inbound_service_time
        for i, j in net.arcs:
            assert (SI[:, j] >= S[:, i]).all()


def test_mip_branches_where_the_pair_relaxation_is_fractional():
    # Dense random networks where the pair formulation's LP optimum over the core is fractional
    # (4 of the 117 with a cycle here): the MIP must reach the optimum the branch and bound proves.
    rng = np.random.default_rng(0)
    fractional = 0
    for _ in range(120):
        n = int(rng.integers(5, 12))
        arcs = {
            (int(rng.integers(0, k)), k) for k in range(1, n) for _ in range(rng.integers(1, 4))
        }
        net = random_network(rng, n, arcs, max_time=6)
        cost, ms = random_costs(rng, net, items=1)
        latest = net.longest_lead_time()
        s_bounds, si_bounds = _initial_bounds(net, ms, latest)
        folded = _fold(net, cost, latest, s_bounds, si_bounds)
        if not folded.core:
            continue
        model = _pair_model(net, cost, s_bounds, si_bounds, folded, item=0)
        rows = LinearConstraint(model.A, model.lower, model.upper)
        x = milp(model.c, constraints=rows, bounds=Bounds(0, 1)).x[: model.n_pairs]
        if (np.minimum(x, 1 - x) < 1e-6).all():
            continue
        fractional += 1
        mip = solve_mip(net, cost, ms)
        assert mip.status == "optimal"
        assert mip.cost[0] == pytest.approx(solve_general(net, cost, ms).cost[0], rel=1e-9)
        lp_bound = model.c[: model.n_pairs] @ x + folded.value[0]
        assert mip.cost[0] >= lp_bound - 1e-9
    assert fractional >= 3


def brute_force_stochastic(net, h, z, sigma, mean, lead_time_sd, ms) -> float:
    """Cheapest plan by enumerating every S, each stage costed from the formula itself:
    h z sqrt(sigma^2 tau + mean^2 sd_L^2), the lead-time term at every tau (0 included)."""
    best = math.inf
    up = net.suppliers()
    for S in itertools.product(*[range(int(m) + 1) for m in net.longest_lead_time()]):
        S = np.array(S)
        if (ms < S).any():
            continue
        SI = np.array([max(S[up[j]]) if up[j] else net.external_inbound[j] for j in range(net.n)])
        tau = SI + net.processing_time - S
        if (tau < 0).any():
            continue
        cost = float(np.sum(h * z * np.sqrt(sigma**2 * tau + (mean * lead_time_sd) ** 2)))
        best = min(best, cost)
    return best


@pytest.mark.parametrize("shape", ["tree", "dag"])
def test_stochastic_lead_times_solver_equals_enumeration(shape):
    rng = np.random.default_rng(11 if shape == "tree" else 12)
    checked = 0
    while checked < 6:
        n = 6
        if shape == "tree":
            net = random_tree(rng, n)
        else:
            arcs = {(int(rng.integers(0, k)), k) for k in range(1, n) for _ in range(2)}
            net = random_network(rng, n, arcs)
            if net.is_forest():
                continue
        if np.prod(net.longest_lead_time() + 1.0) > 60_000:
            continue
        checked += 1
        h, sigma = rng.uniform(0.1, 3, net.n), rng.uniform(0.5, 5, net.n)
        mean, sd_l = rng.uniform(1, 20, net.n), rng.uniform(0, 2, net.n) * (rng.random(net.n) < 0.6)
        z = np.full(net.n, 1.65)
        M = int(net.longest_lead_time().max())
        cost = sqrt_cost_table(h[None], z[None], sigma[None], M, mean[None], sd_l[None])
        ms = np.full((1, net.n), np.inf)
        leaves = [j for j in range(net.n) if not net.customers()[j]]
        ms[0, leaves] = rng.integers(0, 3, len(leaves))
        solution = solve(net, cost, ms)
        assert solution.status == "optimal"
        expected = brute_force_stochastic(net, h, z, sigma, mean, sd_l, ms[0])
        assert solution.cost[0] == pytest.approx(expected, rel=1e-9)


def chain_plus_arc(n: int = 80, z: float = 1.645, sigma: float = 10.0):
    """A serial chain of n stages (T 1-2) plus one arc from the first to the last stage."""
    rng = np.random.default_rng(0)
    net = Network(
        tuple(map(str, range(n))),
        rng.integers(1, 3, n),
        tuple(sorted([(k, k + 1) for k in range(n - 1)] + [(0, n - 1)])),
        np.zeros(n, dtype=np.int64),
    )
    h = np.cumsum(rng.uniform(0.5, 2.0, n))
    cost = sqrt_cost_table(h[None], np.full((1, n), z), np.full((1, n), sigma), 400)
    ms = np.full((1, n), np.inf)
    ms[0, -1] = 0
    return net, cost, ms


def test_a_long_chain_with_one_extra_arc_is_solved_to_its_optimum_within_the_limit():
    # The pair MIP's LP alone outlasts the limit here; the branch and bound proves the optimum
    # quickly. solve() must return that optimum, never the all-zero baseline.
    net, cost, ms = chain_plus_arc()
    started = time.perf_counter()
    solution = solve(net, cost, ms, time_limit=2.0)
    assert time.perf_counter() - started < 10
    proven = solve_general(net, cost, ms, time_limit=30)
    assert proven.status == "optimal"
    assert solution.status == "optimal" and solution.gap == 0
    assert solution.cost[0] == pytest.approx(proven.cost[0], rel=1e-9)
    assert solution.cost[0] < 0.5 * single_echelon(net, cost).cost[0]


def test_a_timed_out_solve_reports_its_incumbent_gap_and_bound():
    net, cost, ms = chain_plus_arc(z=1.0, sigma=1.0)
    mip = solve_mip(net, cost, ms, time_limit=0.05)
    assert mip.status == "time_limit"
    assert mip.lower_bound[0] <= mip.cost[0]
    # no bound yet (-inf) reads as a gap of 1: nothing proven
    assert mip.gap == pytest.approx(min(1.0, (mip.cost[0] - mip.lower_bound[0]) / mip.cost[0]))
    assert mip.cost[0] <= single_echelon(net, cost).cost[0]


TWO_STAGES = {
    "nodes": [
        {
            "_index": 1,
            "_successor_indices": [2],
            "local_holding_cost": 1.0,
            "processing_time": 10,
            "demand_bound_constant": 1.645,
        },
        {
            "_index": 2,
            "local_holding_cost": 1.0,
            "processing_time": 2,
            "demand_bound_constant": 1.645,
            "demand": {"mean": 100.0, "standard_deviation": 20.0},
        },
    ]
}


def run_cli(tmp_path, capsys, data, text=None):
    """meio-gsm solve in this process (an exception would fail the test: no traceback)."""
    path = tmp_path / "instance.json"
    path.write_text(text if text is not None else json.dumps(data))
    returncode = cli_main(["solve", str(path)])
    out = capsys.readouterr()
    return subprocess.CompletedProcess([], returncode, out.out, out.err)


def edited(stage: int, field: str, value, where=None):
    data = json.loads(json.dumps(TWO_STAGES))
    node = data["nodes"][stage - 1]
    target = node[where] if where else node
    if value is None:
        target.pop(field)
    else:
        target[field] = value
    return data


@pytest.mark.parametrize(
    "data, expected",
    [
        (edited(1, "processing_time", 2.5), "stage 1: processing_time must be a whole number"),
        (edited(1, "processing_time", -1), "stage 1: processing_time must be finite and >= 0"),
        (edited(2, "local_holding_cost", -3.0), "stage 2: local_holding_cost must be"),
        (edited(2, "local_holding_cost", "cheap"), "stage 2: local_holding_cost must be a number"),
        (edited(2, "standard_deviation", -1.0, "demand"), "stage 2 demand: standard_deviation"),
        (edited(1, "demand_bound_constant", None), "stage 1: demand_bound_constant is missing"),
        (edited(2, "external_outbound_cst", -1), "stage 2: external_outbound_cst must be"),
        (edited(1, "processing_time_sd", -0.5), "stage 1: processing_time_sd must be"),
        (edited(2, "_index", 1), "stage 1: _index appears more than once"),
        (edited(1, "_successor_indices", [99]), "stage 1: _successor_indices names unknown stage"),
        (edited(1, "_predecessor_indices", [2]), "cycle"),
        ({"nodes": []}, "the instance has no stages"),
    ],
)
def test_cli_rejects_invalid_instances_naming_stage_and_field(tmp_path, capsys, data, expected):
    out = run_cli(tmp_path, capsys, data)
    assert out.returncode == 2, out.stdout
    assert expected in out.stderr and "Traceback" not in out.stderr


def test_cli_rejects_nan_cost(tmp_path, capsys):
    text = json.dumps(TWO_STAGES).replace(
        '"local_holding_cost": 1.0', '"local_holding_cost": NaN', 1
    )
    out = run_cli(tmp_path, capsys, None, text)
    assert out.returncode == 2 and "stage 1: local_holding_cost must be finite" in out.stderr


def test_cli_buffers_processing_time_sd(tmp_path, capsys):
    calm = json.loads(run_cli(tmp_path, capsys, TWO_STAGES).stdout)
    shaky = json.loads(run_cli(tmp_path, capsys, edited(1, "processing_time_sd", 5.0)).stdout)
    assert calm["status"] == shaky["status"] == "optimal"
    assert sum(s["safety_stock"] for s in shaky["stages"]) >= 1.645 * 100 * 5
    assert shaky["cost"] > calm["cost"] and shaky["optimal_cost"] == shaky["cost"]


def test_demand_rolls_down_a_bill_of_material_like_value_rolls_up():
    from optimization.instances import bill_of_material_demand

    # A feeds B and C, both go into D (one unit each): D's demand needs two units of A
    net = Network(
        tuple("ABCD"), np.ones(4, dtype=np.int64), ((0, 1), (0, 2), (1, 3), (2, 3)), np.zeros(4)
    )
    mean, sigma = bill_of_material_demand(net, {3: (10.0, 2.0)})
    assert mean.tolist() == [20.0, 10.0, 10.0, 10.0]
    assert sigma.tolist() == [4.0, 2.0, 2.0, 2.0]
    # two independent customers of one supplier pool: sqrt(3^2 + 4^2)
    star = Network(tuple("SXY"), np.ones(3, dtype=np.int64), ((0, 1), (0, 2)), np.zeros(3))
    assert bill_of_material_demand(star, {1: (1.0, 3.0), 2: (2.0, 4.0)})[1][0] == 5.0
