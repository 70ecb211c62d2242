"""Dagster definitions of the MEIO pipeline (`dagster dev` loads this via workspace.yaml).

Every asset and check defined in a module of ``orchestration/defs`` is collected, so a new
asset only needs to live in its concern's module. The assets import the libraries' heavy
parts (statsforecast, the solvers, the simulation kernel) when they run: loading these
definitions (`dagster dev`, every CLI command, every run's process) took 9.7 s of CPU with them
at import and 5.2 s without (dagster, dagster-dbt and pandera remain).
"""

import dagster as dg

from orchestration.defs import (
    backtest,
    dbt,
    forecast,
    ingest,
    optimize,
    publish,
    quality,
    scenarios,
    simulate,
)
from orchestration.defs.schedules import (
    daily_refresh,
    daily_refresh_schedule,
    historical_backtest,
    new_landing_folder,
)
from orchestration.lib.resources import build_resources

DEFS_MODULES = [ingest, dbt, quality, forecast, optimize, simulate, scenarios, backtest, publish]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(DEFS_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(DEFS_MODULES),
    jobs=[daily_refresh, historical_backtest],
    schedules=[daily_refresh_schedule],
    sensors=[new_landing_folder],
    resources=build_resources(),
    # DuckDB allows one writer process: run steps one after another in the run's process.
    executor=dg.in_process_executor,
)
