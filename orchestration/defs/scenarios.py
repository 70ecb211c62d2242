"""What-if scenarios, re-planned and simulated beside the base plan (never over it)."""

import dataclasses
import json

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from marts.reads import (
    demand_history,
    lead_time_observations,
    read_planning_inputs,
    read_table,
)
from orchestration.lib.cadence import kept_from, kept_output
from orchestration.lib.keys import INVENTORY_TARGETS, SERVICE_SIMULATION, mart_key
from orchestration.lib.partitions import daily_asset
from orchestration.lib.run_config import OptimizeRunConfig, ScenarioConfig, SimulationRunConfig
from orchestration.lib.warehouse import markdown_table, run_date_of, write_results
from orchestration.settings import scenarios_path
from simulation.config import result_settings


class ScenarioRunConfig(dg.Config):
    # added to the scenarios file's (MEIO_SCENARIOS, config/scenarios.yaml), or replacing the
    # one of the same name, for this run
    scenarios: list[ScenarioConfig] = []
    use_file: bool = True  # False: plan only this run's scenarios
    # per scenario, at most 50 replications (the summary reads network means only); the
    # +-0.25-point target per class decides, as for the base plan
    simulation: SimulationRunConfig = SimulationRunConfig(replications=50)
    planning: OptimizeRunConfig = OptimizeRunConfig()  # the optimizer's settings for scenarios
    # re-plan the scenarios once the last plans are this many days old, or when the scenarios
    # or these settings changed; between, the last plans stay (0: every run)
    cadence_days: int = 7


@daily_asset(
    key=["scenario", "scenario_plans"],
    deps=[INVENTORY_TARGETS, SERVICE_SIMULATION, mart_key("dim_locations")],
    description="What-if scenarios (config/scenarios.yaml, and the run configuration's), re-planned and simulated beside the base plan (never over it).",
)
def scenario_plans(
    context: dg.AssetExecutionContext,
    config: ScenarioRunConfig,
    warehouse: DuckDBResource,
) -> dg.MaterializeResult:
    from simulation.monte_carlo import simulate_plan
    from simulation.scenarios import (
        apply_scenario,
        check_unique_names,
        demand_change,
        load_scenarios,
        merge_scenarios,
        plan_scenarios,
        scenario_summary,
        shifted_observations,
    )

    extra = [s.settings() for s in config.scenarios]
    try:
        check_unique_names(extra, "the run configuration")
        versioned = load_scenarios(scenarios_path()) if config.use_file else []
    except ValueError as reason:
        raise dg.Failure(str(reason)) from None
    scenarios = merge_scenarios(versioned, extra)
    context.log.info(
        f"{len(scenarios)} scenarios: {len(versioned)} from {scenarios_path()}, "
        f"{len(extra)} from the run configuration"
    )
    simulation = config.simulation.settings()
    run_date = run_date_of(context)
    settings = json.dumps(
        {
            "scenarios": [dataclasses.asdict(s) for s in scenarios],
            "simulation": result_settings(simulation),
            "planning": dataclasses.asdict(config.planning.settings()),
        },
        sort_keys=True,
        default=str,
    )
    with warehouse.get_connection() as con:
        planned_on = kept_from(
            con, "scenario", "scenario_settings", settings, run_date, config.cadence_days
        )
    if planned_on is not None:
        return kept_output(
            context,
            "scenario plans",
            planned_on,
            config.cadence_days,
            {"scenarios": len(scenarios), "planned_on": planned_on.isoformat()},
        )
    with warehouse.get_connection() as con:
        inputs = read_planning_inputs(con)
        locations = read_table(con, "marts", "dim_locations")
        base_targets = read_table(con, "optimization", "inventory_targets")
        base_simulation = read_table(con, "simulation", "service_simulation")
        history = demand_history(con, simulation.history_days)
        lead_times = lead_time_observations(con)
    plans, target_frames = {}, []
    planned = plan_scenarios(inputs, scenarios, locations, config.planning.settings())
    context.log.info(f"{len(scenarios)} scenarios re-planned")
    for scenario, targets in zip(scenarios, planned, strict=True):
        changed = apply_scenario(inputs, scenario, locations)
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
            policies=["meio"],  # the summary's service and stock are the GSM plan's
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
        {
            "scenario_summary": summary,
            "scenario_targets": scenario_targets,
            "scenario_settings": pd.DataFrame({"settings": [settings]}),
        },
        run_date,
        scenario=None,  # the frames carry their own scenario column
    )
    return dg.MaterializeResult(
        metadata={
            "scenarios": len(scenarios),
            "planned_on": run_date.isoformat(),
            "rows": counts["scenario_targets"],
            "summary": dg.MetadataValue.md(markdown_table(summary, ",.4g")),
        }
    )
