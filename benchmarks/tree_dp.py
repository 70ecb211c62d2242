"""Speed of the vectorised tree DP: many items on one 25-stage distribution tree.

Plant (T=14) -> 4 DCs (T=2..5) -> 20 stores (T=1..3), stores serve from stock (S=0).
Prints items, stages, seconds and items per second. Usage: python benchmarks/tree_dp.py [ITEMS]
"""

import sys
import time

import numpy as np

from optimization.gsm import Network, single_echelon, solve_tree, sqrt_cost_table


def main(items: int = 2000) -> None:
    rng = np.random.default_rng(0)
    stages = ["PLT"] + [f"DC{d}" for d in range(4)] + [f"ST{s:02d}" for s in range(20)]
    arcs = [(0, 1 + d) for d in range(4)] + [(1 + s % 4, 5 + s) for s in range(20)]
    T = np.array([14] + list(rng.integers(2, 6, 4)) + list(rng.integers(1, 4, 20)))
    net = Network(tuple(stages), T, tuple(arcs), np.zeros(25, dtype=np.int64))
    M = int(net.longest_lead_time().max())
    sigma = rng.uniform(1, 20, (items, 25))
    h = rng.uniform(0.01, 1.0, (items, 1)) * np.array([1.0] + [1.1] * 4 + [1.3] * 20)
    cost = sqrt_cost_table(h, np.full((items, 25), 1.645), sigma, M)
    max_s = np.full((items, 25), np.inf)
    max_s[:, 5:] = 0
    started = time.perf_counter()
    solution = solve_tree(net, cost, max_s)
    seconds = time.perf_counter() - started
    baseline = single_echelon(net, cost).cost.sum()
    print(f"items {items}, stages 25, longest lead time {M} periods")
    print(f"tree DP: {seconds:.2f} s ({items / seconds:,.0f} items/s)")
    print(
        f"total cost {solution.cost.sum():,.1f} vs single-echelon {baseline:,.1f} (saving {1 - solution.cost.sum() / baseline:.1%})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
