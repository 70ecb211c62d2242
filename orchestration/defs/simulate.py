"""Prove the policy: Monte Carlo simulation of the published plan, and what-if scenarios."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from forecasting.engine import ForecastConfig
from forecasting.nodes import forecast_nodes
from optimization.backtest import actual_inventory, daily_matrix, stratified_items
from optimization.scenarios import (
    Scenario,
    apply_scenario,
    demand_change,
    scenario_summary,
    shifted_observations,
)
from optimization.simulation import (
    PLAN_COLUMNS,
    DemandHistory,
    SimulationConfig,
    calibration_table,
    echelon_totals,
    plan_nodes,
    simulate,
    simulate_plan,
)
from optimization.targets import plan_targets
from orchestration.defs.dbt import mart_key
from orchestration.defs.forecast import read_customer_buckets
from orchestration.defs.optimize import OptimizeRunConfig, read_planning_inputs
from orchestration.defs.partitions import daily_asset
from orchestration.defs.warehouse import (
    markdown_table,
    read_table,
    replace_days,
    run_date_of,
    write_results,
)
from serving import pictures


class SimulationRunConfig(dg.Config):
    replications: int = 200
    days: int = 365
    warmup_days: int = 56
    lost_sales: bool = False
    seed: int = 0
    # empirical: customer demand bootstrapped from each node's own last year (the default and
    # what is published as achieved service); gaussian: the forecast's model (self-check)
    demand: str = "empirical"

    def simulation(self) -> SimulationConfig:
        return SimulationConfig(
            days=self.days,
            warmup_days=self.warmup_days,
            replications=self.replications,
            lost_sales=self.lost_sales,
            seed=self.seed,
            demand=self.demand,
        )


def _simulation_inputs(con, history_days: int) -> dict[str, pd.DataFrame]:
    return {
        "item_network": read_table(con, "marts", "fct_item_network"),
        "lane_lead_times": read_table(con, "marts", "fct_lane_lead_times"),
        "lead_time_demand": con.execute(
            "SELECT location_id, sku, periods, sd FROM forecast.lead_time_demand"
        ).df(),
        "lead_time_observations": _lead_time_observations(con),
        "demand_history": _demand_history(con, history_days),
    }


def _lead_time_observations(con) -> pd.DataFrame:
    """Observed lead times of the last year per lane: source_location_id,
    destination_location_id, lead_time_days, observations."""
    return con.execute(
        "SELECT source_location_id, destination_location_id, lead_time_days, "
        "count(*) AS observations FROM intermediate.int_lead_time_observations "
        "WHERE received_on > (SELECT max(received_on) FROM intermediate.int_lead_time_observations) - 365 "
        "GROUP BY ALL"
    ).df()


def _demand_history(con, days: int) -> DemandHistory:
    """The customers' last ``days`` days of demand, coded in DuckDB (a column number per node,
    days back from the latest): integers and floats reach Python, not 36 M rows of strings."""
    coded = con.sql(  # a relation's Arrow output: no extra copy of the rows
        "WITH recent AS (SELECT sku, location_id, demand_date, demand_qty "
        "  FROM marts.fct_customer_demand_daily WHERE demand_date > "
        "  (SELECT max(demand_date) FROM marts.fct_customer_demand_daily) - $days), "
        "keyed AS (SELECT sku, location_id, "
        "  (row_number() OVER (ORDER BY sku, location_id) - 1)::INTEGER AS col "
        "  FROM (SELECT DISTINCT sku, location_id FROM recent)) "
        "SELECT k.col, ((SELECT max(demand_date) FROM recent) - r.demand_date)::INTEGER AS back, "
        "  r.demand_qty::FLOAT AS qty FROM recent r JOIN keyed k USING (sku, location_id)",
        params={"days": days},
    ).to_arrow_table()
    keys = con.execute(
        "SELECT DISTINCT sku, location_id FROM marts.fct_customer_demand_daily WHERE demand_date > "
        "(SELECT max(demand_date) FROM marts.fct_customer_demand_daily) - $days "
        "ORDER BY sku, location_id",
        {"days": days},
    ).df()
    return DemandHistory.from_codes(
        pd.MultiIndex.from_frame(keys),
        coded["col"].to_numpy(),
        coded["back"].to_numpy(),
        coded["qty"].to_numpy(),
        days,
    )


@daily_asset(
    key=["simulation", "service_simulation"],
    deps=[dg.AssetKey(["optimization", "inventory_targets"])],
    description="Monte Carlo simulation of the GSM plan and the single-echelon baseline: achieved service and stock per node, calibration per target.",
)
def service_simulation(
    context: dg.AssetExecutionContext, config: SimulationRunConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        targets = read_table(con, "optimization", "inventory_targets")
        inputs = _simulation_inputs(con, config.simulation().history_days)
    results = simulate_plan(targets, **inputs, config=config.simulation())
    calibration = calibration_table(results)
    totals = echelon_totals(results)
    counts = write_results(
        warehouse,
        "simulation",
        {
            "service_simulation": results,
            "service_calibration": calibration,
            "echelon_stock": totals,
        },
        run_date_of(context),
    )
    meio = calibration[(calibration["policy"] == "meio") & (calibration["demand_class"] == "all")]
    achieved = float(
        (meio["achieved_cycle_service"] * meio["nodes"]).sum() / max(meio["nodes"].sum(), 1)
    )
    shown = calibration[
        [
            "demand_model",
            "policy",
            "demand_class",
            "service_type",
            "service_level",
            "nodes",
            "achieved_cycle_service",
            "achieved_cycle_service_ci95",
            "achieved_fill_rate",
            "gap_points",
        ]
    ]
    context.log.info(f"achieved cycle service (GSM plan, {config.demand} demand) {achieved:.2%}")
    pooled = calibration[calibration["demand_class"] == "all"]
    picture = pictures.bar_chart(
        f"Simulated service vs target (customer-facing nodes, {config.demand} demand)",
        [
            f"{p} {lvl:.1%}"
            for p, lvl in zip(pooled["policy"], pooled["service_level"], strict=True)
        ],
        {
            "target": pooled["service_level"].tolist(),
            "achieved cycle service": pooled["achieved_cycle_service"].tolist(),
            "achieved fill rate": pooled["achieved_fill_rate"].tolist(),
        },
        "share",
    )
    return dg.MaterializeResult(
        metadata={
            "rows": counts["service_simulation"],
            "replications": config.replications,
            "achieved_cycle_service": dg.MetadataValue.float(achieved),
            "calibration": dg.MetadataValue.md(markdown_table(shown, ".4f")),
            "calibration_picture": dg.MetadataValue.md(pictures.as_markdown(picture, "service")),
            "stock_by_echelon": dg.MetadataValue.md(markdown_table(totals, ",.1f")),
        }
    )


class ScenarioConfig(dg.Config):
    """One what-if (see optimization.scenarios.Scenario for the meaning of each field)."""

    name: str
    lead_time_extra_days: float = 0.0
    lead_time_source: str | None = None
    lead_time_destination: str | None = None
    demand_change: float = 0.0
    demand_region: str | None = None
    demand_item_class: str | None = None
    service_level: float | None = None
    closed_location: str | None = None
    reroute_to: str | None = None


class ScenarioRunConfig(dg.Config):
    scenarios: list[ScenarioConfig] = []
    replications: int = 50  # per scenario
    days: int = 365
    seed: int = 0
    planning: OptimizeRunConfig = OptimizeRunConfig()  # the optimizer's settings for scenarios


@daily_asset(
    key=["scenario", "scenario_plans"],
    deps=[
        dg.AssetKey(["optimization", "inventory_targets"]),
        dg.AssetKey(["simulation", "service_simulation"]),
        mart_key("dim_locations"),
    ],
    description="What-if scenarios from run configuration, re-planned and simulated beside the base plan (never over it).",
)
def scenario_plans(
    context: dg.AssetExecutionContext,
    config: ScenarioRunConfig,
    warehouse: DuckDBResource,
) -> dg.MaterializeResult:
    scenarios = [Scenario(**s.model_dump()) for s in config.scenarios]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise dg.Failure(f"scenario names must be unique, got {names}")
    with warehouse.get_connection() as con:
        inputs = read_planning_inputs(con)
        locations = read_table(con, "marts", "dim_locations")
        base_targets = read_table(con, "optimization", "inventory_targets")
        base_simulation = read_table(con, "simulation", "service_simulation")
        simulation = SimulationConfig(
            days=config.days, replications=config.replications, seed=config.seed
        )
        history = _demand_history(con, simulation.history_days)
        lead_times = _lead_time_observations(con)
    plans, target_frames = {}, []
    for scenario in scenarios:
        changed = apply_scenario(inputs, scenario, locations)
        targets, _ = plan_targets(changed, config.planning.planning())
        simulated = simulate_plan(
            targets,
            changed.item_network,
            changed.lane_lead_times,
            changed.lead_time_demand,
            config=simulation,
            demand_history=history.scaled(
                demand_change(inputs.lead_time_demand, changed.lead_time_demand)
            ),
            lead_time_observations=shifted_observations(
                lead_times, inputs.lane_lead_times, changed.lane_lead_times
            ),
        )
        plans[scenario.name] = (targets, simulated)
        target_frames.append(targets.assign(scenario=scenario.name))
        context.log.info(
            f"scenario {scenario.name}: safety stock value {targets['safety_stock_value'].sum():,.0f}"
        )
    summary = scenario_summary(base_targets, base_simulation, plans)
    scenario_targets = (
        pd.concat(target_frames, ignore_index=True)
        if target_frames
        else base_targets.drop(columns=["run_date", "scenario"]).head(0).assign(scenario="")
    )
    counts = write_results(
        warehouse,
        "scenario",
        {"scenario_summary": summary, "scenario_targets": scenario_targets},
        run_date_of(context),
        scenario=None,  # the frames carry their own scenario column
    )
    return dg.MaterializeResult(
        metadata={
            "scenarios": len(scenarios),
            "rows": counts["scenario_targets"],
            "summary": dg.MetadataValue.md(markdown_table(summary, ",.4g")),
        }
    )


class BacktestRunConfig(dg.Config):
    holdout_days: int = 28  # the plan is made this many days before the partition's day
    replications: int = 20  # lead times differ between replications, demand is history's
    bucket_days: int = 7
    horizon: int = 13


def _backtest_day(
    con,
    day: dt.date,
    config: BacktestRunConfig,
    daily: pd.DataFrame,
    on_hand: pd.DataFrame,
    receipts: pd.DataFrame,
) -> pd.DataFrame:
    """One day's backtest: the plan re-made ``holdout_days`` before ``day`` replayed against
    the demand that came, per customer-facing node, next to the inventory really held.
    ``daily`` demand and ``receipts`` from (at least) the cutoff on; ``on_hand`` the latest
    snapshot the stock history walks back from."""
    cutoff = day - dt.timedelta(days=config.holdout_days)
    inputs, targets = _replan_as_of(con, cutoff, config.bucket_days, config.horizon)
    daily = daily[daily["demand_date"] > pd.Timestamp(cutoff)]
    receipts = receipts[receipts["receipt_date"] > pd.Timestamp(cutoff)]
    days = pd.date_range(pd.Timestamp(cutoff) + pd.Timedelta(days=1), pd.Timestamp(day))
    result = _replay(inputs, targets, daily, days, config.replications).drop(
        columns=["service_type", "service_level", "demand_class"]
    )
    stores = result["is_customer_facing"].to_numpy()
    held = actual_inventory(
        targets.loc[stores, ["location_id", "sku"]].reset_index(drop=True),
        on_hand,
        receipts,
        daily,
        days[0].date(),
        day,
    )
    result = result[stores].reset_index(drop=True).join(held)
    return result.assign(
        plan_date=cutoff,
        days=len(days),
        average_on_hand_value=result["average_on_hand"] * result["unit_value"],
        actual_average_on_hand_value=result["actual_average_on_hand"] * result["unit_value"],
    )


def _replan_as_of(
    con,
    cutoff: dt.date,
    bucket_days: int,
    horizon: int,
    items: list[str] | None = None,
):
    """The plan the pipeline would have published with the demand known at ``cutoff``: the
    forecast re-run on history up to that day (today's lanes, lead times and policy), for
    ``items`` only where given. Returns (planning inputs as of the cutoff, targets)."""
    inputs = read_planning_inputs(con)
    history = read_customer_buckets(con, bucket_days, until=cutoff)
    if items is not None:
        keep = set(items)
        inputs.item_network = inputs.item_network[inputs.item_network["sku"].isin(keep)]
        inputs.items = inputs.items[inputs.items["sku"].isin(keep)]
        inputs.customer_nodes = inputs.customer_nodes[inputs.customer_nodes["sku"].isin(keep)]
        history = history[history["sku"].isin(keep)]
    customers = inputs.customer_nodes[["location_id", "sku"]]
    forecasts = forecast_nodes(
        history,
        inputs.item_network,
        customers,
        ForecastConfig(horizon=horizon, n_windows=2),
        bucket_days=bucket_days,
    )
    inputs.lead_time_demand = forecasts.lead_time_demand
    inputs.customer_nodes = forecasts.models.rename(columns={"demand_class": "item_class"})[
        ["location_id", "sku", "item_class"]
    ].merge(customers, on=["location_id", "sku"])
    targets, _ = plan_targets(inputs)
    return inputs, targets


def _replay(inputs, targets, daily: pd.DataFrame, days: pd.DatetimeIndex, replications: int):
    """The plan's base stocks against the demand of ``days`` as it came (lead times drawn per
    replication; the warm-up from the forecast's model). One row per node of ``targets``."""
    nodes = plan_nodes(
        targets, inputs.item_network, inputs.lane_lead_times, inputs.lead_time_demand
    )
    actual = daily_matrix(daily, "demand_qty", "demand_date", targets, days)
    replay = simulate(
        nodes,
        SimulationConfig(days=len(days), replications=replications, seed=0, demand="gaussian"),
        actual_demand=actual,
    )
    keys = targets[PLAN_COLUMNS].reset_index(drop=True)
    return pd.concat([keys, replay.drop(columns="node")], axis=1)


class HoldoutReplayConfig(dg.Config):
    holdout_days: int = 56  # re-plan this many days before the latest demand, replay them
    # items re-planned: all up to this many, else a sample stratified by demand class
    max_items: int = 400
    replications: int = 20  # lead times differ between replications, demand is history's
    bucket_days: int = 7
    horizon: int = 13
    seed: int = 0


@daily_asset(
    key=["simulation", "holdout_replay"],
    deps=[dg.AssetKey(["optimization", "inventory_targets"])],
    description="Service on demand the forecast never saw: the plan re-made holdout_days before the latest demand (all items, or a sample stratified by demand class) replayed against the demand that came; achieved vs target per class.",
)
def holdout_replay(
    context: dg.AssetExecutionContext, config: HoldoutReplayConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        last = con.execute(
            "SELECT max(demand_date) FROM marts.fct_customer_demand_daily"
        ).fetchone()[0]
        cutoff = last - dt.timedelta(days=config.holdout_days)
        classes = con.execute(
            "SELECT DISTINCT sku, demand_class FROM forecast.forecast_models"
        ).df()
        items = stratified_items(classes, config.max_items, config.seed)
        inputs, targets = _replan_as_of(con, cutoff, config.bucket_days, config.horizon, items)
        daily = con.execute(
            "SELECT location_id, sku, demand_date, demand_qty "
            "FROM marts.fct_customer_demand_daily WHERE demand_date > ?",
            [cutoff],
        ).df()
    days = pd.date_range(pd.Timestamp(cutoff) + pd.Timedelta(days=1), pd.Timestamp(last))
    result = _replay(inputs, targets, daily, days, config.replications).assign(
        demand_model="holdout_replay", policy="meio", plan_date=cutoff, days=len(days)
    )
    calibration = calibration_table(result).assign(
        plan_date=cutoff, days=len(days), items=len(items)
    )
    counts = write_results(
        warehouse,
        "simulation",
        {"holdout_replay": result, "holdout_calibration": calibration},
        run_date_of(context),
    )
    pooled = calibration[calibration["demand_class"] == "all"]
    achieved = float(pooled["achieved_cycle_service"].iloc[0]) if len(pooled) else float("nan")
    context.log.info(
        f"held-out replay: plan of {cutoff} over {len(days)} days, {len(items)} items: "
        f"achieved cycle service {achieved:.2%}"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": counts["holdout_replay"],
            "plan_date": cutoff.isoformat(),
            "days_replayed": len(days),
            "items": len(items),
            "achieved_cycle_service": dg.MetadataValue.float(achieved),
            "calibration": dg.MetadataValue.md(
                markdown_table(
                    calibration[
                        [
                            "demand_class",
                            "service_level",
                            "nodes",
                            "achieved_cycle_service",
                            "achieved_cycle_service_ci95",
                            "achieved_fill_rate",
                            "gap_points",
                        ]
                    ],
                    ".4f",
                )
            ),
        }
    )


@daily_asset(
    key=["simulation", "historical_backtest"],
    deps=[
        mart_key("fct_customer_demand_daily"),
        mart_key("fct_inventory_position"),
        dg.AssetKey(["optimization", "inventory_targets"]),
    ],
    description="The plan the pipeline would have made holdout_days before each day, replayed against the demand that came, next to the inventory history really held. Run as a backfill over past days (one run per range); kept per run_date.",
)
def historical_backtest(
    context: dg.AssetExecutionContext, config: BacktestRunConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    days_run = [dt.date.fromisoformat(key) for key in context.partition_keys]
    with warehouse.get_connection() as con:
        first, last = con.execute(
            "SELECT min(demand_date), max(demand_date) FROM marts.fct_customer_demand_daily"
        ).fetchall()[0]
        for day in days_run:
            cutoff = day - dt.timedelta(days=config.holdout_days)
            if first is None or day > last or cutoff < first:
                raise dg.Failure(
                    f"backtest day {day} needs demand from {cutoff} to {day}; the marts hold "
                    f"{first} to {last}"
                )
        earliest = days_run[0] - dt.timedelta(days=config.holdout_days)
        daily = con.execute(  # the days replayed and after (the stock history walks back
            # from the latest snapshot): what came, net of returns
            "SELECT location_id, sku, demand_date, demand_qty "
            "FROM marts.fct_customer_demand_daily WHERE demand_date > ?",
            [earliest],
        ).df()
        on_hand = read_table(con, "marts", "fct_inventory_position")
        receipts = con.execute(
            "SELECT location_id, sku, receipt_date, quantity FROM staging.stg_wms__receipts "
            "WHERE receipt_date > ?",
            [earliest],
        ).df()
        result = pd.concat(
            [
                _backtest_day(con, day, config, daily, on_hand, receipts).assign(run_date=day)
                for day in days_run
            ],
            ignore_index=True,
        )
        rows = replace_days(con, "simulation", "historical_backtest", result, days_run)
    summary = pd.DataFrame(
        {
            "measure": [
                "cycle service (days ending without backorder)",
                "fill rate",
                "average on-hand value",
                "in-stock day share",
            ],
            "replayed plan": [
                result["cycle_service_level"].mean(),
                result["fill_rate"].mean(),
                result["average_on_hand_value"].sum(),
                result["cycle_service_level"].mean(),
            ],
            "history": [
                np.nan,
                np.nan,
                result["actual_average_on_hand_value"].sum(),
                result["actual_in_stock_day_share"].mean(),
            ],
        }
    )
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "run_dates": f"{days_run[0]} .. {days_run[-1]} ({len(days_run)} days)",
            "days_replayed_each": config.holdout_days,
            "summary": dg.MetadataValue.md(markdown_table(summary, ",.4g")),
        }
    )
