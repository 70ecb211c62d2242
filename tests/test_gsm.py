"""Guaranteed Service Model solvers: shared textbook instances, hand-checked networks, MIP = DP."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from optimization.gsm import (
    Network,
    _fold,
    _initial_bounds,
    _pair_model,
    single_echelon,
    solve_general,
    solve_mip,
    solve_tree,
    sqrt_cost_table,
)
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
