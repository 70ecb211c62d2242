"""Forecast asset: probabilistic demand per node from the marts, written to the `forecast` schema."""

import json

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from marts.reads import (
    customer_nodes,
    forecast_input_checksums,
    read_customer_buckets,
    read_forecast_selection,
    read_table,
)
from orchestration.lib.cadence import kept_from, kept_output
from orchestration.lib.keys import mart_key
from orchestration.lib.partitions import daily_asset
from orchestration.lib.run_config import ForecastRunConfig
from orchestration.lib.warehouse import (
    markdown_table,
    run_date_of,
    table_metadata,
    write_results,
)
from serving import pictures


@daily_asset(
    key=["forecast", "node_forecasts"],
    deps=[
        mart_key("fct_customer_demand_daily"),
        mart_key("fct_item_network"),
        mart_key("dim_locations"),
    ],
    description="Quantile forecasts per node (customer and echelon demand), lead-time demand, accuracy.",
)
def node_forecasts(
    context: dg.AssetExecutionContext, config: ForecastRunConfig, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    from forecasting.nodes import forecast_nodes

    settings = config.settings()
    run_date = run_date_of(context)
    with warehouse.get_connection() as con:
        # whole buckets only: on the days after a bucket ends, the series are those the last
        # forecast was made from (unless late lines or the network changed them); that
        # forecast stays, with the same settings and a selection that is still fresh
        inputs = json.dumps(
            {
                "settings": config.model_dump(),
                "inputs": forecast_input_checksums(con, settings.bucket_days),
            },
            sort_keys=True,
            default=str,
        )
        made_on = (  # cadence 0 forces a selection on every run: nothing kept
            kept_from(con, "forecast", "forecast_inputs", inputs, run_date, settings.bucket_days)
            if settings.selection_cadence_days
            else None
        )
    if made_on is not None:
        return kept_output(
            context,
            "forecasts",
            made_on,
            settings.bucket_days,
            {"forecast_made_on": made_on.isoformat()},
            why="made from the same whole buckets, network and settings",
        )
    with warehouse.get_connection() as con:
        buckets = read_customer_buckets(con, settings.bucket_days)
        customers = customer_nodes(con)
        network = read_table(con, "marts", "fct_item_network")
        # cadence 0: a selection every run, nothing to read back
        previous = read_forecast_selection(con) if settings.selection_cadence_days else None
    result = forecast_nodes(
        buckets, network, customers, settings, previous, progress=context.log.info
    )
    made_on = pd.Timestamp(result.selection.selected_on).date()
    selection_note = (
        f"reused the selection made on the buckets up to the one starting {made_on} (cadence "
        f"{settings.selection_cadence_days} days): chosen models refit, nothing back-tested"
        if result.reused_selection
        else f"new selection: every candidate back-tested on the buckets up to the one starting {made_on}"
    )
    context.log.info(selection_note)
    tables = {
        "forecast_calibration": result.selection.calibration_frame(),
        "node_forecasts": result.forecasts,
        "lead_time_demand": result.lead_time_demand,
        "forecast_accuracy": result.accuracy,
        "forecast_models": result.models,
        "error_correlation": result.selection.error_correlation,
        "forecast_inputs": pd.DataFrame({"settings": [inputs]}),
    }
    counts = write_results(warehouse, "forecast", tables, run_date, scenario=None)
    accuracy = result.accuracy
    by_class = (
        accuracy.groupby("demand_class")
        .agg(
            series=("scaled_pinball", "size"),
            scaled_pinball=("scaled_pinball", "mean"),
            coverage_80=("coverage_80", "mean"),
            coverage_98=("coverage_98", "mean"),
        )
        .reset_index()
        if not accuracy.empty and "demand_class" in accuracy
        else pd.DataFrame({"note": ["histories too short to back-test: default models"]})
    )
    models = result.models.groupby(["demand_class", "model"]).size().rename("series").reset_index()
    return dg.MaterializeResult(
        metadata={
            "series": len(result.models),
            "forecast_made_on": run_date.isoformat(),
            **table_metadata(result.forecasts, "node_forecasts", stamped=("run_date",)),
            "model_selection": selection_note,
            "fan_chart": dg.MetadataValue.md(
                _fan_chart(buckets, result.forecasts, settings.bucket_days)
            ),
            "rows": dg.MetadataValue.json(counts),
            "accuracy_by_class": dg.MetadataValue.md(markdown_table(by_class)),
            "chosen_models": dg.MetadataValue.md(markdown_table(models)),
        }
    )


def _fan_chart(buckets: pd.DataFrame, forecasts: pd.DataFrame, bucket_days: int) -> str:
    """The busiest customer series: its last year of history and the forecast's 10-90% fan."""
    if forecasts.empty or buckets.empty:
        return "no forecasts"
    busiest = buckets.groupby(["location_id", "sku"])["y"].sum().idxmax()
    history = (
        buckets[(buckets["location_id"] == busiest[0]) & (buckets["sku"] == busiest[1])]
        .sort_values("ds")
        .tail(52)
    )
    future = forecasts[
        (forecasts["location_id"] == busiest[0]) & (forecasts["sku"] == busiest[1])
    ].sort_values("ds")
    n_hist, n_future = len(history), len(future)
    nan = [float("nan")]
    picture = pictures.line_chart(
        f"Demand and forecast, {busiest[1]} at {busiest[0]} (per {bucket_days} d)",
        list(range(-n_hist + 1, n_future + 1)),
        {
            "history": history["y"].tolist() + nan * n_future,
            "forecast mean": nan * (n_hist - 1) + [history["y"].iloc[-1]] + future["mean"].tolist()
            if n_hist
            else future["mean"].tolist(),
        },
        "buckets from today",
        "units per bucket",
        band=(
            nan * n_hist + future["q10"].tolist(),
            nan * n_hist + future["q90"].tolist(),
        ),
    )
    return pictures.as_markdown(picture, "forecast fan")
