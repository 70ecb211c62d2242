"""Benchmark the GSM optimizer on the 38 Willems (2008) chains in ../shared/data/willems.

Prints per chain: stages, arcs, solver method, cost, solve time, status and gap; writes a
JSON beside it.
Times are rounded to the nearest whole period (gsm.whole_periods; chains with fractional times are
flagged); stochastic times enter at their mean.
Usage: python benchmarks/willems.py [--time-limit SECONDS] [--chains 01 02 ...]
"""

import argparse
import time
from pathlib import Path

from provenance import write_results

from optimization.gsm import single_echelon, solve
from optimization.instances import read_willems_chain

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "willems"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--chains", nargs="*")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/willems.json"))
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} is absent")
    chains = args.chains or sorted(p.name.split("_")[0] for p in DATA.glob("*_stages.csv"))
    rows = []
    print(
        f"{'chain':>5} {'stages':>6} {'arcs':>5} {'method':>16} {'cost':>14} {'baseline':>14} {'saving':>7} {'seconds':>8} {'status':>10} {'gap':>8}  notes"
    )
    for chain in chains:
        instance, facts = read_willems_chain(
            DATA / f"{chain}_stages.csv", DATA / f"{chain}_arcs.csv"
        )
        started = time.perf_counter()
        solution = solve(
            instance.network, instance.cost, instance.max_service_time, time_limit=args.time_limit
        )
        seconds = time.perf_counter() - started
        baseline = float(single_echelon(instance.network, instance.cost).cost[0])
        cost = float(solution.cost[0])
        notes = []
        if facts["fractional_times"]:
            notes.append(
                f"{facts['fractional_times']} fractional times rounded to the nearest period"
            )
        if facts["stochastic_times"]:
            notes.append(f"{facts['stochastic_times']} stochastic times at their mean")
        row = {
            "chain": chain,
            "stages": instance.network.n,
            "arcs": len(instance.network.arcs),
            "method": solution.method,
            "cost": cost,
            "single_echelon_cost": baseline,
            "saving": 1 - cost / baseline if baseline else 0.0,
            "seconds": round(seconds, 3),
            "status": solution.status,
            "gap": solution.gap,
            "notes": "; ".join(notes),
        }
        rows.append(row)
        print(
            f"{chain:>5} {row['stages']:>6} {row['arcs']:>5} {solution.method:>16} {cost:>14,.1f} {baseline:>14,.1f} {row['saving']:>7.1%} {seconds:>8.2f} {solution.status:>10} {solution.gap:>8.2e}  {row['notes']}",
            flush=True,
        )
    write_results(
        args.out,
        {"total_seconds": round(sum(r["seconds"] for r in rows), 1), "rows": rows},
    )
    solved = sum(r["status"] == "optimal" for r in rows)
    print(
        f"{solved}/{len(rows)} chains solved to optimality; total {sum(r['seconds'] for r in rows):.1f} s"
    )


if __name__ == "__main__":
    main()
