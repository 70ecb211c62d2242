"""Publication: the checked marts are copied to the serving file BI reads."""

import datetime as dt

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from forecasting.buckets import bucket_demand
from marts.reads import read_table
from orchestration import settings
from orchestration.lib.keys import INVENTORY_TARGETS, NODE_FORECASTS, SERVICE_SIMULATION, mart_key
from orchestration.lib.partitions import daily_asset
from orchestration.lib.resources import ServingResource
from orchestration.lib.warehouse import catalogue, run_date_of, write_results
from serving.publish import publish
from serving.report import build_report, write_report

PUBLISHED_MARTS = [
    "dim_items",
    "dim_locations",
    "fct_customer_demand_daily",
    "fct_internal_transfers_daily",
    "fct_item_network",
    "fct_lane_lead_times",
    "fct_inventory_position",
]

PUBLISHED_RESULTS = [
    ("forecast", "node_forecasts"),
    ("forecast", "lead_time_demand"),
    ("forecast", "forecast_accuracy"),
    ("forecast", "forecast_models"),
    ("optimization", "inventory_targets"),
    ("optimization", "item_summary"),
    ("optimization", "planner_actions"),
    ("optimization", "service_tradeoff"),
    ("simulation", "service_simulation"),
    ("simulation", "service_calibration"),
    ("simulation", "echelon_stock"),
    ("simulation", "bullwhip"),
    ("simulation", "holdout_replay"),
    ("simulation", "holdout_calibration"),
    ("scenario", "scenario_summary"),
    ("scenario", "scenario_targets"),
    ("quality", "data_quality"),
]

# Daily history grows by a day per run: published as Parquet parts by month (YYYYMM), and only the months
# a refresh changed are written again (the rest of the serving copy and snapshot is reused).
PUBLISHED_IN_PARTS = {
    "fct_customer_demand_daily": "year(demand_date) * 100 + month(demand_date)",
    "fct_internal_transfers_daily": "year(ship_date) * 100 + month(ship_date)",
}

# BI compares plans over time: these keep one slice per run date in <name>_history.
HISTORY = [
    "inventory_targets",
    "item_summary",
    "planner_actions",
    "node_forecasts",
    "forecast_accuracy",
    "service_calibration",
    "holdout_calibration",
    "scenario_summary",
    "data_quality",
]


def check_results(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """The latest evaluation of every asset check (dbt tests, pandera rules, the outputs'
    checks): the blocking ones all passed in this run, or publication would not be running.
    The checks of the publication itself run after it and are not listed."""
    keys = [
        key
        for key in context.job_def.asset_layer.asset_graph.asset_check_keys
        if key.asset_key != context.asset_key
    ]
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    rows = []
    for key in sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        record = latest.get(key)
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        rows.append(
            {
                "asset": key.asset_key.to_user_string(),
                "check_name": key.name,
                "status": record.status.value if record else "never run",
                "passed": bool(evaluation.passed) if evaluation else None,
                "description": (evaluation.description or "") if evaluation else "",
                "checked_in_run": record.run_id if record else None,
                "checked_at": pd.Timestamp(record.event.timestamp, unit="s")
                if record and record.event
                else pd.NaT,
            }
        )
    return pd.DataFrame(rows)


@daily_asset(
    key=["serving", "published_plan"],
    deps=[mart_key(name) for name in PUBLISHED_MARTS]
    + [
        NODE_FORECASTS,
        INVENTORY_TARGETS,
        dg.AssetKey(["optimization", "planner_actions"]),
        dg.AssetKey(["optimization", "service_tradeoff"]),
        SERVICE_SIMULATION,
        dg.AssetKey(["simulation", "holdout_replay"]),
        dg.AssetKey(["scenario", "scenario_plans"]),
    ],
    description="The serving DuckDB file BI reads and the planner report beside it, swapped in after every check passed and the plan's numbers were found publishable (finite, not negative); nothing is swapped when any of that fails.",
    kinds={"duckdb", "html"},
    # the schedule refreshes it every morning: a day and a few hours without a new plan fails
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
    ),
)
def published_plan(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, serving: ServingResource
) -> dg.MaterializeResult:
    from optimization.targets import plan_problems

    run_date = run_date_of(context)
    with warehouse.get_connection() as con:
        targets = read_table(con, "optimization", "inventory_targets")
        problems = plan_problems(targets)
        if problems:  # before anything is written: the published plan stays yesterday's
            raise dg.Failure(
                "the plan is not publishable (the published copy is unchanged):\n"
                + "\n".join(problems)
            )
        report = _report(con, targets, run_date)  # a report that fails fails here, unswapped
    write_results(
        warehouse, "quality", {"data_quality": check_results(context)}, run_date, scenario=None
    )
    tables = [("marts", name) for name in PUBLISHED_MARTS] + PUBLISHED_RESULTS
    with warehouse.get_connection() as con:
        published = publish(
            con,
            tables,
            serving.root,
            run_date,
            HISTORY,
            catalogue(),
            settings.currency(),
            PUBLISHED_IN_PARTS,
        )
    report_path = write_report(report, serving.root)
    rows = {p.name: p.rows for p in published}
    preview = "\n".join(
        ["| table | rows |", "|---|---:|"] + [f"| {k} | {v:,} |" for k, v in rows.items()]
    )
    return dg.MaterializeResult(
        metadata={
            "run_date": run_date.isoformat(),
            "tables": dg.MetadataValue.json(rows),
            "summary": dg.MetadataValue.md(preview),
            "report": str(report_path),
            "report_bytes": report_path.stat().st_size,
        }
    )


def _report(con, targets: pd.DataFrame, run_date) -> str:
    """The planner report's HTML (network, echelons, service curve, fan charts)."""
    network = read_table(con, "marts", "fct_item_network")
    curve = read_table(con, "optimization", "service_tradeoff")
    forecasts = read_table(con, "forecast", "node_forecasts")
    calibration = read_table(con, "simulation", "service_calibration")
    scenarios = read_table(con, "scenario", "scenario_summary")
    simulation = read_table(con, "simulation", "service_simulation")
    # the fan charts: the two customer nodes holding the most safety stock value and the one
    # whose simulated service falls furthest short of its target
    customers = targets[targets["is_customer_facing"]]
    largest = customers.nlargest(2, "safety_stock_value")[["location_id", "sku"]]
    simulated = simulation[(simulation["policy"] == "meio") & simulation["is_customer_facing"]]
    worst = (
        simulated.assign(gap=simulated["cycle_service_level"] - simulated["service_level"])
        .merge(largest, how="left", indicator=True)
        .query("_merge == 'left_only'")
        .nsmallest(1, "gap")[["location_id", "sku"]]
    )
    stores = pd.concat(
        [
            largest.assign(why="largest safety stock value"),
            worst.assign(why="worst simulated service"),
        ],
        ignore_index=True,
    )
    con.register("drawn", stores[["location_id", "sku"]])
    daily = con.execute(  # the last half year of the three nodes drawn
        "SELECT d.location_id, d.sku, d.demand_date, d.demand_qty "
        "FROM marts.fct_customer_demand_daily d JOIN drawn USING (location_id, sku) "
        "WHERE demand_date > (SELECT max(demand_date) FROM marts.fct_customer_demand_daily) "
        "- INTERVAL 182 DAY",
    ).df()
    con.unregister("drawn")
    fans = []
    for node in stores.itertuples(index=False):
        mine = daily[(daily["location_id"] == node.location_id) & (daily["sku"] == node.sku)]
        history = bucket_demand(mine, 7)
        future = forecasts[
            (forecasts["location_id"] == node.location_id) & (forecasts["sku"] == node.sku)
        ]
        fans.append(
            (f"Forecast {node.sku} at {node.location_id} (weekly; {node.why})", history, future)
        )
    figures = {
        f"simulated {row.policy} cycle service, {row.demand_class} "
        f"({row.demand_model} demand, target {row.service_level:.1%})": (
            f"{row.achieved_cycle_service:.2%} ± {row.achieved_cycle_service_ci95:.2%}, "
            f"fill rate {row.achieved_fill_rate:.2%}"
        )
        for row in calibration.itertuples(index=False)
    } | {
        f"scenario {row.scenario}": (
            f"safety stock value {row.meio_safety_stock_value:,.0f} "
            f"({row.delta_meio_safety_stock_value:+,.0f} vs base)"
        )
        for row in scenarios.itertuples(index=False)
        if row.scenario != "base"
    }
    return build_report(
        run_date,
        targets,
        network,
        curve,
        fans,
        figures,
        actions=read_table(con, "optimization", "planner_actions"),
        position=read_table(con, "marts", "fct_inventory_position"),
        simulation=simulation,
        bullwhip=read_table(con, "simulation", "bullwhip"),
    )


@dg.asset_check(
    asset=dg.AssetKey(["serving", "published_plan"]),
    name="publication_complete",
    blocking=True,
    description="The serving file holds every table publication.published_tables lists, with "
    "the row count it lists, and the current Parquet snapshot is the publication's.",
)
def publication_complete(serving: ServingResource) -> dg.AssetCheckResult:
    import duckdb

    from serving.publish import CURRENT, SERVING_FILE

    con = duckdb.connect(str(serving.root / SERVING_FILE), read_only=True)
    try:
        listed = con.execute("SELECT table_name, row_count FROM published_tables").fetchall()
        snapshot = con.execute("SELECT snapshot FROM publication").fetchone()[0]
        wrong = [
            f"{name}: {actual:,} rows, {rows:,} listed"
            for name, rows in listed
            if (actual := con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) != rows
        ]
    finally:
        con.close()
    current = (serving.root / CURRENT).resolve().name
    if current != snapshot:
        wrong.append(f"current/ points at {current}, the publication is {snapshot}")
    return dg.AssetCheckResult(
        passed=not wrong,
        severity=dg.AssetCheckSeverity.ERROR,
        description="\n".join(wrong) if wrong else f"{len(listed)} tables as listed, {snapshot}",
        metadata={"tables": len(listed)},
    )
