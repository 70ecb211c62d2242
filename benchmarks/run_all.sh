#!/usr/bin/env bash
# Regenerate every results file in benchmarks/results from the checked-out commit, each with its
# provenance (commit, command, machine, time). Needs ../shared for the car-parts and Willems
# figures and the demo's published plan (bash scripts/demo.sh) for the simulation's.
#   bash benchmarks/run_all.sh           ~7 min on 2 cores (tree DP, Willems, car parts x 2, simulation)
#   bash benchmarks/run_all.sh --scale   adds the 2,000-item refresh, its next-day dbt and its ingest (~45 min, 6 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1 DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
py=.venv/bin/python
started=$(date +%s)
step() { echo; echo "== $*"; local t=$(date +%s); "$@"; echo "== $(( $(date +%s) - t )) s: $*"; }
[ -f data/serving/meio.duckdb ] || step bash scripts/demo.sh
step $py benchmarks/tree_dp.py 2000
step $py benchmarks/simulation_speed.py --replications 200 --days 365
step $py benchmarks/willems.py --time-limit 60
step $py benchmarks/carparts.py --window both
step $py benchmarks/carparts_ceiling.py
step $py benchmarks/carparts_inventory.py --window both
if [ "${1:-}" = "--scale" ]; then
  step $py benchmarks/scale.py --items 2000 --stores 50 --dcs 5 --out benchmarks/results/scale_2000_items.json
  step $py benchmarks/dbt_incremental.py --day-after 1
  day=$(ls -d /tmp/meio-scale/landing/*/ | sort | tail -1)
  step $py benchmarks/ingest.py "${day%/}"
fi
echo; echo "all benchmarks: $(( $(date +%s) - started )) s"
