"""Historical backtest: the plan the pipeline would have made before each past day, replayed
against the demand that came, next to the inventory really held. Run as a backfill."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from marts.reads import (
    customer_demand_after,
    demand_span,
    read_customer_buckets,
    read_planning_inputs,
    read_table,
    receipts_after,
)
from orchestration.lib.keys import INVENTORY_TARGETS, mart_key
from orchestration.lib.partitions import daily_asset
from orchestration.lib.run_config import ForecastRunConfig, OptimizeRunConfig
from orchestration.lib.warehouse import markdown_table, replace_days


class BacktestRunConfig(dg.Config):
    holdout_days: int = 28  # the plan is made this many days before the partition's day
    replications: int = 20  # lead times differ between replications, demand is history's
    forecast: ForecastRunConfig = ForecastRunConfig()  # the re-plan's forecast
    planning: OptimizeRunConfig = OptimizeRunConfig()  # the re-plan's optimizer


@daily_asset(
    key=["simulation", "historical_backtest"],
    deps=[
        mart_key("fct_customer_demand_daily"),
        mart_key("fct_inventory_position"),
        mart_key("fct_receipts_daily"),
        INVENTORY_TARGETS,
    ],
    description="The plan the pipeline would have made holdout_days before each day, replayed against the demand that came, next to the inventory history really held. Run as a backfill over past days (one run per range); kept per run_date.",
)
def historical_backtest(
    context: dg.AssetExecutionContext, config: BacktestRunConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    from simulation.backtest import backtest_day

    days_run = [dt.date.fromisoformat(key) for key in context.partition_keys]
    forecast, planning = config.forecast.settings(), config.planning.settings()
    with warehouse.get_connection() as con:
        first, last = demand_span(con)
        for day in days_run:
            cutoff = day - dt.timedelta(days=config.holdout_days)
            if first is None or day > last or cutoff < first:
                raise dg.Failure(
                    f"backtest day {day} needs demand from {cutoff} to {day}; the marts hold "
                    f"{first} to {last}"
                )
        earliest = days_run[0] - dt.timedelta(days=config.holdout_days)
        # the days replayed and after (the stock history walks back from the latest snapshot)
        daily = customer_demand_after(con, earliest)
        receipts = receipts_after(con, earliest)
        on_hand = read_table(con, "marts", "fct_inventory_position")
        inputs = read_planning_inputs(con)
        frames = []
        for day in days_run:
            cutoff = day - dt.timedelta(days=config.holdout_days)
            history = read_customer_buckets(con, forecast.bucket_days, until=cutoff)
            frames.append(
                backtest_day(
                    inputs,
                    history,
                    day,
                    holdout_days=config.holdout_days,
                    daily=daily,
                    on_hand=on_hand,
                    receipts=receipts,
                    replications=config.replications,
                    forecast=forecast,
                    planning=planning,
                ).assign(run_date=day)
            )
        result = pd.concat(frames, ignore_index=True)
        rows = replace_days(con, "simulation", "historical_backtest", result, days_run)
    summary = pd.DataFrame(
        {
            "measure": [
                "cycle service (replenishment cycles without a short)",
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
