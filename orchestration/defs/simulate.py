"""Prove the policy: Monte Carlo simulation of the published plan, and service on demand the
forecast never saw (the plan re-made before the latest weeks, replayed on what came)."""

import datetime as dt
import json

import dagster as dg
import pandas as pd
import pydantic
from dagster_duckdb import DuckDBResource

from marts.reads import (
    customer_demand_after,
    demand_span,
    history_weekly_variances,
    last_simulation,
    read_customer_buckets,
    read_planning_inputs,
    read_table,
    simulation_inputs,
)
from orchestration.lib.cadence import kept_from, kept_output
from orchestration.lib.keys import INVENTORY_TARGETS
from orchestration.lib.partitions import daily_asset
from orchestration.lib.run_config import (
    ForecastRunConfig,
    OptimizeRunConfig,
    SimulationRunConfig,
)
from orchestration.lib.warehouse import (
    markdown_table,
    run_date_of,
    table_metadata,
    write_results,
)
from serving import pictures

BULLWHIP_WEEKS = 52  # weeks of history the bullwhip ratios are measured over


class ServiceSimulationConfig(SimulationRunConfig):
    # an item whose plan did not change keeps its last simulation; every item is re-simulated
    # at least this often, a share of them each day (simulation/reuse.py; 1: all every day)
    cadence_days: int = pydantic.Field(default=7, ge=1)

    def settings(self, **overrides):
        return self._settings_class(**(self.model_dump(exclude={"cadence_days"}) | overrides))


@daily_asset(
    key=["simulation", "service_simulation"],
    deps=[INVENTORY_TARGETS],
    description="Monte Carlo simulation of the GSM plan and the single-echelon baseline: achieved service and stock per node, calibration per target; and the bullwhip per echelon and demand class, of history and of the simulated plans.",
)
def service_simulation(
    context: dg.AssetExecutionContext, config: ServiceSimulationConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    from simulation.bullwhip import bullwhip
    from simulation.config import result_settings
    from simulation.monte_carlo import (
        WEEK_DAYS,
        calibration_table,
        echelon_totals,
        simulate_plan,
    )
    from simulation.reuse import items_to_simulate, plan_fingerprints, subset_config

    settings = config.settings()
    run_date = run_date_of(context)
    settings_text = json.dumps(result_settings(settings), sort_keys=True, default=str)
    with warehouse.get_connection() as con:
        targets = read_table(con, "optimization", "inventory_targets")
        basis, last_rows = last_simulation(con)
        fingerprints = plan_fingerprints(targets)
        chosen = items_to_simulate(
            fingerprints, basis, run_date, settings_text, config.cadence_days
        )
        inputs = simulation_inputs(con, settings.history_days, chosen.simulate)
        history_variances = history_weekly_variances(con, BULLWHIP_WEEKS)
    why = pd.Series(chosen.reason).value_counts().to_dict()
    context.log.info(
        f"simulating {len(chosen.simulate):,} of {len(fingerprints):,} items ({why}); "
        f"{len(chosen.kept):,} keep their last simulation (re-simulated at least every "
        f"{config.cadence_days} days)"
    )
    frames = []
    if chosen.simulate:
        frames.append(
            simulate_plan(
                targets[targets["sku"].isin(chosen.simulate)].reset_index(drop=True),
                **inputs,
                config=subset_config(settings, last_rows[last_rows["sku"].isin(chosen.kept)])
                if chosen.kept
                else settings,
                progress=context.log.info,
            ).assign(simulated_on=run_date)
        )
    if chosen.kept:
        frames.append(last_rows[last_rows["sku"].isin(chosen.kept)])
    results = (
        pd.concat(frames, ignore_index=True)
        .sort_values(["policy", "sku", "location_id"], ignore_index=True)
        .assign(simulated_on=lambda f: pd.to_datetime(f["simulated_on"]).dt.date)
    )
    simulated_on = results.drop_duplicates("sku").set_index("sku")["simulated_on"]
    new_basis = fingerprints.assign(
        simulated_on=fingerprints["sku"].map(simulated_on), settings=settings_text
    )
    calibration = calibration_table(results)
    totals = echelon_totals(results)
    nodes = targets[["location_id", "sku", "location_type", "demand_class"]]
    # the bullwhip of history, and of each simulated policy (the published plan's orders)
    amplification = pd.concat(
        [bullwhip(nodes, history_variances, BULLWHIP_WEEKS).assign(source="history")]
        + [
            bullwhip(nodes, simulated, settings.days // WEEK_DAYS).assign(
                source=f"simulated_{policy}"
            )
            for policy, simulated in results.groupby("policy", sort=False)
        ],
        ignore_index=True,
    )
    counts = write_results(
        warehouse,
        "simulation",
        {
            "service_simulation": results,
            "service_calibration": calibration,
            "echelon_stock": totals,
            "bullwhip": amplification,
            "simulation_basis": new_basis,
        },
        run_date,
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
    context.log.info(f"achieved cycle service (GSM plan, {settings.demand} demand) {achieved:.2%}")
    pooled = calibration[calibration["demand_class"] == "all"]
    picture = pictures.bar_chart(
        f"Simulated service vs target (customer-facing nodes, {settings.demand} demand)",
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
            **table_metadata(results, "service_simulation"),
            # adaptive: as many as the target interval needed, at most settings.replications
            "replications": int(results["replications"].max()),
            "items_simulated": len(chosen.simulate),
            "items_kept": len(chosen.kept),
            "oldest_simulation": str(min(results["simulated_on"])),
            "target_half_width": settings.target_half_width,
            "achieved_cycle_service": dg.MetadataValue.float(round(achieved, 4)),
            "calibration": dg.MetadataValue.md(markdown_table(shown, ".4f")),
            "calibration_picture": dg.MetadataValue.md(pictures.as_markdown(picture, "service")),
            "stock_by_echelon": dg.MetadataValue.md(markdown_table(totals, ",.1f")),
        }
    )


class HoldoutReplayConfig(dg.Config):
    holdout_days: int = 56  # re-plan this many days before the latest demand, replay them
    # items re-planned: all up to this many, else a sample stratified by demand class
    max_items: int = 400
    replications: int = 20  # lead times differ between replications, demand is history's
    seed: int = 0
    forecast: ForecastRunConfig = ForecastRunConfig()  # the re-plan's forecast
    planning: OptimizeRunConfig = OptimizeRunConfig()  # the re-plan's optimizer
    # replay again once the last replay is this many days old or these settings changed;
    # between, the last replay stays (its plan_date says which plan; 0: every run)
    cadence_days: int = 7


@daily_asset(
    key=["simulation", "holdout_replay"],
    deps=[INVENTORY_TARGETS],
    description="Service on demand the forecast never saw: the plan re-made holdout_days before the latest demand (all items, or a sample stratified by demand class) replayed against the demand that came; achieved vs target per class.",
)
def holdout_replay(
    context: dg.AssetExecutionContext, config: HoldoutReplayConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    from simulation.backtest import replan, replay, stratified_items
    from simulation.monte_carlo import calibration_table

    forecast = config.forecast.settings()
    run_date = run_date_of(context)
    settings = json.dumps(config.model_dump(exclude={"cadence_days"}), sort_keys=True, default=str)
    with warehouse.get_connection() as con:
        replayed_on = kept_from(
            con, "simulation", "holdout_settings", settings, run_date, config.cadence_days
        )
    if replayed_on is not None:
        return kept_output(
            context,
            "held-out replay",
            replayed_on,
            config.cadence_days,
            {"replayed_on": replayed_on.isoformat()},
        )
    with warehouse.get_connection() as con:
        _, last = demand_span(con)
        cutoff = last - dt.timedelta(days=config.holdout_days)
        classes = con.execute(
            "SELECT DISTINCT sku, demand_class FROM forecast.forecast_models"
        ).df()
        items = stratified_items(classes, config.max_items, config.seed)
        inputs = read_planning_inputs(con)
        history = read_customer_buckets(con, forecast.bucket_days, until=cutoff, skus=items)
        daily = customer_demand_after(con, cutoff, skus=items)
    context.log.info(
        f"held-out replay: re-forecasting and re-planning {len(items)} items as of {cutoff}"
    )
    inputs, targets = replan(inputs, history, forecast, config.planning.settings(), items)
    days = pd.date_range(pd.Timestamp(cutoff) + pd.Timedelta(days=1), pd.Timestamp(last))
    context.log.info(
        f"held-out replay: replaying {len(targets)} nodes over {len(days)} days of real demand"
    )
    result = replay(
        inputs,
        targets,
        daily,
        days,
        config.replications,
        progress=lambda line: context.log.info(f"held-out replay: {line}"),
    ).assign(demand_model="holdout_replay", policy="meio", plan_date=cutoff, days=len(days))
    calibration = calibration_table(result).assign(
        plan_date=cutoff, days=len(days), items=len(items)
    )
    counts = write_results(
        warehouse,
        "simulation",
        {
            "holdout_replay": result,
            "holdout_calibration": calibration,
            "holdout_settings": pd.DataFrame({"settings": [settings]}),
        },
        run_date,
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
            **table_metadata(result, "holdout_replay"),
            "replayed_on": run_date.isoformat(),
            "plan_date": cutoff.isoformat(),
            "days_replayed": len(days),
            "items": len(items),
            "achieved_cycle_service": dg.MetadataValue.float(round(achieved, 4)),
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


SERVICE_BAND_POINTS = 2.0  # the GSM plan's simulated cycle service may fall this far short


@dg.asset_check(
    asset=dg.AssetKey(["simulation", "service_simulation"]),
    name="simulated_service_near_target",
    description=f"The GSM plan's simulated cycle service per target (stores pooled) is at most "
    f"{SERVICE_BAND_POINTS:g} points below the target. A warning, not a block: the simulation "
    "is the plan's proof, and a shortfall is what planners need to see published.",
)
def simulated_service_near_target(warehouse: DuckDBResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        calibration = read_table(con, "simulation", "service_calibration")
    pooled = calibration[
        (calibration["policy"] == "meio")
        & (calibration["demand_class"] == "all")
        & (calibration["service_type"] == "cycle")
    ]
    short = pooled[pooled["gap_points"] < -SERVICE_BAND_POINTS]
    lines = [
        f"target {r.service_level:.1%}: achieved {r.achieved_cycle_service:.2%} "
        f"({r.gap_points:+.2f} points, {r.nodes:,} nodes)"
        for r in pooled.itertuples(index=False)
    ]
    return dg.AssetCheckResult(
        passed=short.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description="\n".join(lines) if lines else "no cycle-service target simulated",
        metadata={"targets": len(pooled), "short_of_band": len(short)},
    )
