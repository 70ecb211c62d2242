"""Speed of the GSM over many items on one 25-stage distribution network.

Plant (T=14) -> 4 DCs (T=2..5) -> 20 stores (T=1..3), stores serve from stock (S=0).
First the tree (vectorised tree DP), then the same network where 4 stores are also fed by a
second DC (a core of cycles: pendant trees folded, core solved as the pair MIP per item).
Prints items, seconds, items per second and the saving, and writes them to
benchmarks/results/tree_dp.json. Usage: python benchmarks/tree_dp.py [ITEMS]
"""

import sys
import time
from pathlib import Path

import numpy as np
from provenance import write_results

from optimization.gsm import Network, single_echelon, solve, sqrt_cost_table


def main(items: int = 2000) -> None:
    rng = np.random.default_rng(0)
    stages = ["PLT"] + [f"DC{d}" for d in range(4)] + [f"ST{s:02d}" for s in range(20)]
    tree_arcs = [(0, 1 + d) for d in range(4)] + [(1 + s % 4, 5 + s) for s in range(20)]
    second_dc = [(1 + (s + 1) % 4, 5 + s) for s in range(4)]
    T = np.array([14] + list(rng.integers(2, 6, 4)) + list(rng.integers(1, 4, 20)))
    sigma = rng.uniform(1, 20, (items, 25))
    h = rng.uniform(0.01, 1.0, (items, 1)) * np.array([1.0] + [1.1] * 4 + [1.3] * 20)
    max_s = np.full((items, 25), np.inf)
    max_s[:, 5:] = 0
    rows = []
    for label, arcs in (("tree", tree_arcs), ("4 stores on two DCs", tree_arcs + second_dc)):
        net = Network(tuple(stages), T, tuple(arcs), np.zeros(25, dtype=np.int64))
        M = int(net.longest_lead_time().max())
        cost = sqrt_cost_table(h, np.full((items, 25), 1.645), sigma, M)
        started = time.perf_counter()
        solution = solve(net, cost, max_s)
        seconds = time.perf_counter() - started
        baseline = single_echelon(net, cost).cost.sum()
        print(
            f"{label}: {items} items, 25 stages, {len(arcs)} arcs, longest lead time {M} periods: "
            f"{solution.method} {seconds:.2f} s ({items / seconds:,.0f} items/s), {solution.status}; "
            f"cost {solution.cost.sum():,.1f} vs single-echelon {baseline:,.1f} "
            f"(saving {1 - solution.cost.sum() / baseline:.1%})"
        )
        rows.append(
            {
                "network": label,
                "items": items,
                "arcs": len(arcs),
                "method": solution.method,
                "seconds": round(seconds, 3),
                "items_per_second": round(items / seconds),
                "status": solution.status,
                "cost": float(solution.cost.sum()),
                "single_echelon_cost": float(baseline),
            }
        )
    write_results(Path("benchmarks/results/tree_dp.json"), {"rows": rows})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
