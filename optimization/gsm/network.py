"""The GSM's network, its solution and cost tables (shared by every solver).

A stage quotes an outbound service time S_j, gets an inbound service time SI_j and covers its
net replenishment time tau_j = SI_j + T_j - S_j; cost tables are ``cost[items, stage, tau]``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

INF = np.inf


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
        gap = np.where(cost <= 0, 0.0, (cost - self.bounds()) / np.maximum(cost, 1e-300))
        return np.clip(gap, 0.0, 1.0)


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


def _set_bounds(solution: Solution, bound: np.ndarray, proven: np.ndarray) -> None:
    """Status and gap of a solution from each item's lower bound (proven items: their cost)."""
    cost = solution.cost
    solution.lower_bound = np.where(proven, cost, np.minimum(bound, cost))
    gaps = solution.item_gaps()
    solution.gap = float(gaps.max()) if len(gaps) else 0.0
    solution.status = "optimal" if proven.all() else "time_limit"


def single_echelon(network: Network, cost: np.ndarray) -> Solution:
    """Baseline: every stage quotes S = 0 and covers its own full replenishment time."""
    S = np.zeros((cost.shape[0], network.n), dtype=np.int64)
    return _evaluate(network, cost, S)


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
