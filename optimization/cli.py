"""meio-gsm: solve a GSM instance file and print the optimal cost and service times as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from optimization.gsm import solve
from optimization.instances import read_json_instance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meio-gsm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    solve_cmd = commands.add_parser("solve", help="solve one instance (JSON stage format)")
    solve_cmd.add_argument("path", type=Path)
    solve_cmd.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="time limit for a network that is not a tree, seconds",
    )
    args = parser.parse_args(argv)
    try:
        instance = read_json_instance(args.path)
    except (OSError, ValueError, KeyError) as error:
        print(f"meio-gsm: cannot read {args.path}: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    solution = solve(
        instance.network, instance.cost, instance.max_service_time, time_limit=args.time_limit
    )
    seconds = time.perf_counter() - started
    stages = [
        {
            "stage": stage,
            "outbound_service_time": int(solution.outbound_service_time[0, k]),
            "inbound_service_time": int(solution.inbound_service_time[0, k]),
            "net_replenishment_time": int(solution.net_replenishment_time[0, k]),
            "safety_stock": float(
                instance.z[k] * instance.sigma[k] * solution.net_replenishment_time[0, k] ** 0.5
            ),
        }
        for k, stage in enumerate(instance.network.stage_ids)
    ]
    out = {
        "instance": instance.name,
        "method": solution.method,
        "status": solution.status,
        "gap": solution.gap,
        "optimal_cost": float(solution.cost[0]),
        "solve_seconds": round(seconds, 4),
        "stages": stages,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
