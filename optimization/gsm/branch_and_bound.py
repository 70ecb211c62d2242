"""Branch and bound over a spanning-tree relaxation, Lagrangian bounds: exact GSM on any acyclic
network, time-limited."""

from __future__ import annotations

import heapq
import time

import numpy as np

from optimization.gsm.network import INF, Network, Solution, _evaluate, _set_bounds
from optimization.gsm.tree_dp import _initial_bounds, _tree_dp

LAGRANGE_STEPS = 8  # subgradient steps per branch-and-bound node


def _spanning_forest(network: Network) -> tuple[Network, list[tuple[int, int]]]:
    """A spanning forest of the network and the arcs left out of it. Arcs from the suppliers
    with the longest lead time to them are kept first (Kruskal on that weight): a stage's
    inbound time is set by its slowest supplier, so the arcs relaxed are those least likely to
    bind. Willems chains at 60 s each: 26 of 38 proven optimal (23 keeping arcs in input
    order); chain 35's gap 14.6% -> 0.2%, chain 19's 16.3% -> 3.4%; chain 22 lost its proof
    (0.6% gap, same cost)."""
    parent = list(range(network.n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    kept, dropped = [], []
    latest = network.longest_lead_time()
    for i, j in sorted(network.arcs, key=lambda arc: -latest[arc[0]]):
        a, b = find(i), find(j)
        if a == b:
            dropped.append((i, j))
        else:
            parent[a] = b
            kept.append((i, j))
    tree = Network(
        network.stage_ids, network.processing_time, tuple(kept), network.external_inbound
    )
    return tree, dropped


def _repairs(network: Network, S: np.ndarray, SI: np.ndarray) -> list[np.ndarray]:
    """Feasible outbound times from a relaxed solution: keep S (customers wait longer), or cut
    each supplier's S to the earliest inbound time its customers planned for."""
    lowered = S.copy()
    for i, customers in enumerate(network.customers()):
        if customers:
            lowered[:, i] = np.minimum(lowered[:, i], SI[:, customers].min(axis=1))
    return [S, lowered]


def _branch_and_bound_item(
    network: Network,
    tree: Network,
    dropped: list[tuple[int, int]],
    item_cost: np.ndarray,
    max_service_time: np.ndarray,
    latest: np.ndarray,
    time_limit: float,
) -> tuple[np.ndarray, str, float]:
    """Branch and bound for one item (cost (1, stages, taus)); see ``solve_general``.
    Returns the best outbound times found, the status and the lowest open bound."""
    started = time.perf_counter()
    s_bounds, si_bounds = _initial_bounds(network, max_service_time, latest)
    best_S = np.zeros((1, network.n), dtype=np.int64)  # all quote 0: always feasible
    best = float(_evaluate(network, item_cost, best_S).cost[0])
    arc_i = np.array([i for i, _ in dropped], dtype=np.int64)
    arc_j = np.array([j for _, j in dropped], dtype=np.int64)

    def bound(sb, sib, lam):
        """Lagrangian lower bound of a node: relaxed arcs priced by lam (subgradient steps)."""
        best_value, best_lam = -INF, lam
        theta = 1.0
        for _ in range(LAGRANGE_STEPS):
            a = np.zeros((1, network.n))
            b = np.zeros((1, network.n))
            np.add.at(a[0], arc_i, lam)
            np.add.at(b[0], arc_j, -lam)
            value, S, SI = _tree_dp(tree, item_cost, latest, sb, sib, (a, b))
            value = float(value[0])
            if not np.isfinite(value):
                return INF, lam
            if value > best_value:
                best_value, best_lam = value, lam
            g = (S[0, arc_i] - SI[0, arc_j]).astype(float)
            norm = float(g @ g)
            if norm == 0 or best <= value:
                break
            lam = np.maximum(0.0, lam + theta * (best - value) / norm * g)
            theta *= 0.7
        return best_value, best_lam

    def expand(sb, sib, lam):
        """Plain DP (its solution drives incumbents and branching), then the bound."""
        nonlocal best, best_S
        value, S, SI = _tree_dp(tree, item_cost, latest, sb, sib)
        value = float(value[0])
        if not np.isfinite(value):
            return None
        for candidate in _repairs(network, S, SI):
            feasible = _evaluate(network, item_cost, candidate)
            if feasible.cost[0] < best:
                best, best_S = float(feasible.cost[0]), feasible.outbound_service_time
        violated = [(S[0, i] - SI[0, j], i, j) for i, j in dropped if S[0, i] > SI[0, j]]
        if not violated:
            return None  # the relaxation's optimum is feasible: its cost is an incumbent
        lower, lam = bound(sb, sib, lam) if LAGRANGE_STEPS else (value, lam)
        lower = max(lower, value)
        if lower >= best * (1 - 1e-12):
            return None
        _, i, j = max(violated)
        return lower, lam, i, j, int(SI[0, j])

    heap = []
    counter = 0
    root = expand(s_bounds, si_bounds, np.zeros(len(dropped)))
    if root is not None:
        heap.append((root[0], counter, s_bounds, si_bounds, root))
    status, open_bound = "optimal", best
    while heap:
        if time.perf_counter() - started > time_limit:
            status = "time_limit"
            open_bound = heap[0][0]
            break
        lower, _, sb, sib, (_, lam, i, j, v) = heapq.heappop(heap)
        if lower >= best * (1 - 1e-12):
            break  # best-first: every open node is at least this bound
        (s_lo, s_hi), (si_lo, si_hi) = sb, sib
        left_s_hi = s_hi.copy()
        left_s_hi[0, i] = min(left_s_hi[0, i], v)
        right_s_lo, right_si_lo = s_lo.copy(), si_lo.copy()
        right_s_lo[0, i] = max(right_s_lo[0, i], v + 1)
        right_si_lo[0, j] = max(right_si_lo[0, j], v + 1)
        for child_s, child_si in (
            ((s_lo, left_s_hi), (si_lo, si_hi)),
            ((right_s_lo, s_hi), (right_si_lo, si_hi)),
        ):
            child = expand(child_s, child_si, lam)
            if child is not None:
                counter += 1
                heapq.heappush(heap, (child[0], counter, child_s, child_si, child))
    return best_S[0], status, best if status == "optimal" else min(best, open_bound)


def solve_general(
    network: Network,
    cost: np.ndarray,
    max_service_time: np.ndarray,
    time_limit: float = 60.0,
) -> Solution:
    """Exact GSM on any acyclic network by branch and bound over a spanning-tree relaxation.

    Dropping the arcs outside a spanning tree relaxes their constraints SI_j >= S_i; the tree DP
    solves the relaxation exactly, giving a lower bound. A violated dropped arc (S_i > SI_j = v)
    is branched on: S_i <= v, or S_i >= v + 1 and SI_j >= v + 1. Every relaxed solution, made
    feasible, is an incumbent. A node's bound is the Lagrangian one (relaxed arcs priced by
    multipliers from a few subgradient steps, warm-started from the parent). Best-first; stops
    at ``time_limit`` seconds per item with the gap between the incumbent and the lowest bound.
    """
    latest = network.longest_lead_time()
    tree, dropped = _spanning_forest(network)
    results = []
    for item in range(cost.shape[0]):
        results.append(
            _branch_and_bound_item(
                network,
                tree,
                dropped,
                cost[item : item + 1],
                max_service_time[item : item + 1],
                latest,
                time_limit,
            )
        )
    solution = _evaluate(network, cost, np.stack([r[0] for r in results]))
    proven = np.array([r[1] == "optimal" for r in results])
    _set_bounds(solution, np.array([r[2] for r in results]), proven)
    solution.method = "branch_and_bound"
    return solution
