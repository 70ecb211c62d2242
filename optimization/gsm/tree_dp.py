"""Graves-Willems spanning-tree dynamic program, vectorised over items that share a topology;
also folds the pendant trees of a general network for the pair MIP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.gsm.network import INF, Network, Solution, _evaluate


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
