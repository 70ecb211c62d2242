"""Speed and calibration of the network simulation on the published demo plan.

Reads the serving copy (run `bash scripts/demo.sh` first), simulates the GSM plan and the
single-echelon baseline for REPLICATIONS x one year in both demand modes (empirical: the
stores' own last 364 days bootstrapped; gaussian: the forecast's model), prints seconds per
policy, the calibration table (achieved vs target cycle service per class) and stock per
echelon, and writes them with the commit to benchmarks/results/simulation.json. Lead times
are drawn normal from the lanes' measured mean and sd (the serving copy has no lane
observations), so the empirical figures differ slightly from the published ones, which draw
the observed lead times. Usage:
python benchmarks/simulation_speed.py [--serving data/serving/meio.duckdb] [--replications 200]
"""

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
from provenance import write_results

from simulation.config import SimulationConfig
from simulation.monte_carlo import (
    POLICIES,
    DemandHistory,
    calibration_table,
    echelon_totals,
    plan_nodes,
    simulate_plan,
)
from simulation.monte_carlo import simulate as simulate_nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serving", default="data/serving/meio.duckdb")
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/simulation.json"))
    args = parser.parse_args()
    record: dict = {
        "seconds": {},
        "calibration": {},
    }
    con = duckdb.connect(args.serving, read_only=True)
    tables = {
        name: con.execute(f"SELECT * FROM {name}").df()
        for name in (
            "inventory_targets",
            "fct_item_network",
            "fct_lane_lead_times",
            "lead_time_demand",
        )
    }
    daily = con.execute(
        "SELECT location_id, sku, demand_date, demand_qty FROM fct_customer_demand_daily "
        "WHERE demand_date > (SELECT max(demand_date) FROM fct_customer_demand_daily) - 364"
    ).df()
    con.close()
    targets = tables["inventory_targets"]
    config = SimulationConfig(days=args.days, replications=args.replications, demand="gaussian")
    print(
        f"nodes {len(targets):,}, replications {config.replications}, days {config.days} "
        f"(+{config.warmup_days} warm-up), cores {os.cpu_count()}"
    )
    for policy in POLICIES:
        nodes = plan_nodes(
            targets,
            tables["fct_item_network"],
            tables["fct_lane_lead_times"],
            tables["lead_time_demand"],
            policy,
        )
        started = time.perf_counter()
        simulate_nodes(nodes, config)
        record["seconds"][f"{policy}, gaussian, one policy"] = round(
            time.perf_counter() - started, 1
        )
        print(f"{policy}: {time.perf_counter() - started:.1f} s")
    for demand in ("empirical", "gaussian"):
        started = time.perf_counter()
        results = simulate_plan(
            targets,
            tables["fct_item_network"],
            tables["fct_lane_lead_times"],
            tables["lead_time_demand"],
            replace(config, demand=demand),
            demand_history=DemandHistory.from_rows(daily, config.history_days),
        )
        record["seconds"][f"both policies, {demand}"] = round(time.perf_counter() - started, 1)
        print(f"both policies, {demand} demand: {time.perf_counter() - started:.1f} s")
        table = calibration_table(results)
        record["calibration"][demand] = table.to_dict(orient="records")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(index=False))
            print(echelon_totals(results).to_string(index=False))
    write_results(args.out, record)


if __name__ == "__main__":
    main()
