"""Guaranteed Service Model (Graves & Willems 2000): exact safety-stock placement.

A network of stages (location x item) with arcs supplier -> customer. Stage j quotes an
outbound service time S_j (periods) to its customers, gets an inbound service time SI_j >= S_i
from every supplier i (>= the external supplier's service time at a source stage) and holds
safety stock to cover its net replenishment time tau_j = SI_j + T_j - S_j >= 0. Customer-facing
stages keep S_j <= their quoted maximum. The cost of stage j is any non-decreasing function of
tau_j given as a table ``cost[items, stage, tau]`` (currency per period), classically
h_j z_j sigma_j sqrt(tau_j). Times are whole periods.

Two exact solvers:
* ``solve_tree``: the spanning-tree dynamic program, vectorised over many items that share one
  tree topology (arrays of shape items x periods x periods per stage).
* ``solve_mip``: the pendant trees folded by the DP, the rest (the core) a mixed-integer
  program (HiGHS through scipy.optimize.milp) for any acyclic network; time-limited.
* ``solve_general``: branch and bound over a spanning-tree relaxation; time-limited.

``solve`` picks among them and, on a network with a core, never returns worse than the best
incumbent of the MIP and the branch and bound, with the status and gap against the best bound.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

INF = np.inf
LAGRANGE_STEPS = 8  # subgradient steps per branch-and-bound node


def whole_periods(time: np.ndarray | float) -> np.ndarray:
    """A measured (fractional) mean lead time as whole periods, rounded to the nearest (halves
    up): the one rounding of the project (pipeline lanes, Willems chains). Nearest, not up:
    rounding a 2.3-day mean lane up to 3 days adds 0.7 days of mean demand to every reorder
    point (measured on the demo: 99.8% simulated cycle service for a 95% target). The JSON
    instance format takes whole periods only."""
    return np.floor(np.asarray(time, dtype=float) + 0.5).astype(np.int64)


@dataclass(frozen=True)
class Network:
    """Topology and times shared by every item solved together.

    processing_time: T_j, whole periods, shape (stages,).
    arcs: (supplier index, customer index) pairs.
    external_inbound: service time of the outside supplier of a source stage (periods).
    """

    stage_ids: tuple[str, ...]
    processing_time: np.ndarray
    arcs: tuple[tuple[int, int], ...]
    external_inbound: np.ndarray

    @property
    def n(self) -> int:
        return len(self.stage_ids)

    def _memo(self, name: str, build):
        """Topology is immutable: derived lists are built once per network and shared (callers
        read them, never modify them); the solvers ask for them at every branch-and-bound node."""
        if name not in self.__dict__:
            self.__dict__[name] = build()
        return self.__dict__[name]

    def labelling(self) -> tuple[list[int], list[int | None]]:
        """``_labels``: the pendant-tree labelling order and each labelled stage's parent."""
        return self._memo("_labelling", lambda: _labels(self))

    def core(self) -> list[int]:
        """Stages the labelling never reaches: those on or between undirected cycles."""
        return self._memo("_core", lambda: sorted(set(range(self.n)) - set(self.labelling()[0])))

    def suppliers(self) -> list[list[int]]:
        return self._memo("_suppliers", lambda: self._neighbours(upstream=True))

    def customers(self) -> list[list[int]]:
        return self._memo("_customers", lambda: self._neighbours(upstream=False))

    def _neighbours(self, upstream: bool) -> list[list[int]]:
        lists: list[list[int]] = [[] for _ in range(self.n)]
        for i, j in self.arcs:
            if upstream:
                lists[j].append(i)
            else:
                lists[i].append(j)
        return lists

    def topological_order(self) -> list[int]:
        return self._memo("_topological_order", self._topological_order)

    def _topological_order(self) -> list[int]:
        indegree = np.zeros(self.n, dtype=int)
        for _, j in self.arcs:
            indegree[j] += 1
        down = self.customers()
        queue = deque(np.flatnonzero(indegree == 0).tolist())
        order = []
        while queue:
            i = queue.popleft()
            order.append(i)
            for j in down[i]:
                indegree[j] -= 1
                if indegree[j] == 0:
                    queue.append(j)
        if len(order) != self.n:
            raise ValueError("the network has a cycle: the GSM needs an acyclic network")
        return order

    def longest_lead_time(self) -> np.ndarray:
        """Latest possible outbound time per stage: external inbound + T along the longest path."""
        latest = np.zeros(self.n, dtype=np.int64)
        up = self.suppliers()
        for j in self.topological_order():
            inbound = max([latest[i] for i in up[j]], default=0)
            if not up[j]:
                inbound = self.external_inbound[j]
            latest[j] = inbound + self.processing_time[j]
        return latest

    def is_forest(self) -> bool:
        """True when the undirected network has no cycle (every component is a tree)."""
        parent = list(range(self.n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, j in self.arcs:
            a, b = find(i), find(j)
            if a == b:
                return False
            parent[a] = b
        return True


@dataclass
class Solution:
    """Optimal service times per item x stage (periods) and the cost per item (currency)."""

    outbound_service_time: np.ndarray  # S, (items, stages)
    inbound_service_time: np.ndarray  # SI, (items, stages)
    net_replenishment_time: np.ndarray  # tau, (items, stages)
    cost: np.ndarray  # (items,)
    status: str = "optimal"
    gap: float = 0.0
    method: str = "tree_dp"  # or "pair_mip", "branch_and_bound", "pair_mip+branch_and_bound"
    lower_bound: np.ndarray | None = None  # (items,) proven lower bound; None = cost (optimal)

    def bounds(self) -> np.ndarray:
        return self.cost.copy() if self.lower_bound is None else self.lower_bound.copy()

    def item_gaps(self) -> np.ndarray:
        """(items,) relative gap between each item's cost and its lower bound (0 = optimal)."""
        cost = self.cost
        return np.clip((cost - self.bounds()) / np.maximum(cost, 1e-300), 0.0, 1.0)


def sqrt_cost_table(
    holding_cost: np.ndarray,
    z: np.ndarray,
    sigma: np.ndarray,
    max_tau: int,
    mean: np.ndarray | None = None,
    lead_time_sd: np.ndarray | None = None,
) -> np.ndarray:
    """cost[item, stage, tau] = h z sqrt(sigma^2 tau + mean^2 sd_L^2).

    sigma, mean: demand standard deviation and mean per period; lead_time_sd: of the stage's
    own processing (replenishment) time, periods. The lead-time term applies at every tau,
    tau = 0 included: a stage guarantees the service time it quotes, so it buffers the
    variability of its own lead time even where it passes the mean lead time on (Humair et al.
    2013). Without it this is the classical h z sigma sqrt(tau). Shapes (items, stages).
    """
    tau = np.arange(max_tau + 1, dtype=float)
    variance = np.asarray(sigma, float)[..., None] ** 2 * tau
    if mean is not None and lead_time_sd is not None:
        variance = (
            variance + ((np.asarray(mean, float) * np.asarray(lead_time_sd, float)) ** 2)[..., None]
        )
    return (np.asarray(holding_cost, float) * np.asarray(z, float))[..., None] * np.sqrt(variance)


def _evaluate(network: Network, cost: np.ndarray, S: np.ndarray) -> Solution:
    """Inbound times, taus and cost implied by outbound times S (items, stages).

    Stages are visited supplier-first with SI_j = max(S of suppliers, external inbound) and
    S_j clamped to SI_j + T_j: where a solver left slack (SI above what the suppliers quote),
    this only lowers taus and downstream inbound times, so the cost never rises.
    """
    up = network.suppliers()
    S = S.copy()
    SI = np.zeros_like(S)
    for j in network.topological_order():
        if up[j]:
            SI[:, j] = S[:, up[j]].max(axis=1)
        else:
            SI[:, j] = network.external_inbound[j]
        S[:, j] = np.minimum(S[:, j], SI[:, j] + network.processing_time[j])
    tau = SI + network.processing_time[None, :] - S
    items = np.arange(S.shape[0])[:, None]
    stages = np.arange(network.n)[None, :]
    total = cost[items, stages, tau].sum(axis=1)
    return Solution(S, SI, tau, total)


def _labels(network: Network) -> tuple[list[int], list[int | None]]:
    """Graves-Willems labelling: each node, when labelled, has at most one unlabelled neighbour."""
    neighbours: list[set[int]] = [set() for _ in range(network.n)]
    for i, j in network.arcs:
        neighbours[i].add(j)
        neighbours[j].add(i)
    remaining = [len(nb) for nb in neighbours]
    labelled = np.zeros(network.n, dtype=bool)
    queue = deque(k for k in range(network.n) if remaining[k] <= 1)
    order: list[int] = []
    parent: list[int | None] = [None] * network.n
    while queue:
        k = queue.popleft()
        if labelled[k]:
            continue
        labelled[k] = True
        order.append(k)
        open_nb = [m for m in neighbours[k] if not labelled[m]]
        if open_nb:
            p = open_nb[0]
            parent[k] = p
            remaining[p] -= 1
            if remaining[p] <= 1:
                queue.append(p)
    return order, parent


@dataclass
class _Folded:
    """The tree DP's forward pass over the pendant trees of a network (all of a forest).

    Stages are labelled while at most one neighbour is unlabelled (``_labels``); what is never
    labelled is the core, where every stage lies on an undirected cycle or between two. Each
    labelled stage's optimal subtree cost is folded into its parent as a function of the
    parent's S or SI; a core stage's folded costs are ``core_inbound`` (over its SI, with its
    bounds: inf outside) and ``core_outbound`` (over its S). Arrays are (items, periods).
    """

    order: list[int]
    parent: list[int | None]
    f: dict[int, np.ndarray]  # k supplies its parent: cost of k's subtree by S_k
    g: dict[int, np.ndarray]  # k's parent supplies k: cost of k's subtree by SI_k
    arg_si_of_s: dict[int, np.ndarray]
    arg_s_of_si: dict[int, np.ndarray]
    roots: dict[int, tuple[np.ndarray, np.ndarray]]  # (S, SI) of a tree with no core stage
    value: np.ndarray  # (items,) cost of the trees with no core stage
    core: list[int]
    core_inbound: dict[int, np.ndarray]
    core_outbound: dict[int, np.ndarray]
    grid: np.ndarray  # service times 0..longest lead time (periods)


def _fold(
    network: Network,
    cost: np.ndarray,
    latest: np.ndarray,
    s_bounds: tuple[np.ndarray, np.ndarray],
    si_bounds: tuple[np.ndarray, np.ndarray],
    linear: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Folded:
    """Graves-Willems DP forward pass with bounds on S and SI per item x stage.

    ``linear`` = (a, b), (items, stages) each, adds a_k S_k + b_k SI_k to the objective
    (Lagrange multipliers of relaxed arcs).
    """
    n_items = cost.shape[0]
    M = int(latest.max())
    grid = np.arange(M + 1)
    T = network.processing_time
    s_lo, s_hi = s_bounds
    si_lo, si_hi = si_bounds
    up_arcs = set(network.arcs)
    order, parent = network.labelling()
    rank = {k: r for r, k in enumerate(order)}
    up, down = network.suppliers(), network.customers()
    folded = _Folded(order, parent, {}, {}, {}, {}, {}, np.zeros(n_items), [], {}, {}, grid)

    def folded_costs(k: int) -> tuple[np.ndarray, np.ndarray]:
        """k's own bounds and multipliers plus its labelled neighbours' subtrees, over SI and S."""
        inbound = np.where(
            (grid[None, :] < si_lo[:, k, None]) | (grid[None, :] > si_hi[:, k, None]), INF, 0.0
        )
        if linear is not None:
            inbound = inbound + linear[1][:, k, None] * grid[None, :]
        for i in up[k]:
            if rank.get(i, len(order)) < rank.get(k, len(order)):
                inbound = inbound + np.minimum.accumulate(folded.f[i], axis=1)
        outbound = np.where(
            (grid[None, :] < s_lo[:, k, None]) | (grid[None, :] > s_hi[:, k, None]), INF, 0.0
        )
        if linear is not None:
            outbound = outbound + linear[0][:, k, None] * grid[None, :]
        for j in down[k]:
            if rank.get(j, len(order)) < rank.get(k, len(order)):
                outbound = outbound + np.minimum.accumulate(folded.g[j][:, ::-1], axis=1)[:, ::-1]
        return inbound, outbound

    for k in order:
        inbound, outbound = folded_costs(k)
        tau = grid[None, :] + T[k] - grid[:, None]  # [S, SI]
        stage_cost = np.where(tau >= 0, cost[:, k, np.clip(tau, 0, cost.shape[2] - 1)], INF)
        total = stage_cost + inbound[:, None, :] + outbound[:, :, None]
        p = parent[k]
        if p is None:
            flat = total.reshape(n_items, -1)
            best = flat.argmin(axis=1)
            folded.value += flat[np.arange(n_items), best]
            folded.roots[k] = (best // (M + 1), best % (M + 1))
        elif (k, p) in up_arcs:  # k supplies p: f_k(S)
            folded.arg_si_of_s[k] = total.argmin(axis=2)
            folded.f[k] = np.take_along_axis(total, folded.arg_si_of_s[k][:, :, None], axis=2)[
                :, :, 0
            ]
        else:  # p supplies k: g_k(SI)
            folded.arg_s_of_si[k] = total.argmin(axis=1)
            folded.g[k] = np.take_along_axis(total, folded.arg_s_of_si[k][:, None, :], axis=1)[
                :, 0, :
            ]
    folded.core = network.core()
    for k in folded.core:
        folded.core_inbound[k], folded.core_outbound[k] = folded_costs(k)
    return folded


def _unfold(folded: _Folded, S: np.ndarray, SI: np.ndarray) -> None:
    """Backtrack the labelled stages' S and SI (items, stages) in place, given the core's."""
    grid = folded.grid
    rows = np.arange(S.shape[0])
    for k in reversed(folded.order):
        p = folded.parent[k]
        if p is None:
            S[:, k], SI[:, k] = folded.roots[k]
        elif k in folded.f:  # S_k <= SI_p
            masked = np.where(grid[None, :] <= SI[:, p][:, None], folded.f[k], INF)
            S[:, k] = masked.argmin(axis=1)
            SI[:, k] = folded.arg_si_of_s[k][rows, S[:, k]]
        else:  # SI_k >= S_p
            masked = np.where(grid[None, :] >= S[:, p][:, None], folded.g[k], INF)
            SI[:, k] = masked.argmin(axis=1)
            S[:, k] = folded.arg_s_of_si[k][rows, SI[:, k]]


def _tree_dp(
    tree: Network,
    cost: np.ndarray,
    latest: np.ndarray,
    s_bounds: tuple[np.ndarray, np.ndarray],
    si_bounds: tuple[np.ndarray, np.ndarray],
    linear: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graves-Willems DP on a forest with bounds on S and SI per item x stage (see ``_fold``).

    Returns the optimal value per item (inf where infeasible) and the S, SI chosen (SI may sit
    above what the suppliers quote; callers normalise with ``_evaluate``).
    """
    folded = _fold(tree, cost, latest, s_bounds, si_bounds, linear)
    S = np.zeros((cost.shape[0], tree.n), dtype=np.int64)
    SI = np.zeros_like(S)
    _unfold(folded, S, SI)
    return folded.value, S, SI


def _initial_bounds(network: Network, max_service_time: np.ndarray, latest: np.ndarray):
    """S in [0, min(max service, latest)], SI in [external inbound, latest - T] per item x stage."""
    n_items = max_service_time.shape[0]
    cap = np.minimum(
        np.where(np.isfinite(max_service_time), max_service_time, latest[None, :]), latest[None, :]
    )
    s_lo = np.zeros((n_items, network.n), dtype=np.int64)
    s_hi = cap.astype(np.int64)
    si_lo = np.zeros((n_items, network.n), dtype=np.int64)
    sources = [j for j, ups in enumerate(network.suppliers()) if not ups]
    si_lo[:, sources] = network.external_inbound[sources]
    si_hi = np.broadcast_to(latest - network.processing_time, (n_items, network.n)).astype(np.int64)
    return (s_lo, s_hi), (si_lo, si_hi.copy())


def solve_tree(network: Network, cost: np.ndarray, max_service_time: np.ndarray) -> Solution:
    """Exact GSM on a spanning tree (or forest) for many items at once.

    cost: (items, stages, taus) non-decreasing in tau, taus >= longest lead time + 1.
    max_service_time: (items, stages) upper bound on S (np.inf where there is none).
    """
    if not network.is_forest():
        raise ValueError("solve_tree needs a network whose undirected graph has no cycle")
    latest = network.longest_lead_time()
    if cost.shape[2] < int(latest.max()) + 1:
        raise ValueError(
            f"cost table covers tau up to {cost.shape[2] - 1}, needs {int(latest.max())}"
        )
    s_bounds, si_bounds = _initial_bounds(network, max_service_time, latest)
    value, S, _ = _tree_dp(network, cost, latest, s_bounds, si_bounds)
    if not np.isfinite(value).all():
        raise ValueError(
            "no feasible service times: check maximum service times against lead times"
        )
    return _evaluate(network, cost, S)


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


def _set_bounds(solution: Solution, bound: np.ndarray, proven: np.ndarray) -> None:
    """Status and gap of a solution from each item's lower bound (proven items: their cost)."""
    cost = solution.cost
    solution.lower_bound = np.where(proven, cost, np.minimum(bound, cost))
    gap = np.where(
        proven | (cost <= 0), 0.0, (cost - solution.lower_bound) / np.maximum(cost, 1e-300)
    )
    solution.gap = float(np.clip(gap, 0.0, 1.0).max()) if len(gap) else 0.0
    solution.status = "optimal" if proven.all() else "time_limit"


MAX_PAIR_COLUMNS = 3_000_000  # larger pair models go to the branch and bound (memory, build)


def _core_bounds(
    network: Network, folded_core: list[int], s_bounds, si_bounds, item: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Core stages (array) with their T, S max, SI min and SI max for one item."""
    core = np.asarray(folded_core, dtype=np.int64)
    return (
        core,
        network.processing_time[core],
        s_bounds[1][item, core],
        si_bounds[0][item, core],
        si_bounds[1][item, core],
    )


def _inbound_options(
    T: np.ndarray, s_hi: np.ndarray, si_lo: np.ndarray, si_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (stage, SI) with SI in [si_lo, si_hi] and how many S it allows:
    0 <= S <= min(SI + T, s_hi)."""
    per_stage = si_hi - si_lo + 1
    stage = np.repeat(np.arange(len(T)), per_stage)
    start = np.concatenate([[0], np.cumsum(per_stage)[:-1]])
    si = si_lo[stage] + np.arange(len(stage)) - start[stage]
    return stage, si, np.minimum(si + T[stage], s_hi[stage]) + 1


def _pair_columns(
    T: np.ndarray, s_hi: np.ndarray, si_lo: np.ndarray, si_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every feasible (stage, SI, S): SI in [si_lo, si_hi], 0 <= S <= min(SI + T, s_hi)."""
    stage, si, per_si = _inbound_options(T, s_hi, si_lo, si_hi)
    first = np.concatenate([[0], np.cumsum(per_si)[:-1]])
    rows = np.repeat(np.arange(len(si)), per_si)
    return stage[rows], si[rows], np.arange(len(rows)) - first[rows]


def pair_model_size(network: Network, max_service_time: np.ndarray) -> int:
    """Number of (stage, SI, S) columns of the pair MIP over the core, for the first item."""
    latest = network.longest_lead_time()
    s_bounds, si_bounds = _initial_bounds(network, max_service_time[:1], latest)
    _, T, s_hi, si_lo, si_hi = _core_bounds(network, network.core(), s_bounds, si_bounds, 0)
    return int(_inbound_options(T, s_hi, si_lo, si_hi)[2].sum())


def _cumulative_rows(
    stage: np.ndarray, value: np.ndarray, top: np.ndarray, column_offset: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Rows and entries defining C_j(t) = Pr(value_j >= t), t = 1..top_j, from the pair columns:
    C_j(t) - C_j(t + 1) - sum of the pairs with value_j = t = 0 (one row per C variable).
    Returns (row, column, coefficient) lists and each stage's first C row (t = 1)."""
    offset = np.concatenate([[0], np.cumsum(top)[:-1]])
    j = np.repeat(np.arange(len(top)), top)
    t = np.arange(len(j)) - offset[j] + 1
    own = np.arange(len(j))
    nxt = own[t < top[j]]
    has = value >= 1
    rows = [own, nxt, offset[stage[has]] + value[has] - 1]
    cols = [column_offset + own, column_offset + nxt + 1, np.flatnonzero(has)]
    vals = [np.ones(len(own)), -np.ones(len(nxt)), -np.ones(int(has.sum()))]
    return rows, cols, vals, offset


@dataclass
class _PairModel:
    """The pair MIP of one item's core: objective, constraint matrix with row bounds, and per
    pair column its stage (network index), SI and S."""

    c: np.ndarray
    A: sp.csr_matrix
    lower: np.ndarray
    upper: np.ndarray
    n_pairs: int
    stage: np.ndarray
    inbound: np.ndarray
    outbound: np.ndarray


def _pair_model(
    network: Network,
    cost: np.ndarray,
    s_bounds: tuple[np.ndarray, np.ndarray],
    si_bounds: tuple[np.ndarray, np.ndarray],
    folded: _Folded,
    item: int,
) -> _PairModel:
    """Columns [pairs | P_j(t) | Q_j(t)], rows [one pair per stage | P chain | Q chain | arcs],
    over the core stages, each pair costing its stage's cost plus the folded pendant trees."""
    core, T, s_top, si_lo, si_top = _core_bounds(network, folded.core, s_bounds, si_bounds, item)
    n = len(core)
    stage, si, s = _pair_columns(T, s_top, si_lo, si_top)
    inbound = np.stack([folded.core_inbound[k][item] for k in core])
    outbound = np.stack([folded.core_outbound[k][item] for k in core])
    pair_cost = cost[item, core[stage], si + T[stage] - s] + inbound[stage, si]
    pair_cost = pair_cost + outbound[stage, s]
    finite = np.isfinite(pair_cost)
    stage, si, s, pair_cost = stage[finite], si[finite], s[finite], pair_cost[finite]
    n_pairs, n_p, n_q = len(stage), int(s_top.sum()), int(si_top.sum())
    p_rows, p_cols, p_vals, p_offset = _cumulative_rows(stage, s, s_top, n_pairs)
    q_rows, q_cols, q_vals, q_offset = _cumulative_rows(stage, si, si_top, n_pairs + n_p)
    local = {k: c for c, k in enumerate(core.tolist())}
    arcs = np.array(
        [(local[i], local[j]) for i, j in network.arcs if i in local and j in local],
        dtype=np.int64,
    ).reshape(-1, 2)
    arc = np.repeat(np.arange(len(arcs)), s_top[arcs[:, 0]])
    first = np.concatenate([[0], np.cumsum(s_top[arcs[:, 0]])[:-1]])
    t = np.arange(len(arc)) - first[arc]  # t - 1
    n_arc_rows = len(arc)
    rows = [stage] + [r + n for r in p_rows] + [r + n + n_p for r in q_rows]
    cols = [np.arange(n_pairs)] + p_cols + q_cols
    vals = [np.ones(n_pairs)] + p_vals + q_vals
    arc_row = n + n_p + n_q + np.arange(n_arc_rows)
    rows += [arc_row, arc_row]
    cols += [
        n_pairs + p_offset[arcs[arc, 0]] + t,
        n_pairs + n_p + q_offset[arcs[arc, 1]] + t,
    ]
    vals += [np.ones(n_arc_rows), -np.ones(n_arc_rows)]
    n_rows, n_cols = n + n_p + n_q + n_arc_rows, n_pairs + n_p + n_q
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_cols),
    )
    lower = np.concatenate([np.ones(n), np.zeros(n_p + n_q), np.full(n_arc_rows, -INF)])
    upper = np.concatenate([np.ones(n), np.zeros(n_p + n_q + n_arc_rows)])
    c = np.concatenate([pair_cost, np.zeros(n_p + n_q)])
    return _PairModel(c, A, lower, upper, n_pairs, core[stage], si, s)


def _solve_pair(model: _PairModel, time_limit: float) -> tuple[np.ndarray | None, bool, float]:
    """One item's pair MIP: the LP relaxation first; where its optimum is not integral, HiGHS
    branches without presolve (its presolve took 39 s on a 22-stage Willems chain). Returns
    x (None if none found), proven optimal, and the best bound. (Solving many items' LPs as
    one block-diagonal LP was measured no faster: 5.5-7.4 s vs 6.1 s for 1,000 items.)"""
    started = time.perf_counter()
    rows = LinearConstraint(model.A, model.lower, model.upper)
    relaxed = milp(
        model.c, constraints=rows, bounds=Bounds(0, 1), options={"time_limit": time_limit}
    )
    lp_bound = float(relaxed.fun) if relaxed.status == 0 else -INF
    if relaxed.status == 0:
        pairs = relaxed.x[: model.n_pairs]
        if (np.minimum(pairs, 1 - pairs) < 1e-6).all():
            return relaxed.x, True, lp_bound
    result = milp(
        model.c,
        constraints=rows,
        integrality=np.concatenate(
            [np.ones(model.n_pairs), np.zeros(len(model.c) - model.n_pairs)]
        ),
        bounds=Bounds(0, 1),
        options={
            "time_limit": max(0.0, time_limit - (time.perf_counter() - started)),
            "mip_rel_gap": 1e-9,
            "presolve": False,
        },
    )
    mip_bound = getattr(result, "mip_dual_bound", None)
    return result.x, result.status == 0, max(lp_bound, -INF if mip_bound is None else mip_bound)


def solve_mip(
    network: Network, cost: np.ndarray, max_service_time: np.ndarray, time_limit: float = 60.0
) -> Solution:
    """Exact GSM on any acyclic network as a MIP solved by HiGHS, per item.

    The tree DP first folds the pendant trees (every stage not on or between undirected
    cycles) into cost functions of the core stages they hang from, for all items at once; each
    item's core is then a MIP in the pair formulation: a binary x_j(a, b) per core stage and
    feasible pair of inbound time SI_j = a and outbound time S_j = b (b <= a + T_j), one pair
    per stage, costing c_j(a + T_j - b) plus the folded trees. Cumulative shares
    P_j(t) = [S_j >= t] and Q_j(t) = [SI_j >= t] turn each core arc's SI_j >= S_i into
    P_i(t) <= Q_j(t) for every t. Its LP relaxation is far tighter than one binary per tau:
    measured, it is integral on all 38 Willems chains, so it is solved first and HiGHS
    branches only for an item whose LP is fractional. ``time_limit`` is in seconds per item.
    Status 'optimal' or 'time_limit' with the largest gap between an item's cost and its bound.
    """
    latest = network.longest_lead_time()
    s_bounds, si_bounds = _initial_bounds(network, max_service_time, latest)
    folded = _fold(network, cost, latest, s_bounds, si_bounds)
    n_items = cost.shape[0]
    S = np.zeros((n_items, network.n), dtype=np.int64)
    SI = np.zeros_like(S)
    proven = np.ones(n_items, dtype=bool)
    bound = folded.value.copy()
    if folded.core:
        for item in range(n_items):
            model = _pair_model(network, cost, s_bounds, si_bounds, folded, item)
            x, proven[item], core_bound = _solve_pair(model, time_limit)
            bound[item] += core_bound
            if x is not None:
                chosen = x[: model.n_pairs] > 0.5
                S[item, model.stage[chosen]] = model.outbound[chosen]
                SI[item, model.stage[chosen]] = model.inbound[chosen]
    _unfold(folded, S, SI)
    solution = _evaluate(network, cost, S)
    worse = single_echelon(network, cost).cost < solution.cost  # all quote 0: always feasible
    if worse.any():  # an incumbent like any other: its gap to the bound is reported
        S[worse] = 0
        solution = _evaluate(network, cost, S)
    _set_bounds(solution, bound, proven)
    solution.method = "pair_mip" if folded.core else "tree_dp"
    return solution


def solve(
    network: Network, cost: np.ndarray, max_service_time: np.ndarray, time_limit: float = 60.0
) -> Solution:
    """Tree DP where the network is a tree (exact, vectorised). Otherwise the pair MIP with
    half of ``time_limit`` (seconds per item; unless its model would exceed
    ``MAX_PAIR_COLUMNS``: the columns grow with the square of the longest lead time), then the
    branch and bound with the rest for the items the MIP did not prove. Each item keeps the
    better incumbent and the higher lower bound of the two; status and gap say what is proven.
    (A 150-stage chain plus one arc: the MIP's LP alone outlasts 30 s, the branch and bound
    proves the optimum in 0.1 s.)"""
    if network.is_forest():
        return solve_tree(network, cost, max_service_time)
    if pair_model_size(network, max_service_time) > MAX_PAIR_COLUMNS:
        return solve_general(network, cost, max_service_time, time_limit=time_limit)
    mip = solve_mip(network, cost, max_service_time, time_limit=time_limit / 2)
    open_items = mip.cost > mip.bounds() * (1 + 1e-9) + 1e-12
    if not open_items.any():
        return mip
    general = solve_general(
        network, cost[open_items], max_service_time[open_items], time_limit=time_limit / 2
    )
    S = mip.outbound_service_time.copy()
    better = general.cost < mip.cost[open_items]
    rows = np.flatnonzero(open_items)
    S[rows[better]] = general.outbound_service_time[better]
    solution = _evaluate(network, cost, S)
    bound = mip.bounds()
    bound[rows] = np.maximum(bound[rows], general.bounds())
    _set_bounds(solution, bound, solution.cost <= bound * (1 + 1e-9) + 1e-12)
    solution.method = "pair_mip+branch_and_bound"
    return solution


def single_echelon(network: Network, cost: np.ndarray) -> Solution:
    """Baseline: every stage quotes S = 0 and covers its own full replenishment time."""
    S = np.zeros((cost.shape[0], network.n), dtype=np.int64)
    return _evaluate(network, cost, S)
