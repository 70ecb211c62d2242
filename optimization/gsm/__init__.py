"""Guaranteed Service Model (Graves & Willems 2000): exact safety-stock placement.

A network of stages (location x item) with arcs supplier -> customer. Stage j quotes an
outbound service time S_j (periods) to its customers, gets an inbound service time SI_j >= S_i
from every supplier i (>= the external supplier's service time at a source stage) and holds
safety stock to cover its net replenishment time tau_j = SI_j + T_j - S_j >= 0. Customer-facing
stages keep S_j <= their quoted maximum. The cost of stage j is any non-decreasing function of
tau_j given as a table ``cost[items, stage, tau]`` (currency per period), classically
h_j z_j sigma_j sqrt(tau_j); with a random processing time (sd s_j) the stage also buffers its
own lead-time variability at every tau, tau = 0 included: h_j z_j sqrt(sigma_j^2 tau_j +
mean_j^2 s_j^2) (``sqrt_cost_table``, docs/design.md). Times are whole periods.

Modules: ``network`` (stages, solutions, cost tables), ``tree_dp``, ``pair_mip``,
``branch_and_bound``. Three exact solvers:
* ``solve_tree``: the spanning-tree dynamic program, vectorised over many items that share one
  tree topology (arrays of shape items x periods x periods per stage).
* ``solve_mip``: the pendant trees folded by the DP, the rest (the core) a mixed-integer
  program (HiGHS through scipy.optimize.milp) for any acyclic network; time-limited.
* ``solve_general``: branch and bound over a spanning-tree relaxation; time-limited.

``solve`` picks among them and, on a network with a core, never returns worse than the best
incumbent of the MIP and the branch and bound, with the status and gap against the best bound.
"""

from __future__ import annotations

import numpy as np

from optimization.gsm.branch_and_bound import solve_general
from optimization.gsm.network import (
    Network,
    Solution,
    _evaluate,
    _set_bounds,
    single_echelon,
    sqrt_cost_table,
    whole_periods,
)
from optimization.gsm.pair_mip import MAX_PAIR_COLUMNS, pair_model_size, solve_mip
from optimization.gsm.tree_dp import solve_tree

__all__ = [
    "Network",
    "Solution",
    "pair_model_size",
    "single_echelon",
    "solve",
    "solve_general",
    "solve_mip",
    "solve_tree",
    "sqrt_cost_table",
    "whole_periods",
]


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
