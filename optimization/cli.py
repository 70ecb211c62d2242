"""meio-gsm: solve a GSM instance file and print its cost, status and service times as JSON.

Exit codes: 0 solved (``status`` says whether the cost is proven optimal), 2 the instance
cannot be read or is invalid (the message names the stage and the field)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from optimization.gsm import solve
from optimization.instances import InstanceError, read_json_instance


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
    except InstanceError as error:
        print(f"meio-gsm: invalid instance {args.path}: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"meio-gsm: cannot read {args.path}: {error}", file=sys.stderr)
        return 2
    if not args.time_limit > 0:
        print("meio-gsm: --time-limit must be > 0 seconds", file=sys.stderr)
        return 2
    started = time.perf_counter()
    solution = solve(
        instance.network, instance.cost, instance.max_service_time, time_limit=args.time_limit
    )
    seconds = time.perf_counter() - started
    safety = instance.safety_stock(solution.net_replenishment_time[0])
    stages = [
        {
            "stage": stage,
            "outbound_service_time": int(solution.outbound_service_time[0, k]),
            "inbound_service_time": int(solution.inbound_service_time[0, k]),
            "net_replenishment_time": int(solution.net_replenishment_time[0, k]),
            "safety_stock": float(safety[k]),
        }
        for k, stage in enumerate(instance.network.stage_ids)
    ]
    out = {
        "instance": instance.name,
        "method": solution.method,
        "status": solution.status,
        "gap": solution.gap,
        "cost": float(solution.cost[0]),
        "lower_bound": float(solution.bounds()[0]),
        # the proven optimum only: null when the time limit ended the search first
        "optimal_cost": float(solution.cost[0]) if solution.status == "optimal" else None,
        "solve_seconds": round(seconds, 4),
        "stages": stages,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
