"""Dagster definitions of the MEIO pipeline (`dagster dev` loads this via workspace.yaml)."""

import dagster as dg

from orchestration.defs.dbt import meio_dbt_models
from orchestration.defs.forecast import node_forecasts
from orchestration.defs.ingest import raw_assets
from orchestration.defs.optimize import inventory_targets, planner_actions
from orchestration.defs.publish import published_plan
from orchestration.defs.quality import mart_checks
from orchestration.defs.resources import build_resources
from orchestration.defs.schedules import daily_refresh, daily_refresh_schedule, new_landing_folder

defs = dg.Definitions(
    assets=[
        *raw_assets,
        meio_dbt_models,
        node_forecasts,
        inventory_targets,
        planner_actions,
        published_plan,
    ],
    asset_checks=mart_checks,
    jobs=[daily_refresh],
    schedules=[daily_refresh_schedule],
    sensors=[new_landing_folder],
    resources=build_resources(),
    # DuckDB allows one writer process: run steps one after another in the run's process.
    executor=dg.in_process_executor,
)
