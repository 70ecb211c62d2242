"""Forecasts for every stocking node of the network (location x item).

Customer-facing nodes are forecast on their own demand. Internal nodes (DCs, plant) are
forecast on their echelon demand: the summed customer demand of every customer node they
serve per the lanes. Forecasting the aggregate (rather than adding the children's variances)
lets pooling show: when children are not perfectly correlated the aggregate's error variance
is below the sum of theirs, and the model sees that directly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.engine import (
    ForecastConfig,
    accuracy,
    backtest,
    choose_models,
    error_correlation,
    forecast,
    lead_time_demand,
    series_scale,
)

SEP = "|"


@dataclass
class NodeForecasts:
    """forecasts: location_id, sku, ds, step, mean, q01..q99 (units per bucket).
    lead_time_demand: location_id, sku, periods (days), mean, sd (units over those days).
    accuracy: per series back-test figures; models: chosen model and class per series."""

    forecasts: pd.DataFrame
    lead_time_demand: pd.DataFrame
    accuracy: pd.DataFrame
    models: pd.DataFrame
    error_correlation: pd.DataFrame


def served_customers(item_network: pd.DataFrame, customer_nodes: pd.DataFrame) -> pd.DataFrame:
    """For every node x item, the customer-facing nodes it serves (itself included)."""
    customers = set(zip(customer_nodes["location_id"], customer_nodes["sku"], strict=True))
    rows = []
    for sku, lanes in item_network.groupby("sku"):
        children = defaultdict(list)
        for s, d in zip(lanes["source_location_id"], lanes["destination_location_id"], strict=True):
            children[s].append(d)
        nodes = set(lanes["source_location_id"]) | set(lanes["destination_location_id"])
        for node in nodes:
            stack, seen = [node], {node}
            while stack:
                k = stack.pop()
                if (k, sku) in customers:
                    rows.append((node, sku, k))
                for c in children[k]:
                    if c not in seen:
                        seen.add(c)
                        stack.append(c)
    return pd.DataFrame(rows, columns=["location_id", "sku", "customer_location_id"])


def bucket_demand(daily: pd.DataFrame, bucket_days: int) -> pd.DataFrame:
    """Daily demand (location_id, sku, demand_date, demand_qty) to whole buckets ending on the
    last demand date: unique_id, ds (bucket start), y (units per bucket)."""
    daily = daily.copy()
    daily["demand_date"] = pd.to_datetime(daily["demand_date"])
    last = daily["demand_date"].max()
    back = (last - daily["demand_date"]).dt.days // bucket_days
    n_buckets = int(back.max()) + 1
    complete = back < n_buckets - (
        1 if ((last - daily["demand_date"].min()).days + 1) % bucket_days else 0
    )
    daily = daily[complete]
    daily["ds"] = last - pd.to_timedelta((back[complete] + 1) * bucket_days - 1, unit="D")
    daily["unique_id"] = daily["location_id"] + SEP + daily["sku"]
    out = (
        daily.groupby(["unique_id", "ds"], as_index=False)["demand_qty"]
        .sum()
        .rename(columns={"demand_qty": "y"})
    )
    return out.sort_values(["unique_id", "ds"], ignore_index=True)


def echelon_daily_demand(daily: pd.DataFrame, served: pd.DataFrame) -> pd.DataFrame:
    """Daily demand of every node: its own customers' demand summed (internal nodes pool)."""
    merged = served.merge(
        daily.rename(columns={"location_id": "customer_location_id"}),
        on=["customer_location_id", "sku"],
    )
    return merged.groupby(["location_id", "sku", "demand_date"], as_index=False)["demand_qty"].sum()


def forecast_nodes(
    daily: pd.DataFrame,
    item_network: pd.DataFrame,
    customer_nodes: pd.DataFrame,
    config: ForecastConfig = ForecastConfig(),
    bucket_days: int = 7,
) -> NodeForecasts:
    """Back-test, choose and forecast every node's (echelon) demand; lead-time demand in days."""
    served = served_customers(item_network, customer_nodes)
    echelon = echelon_daily_demand(daily, served)
    series = bucket_demand(echelon, bucket_days)
    scores, errors, calibration = backtest(series, config)
    chosen = choose_models(series, scores)
    fc = forecast(series, chosen, config, calibration)
    correlation = error_correlation(errors, chosen, config.horizon)
    ltd = lead_time_demand(fc, chosen, correlation, bucket_days)
    acc = accuracy(errors, chosen, series_scale(series))

    def split(frame: pd.DataFrame) -> pd.DataFrame:
        ids = frame["unique_id"].astype(str)
        return frame.drop(columns="unique_id").assign(
            location_id=ids.str.split(SEP, n=1).str[0], sku=ids.str.split(SEP, n=1).str[1]
        )

    models = split(chosen)
    acc = acc if not acc.empty else acc.assign(unique_id=pd.Series(dtype=str))
    return NodeForecasts(split(fc), split(ltd), split(acc), models, correlation)


def pooled_variance_check(ltd: pd.DataFrame, served: pd.DataFrame, periods: int) -> pd.DataFrame:
    """Per internal node over ``periods`` days: its echelon sd and variance next to the sum of
    its customers' sds and variances. Pooling guarantees echelon sd <= sum of the children's
    sds (equality only for perfectly correlated children); the variance of a sum equals the
    sum of variances for independent children and is below it only for negative correlation."""
    at = ltd[ltd["periods"] == periods]
    internal = served[served["location_id"] != served["customer_location_id"]]
    child = internal.merge(
        at.rename(columns={"location_id": "customer_location_id"}),
        on=["customer_location_id", "sku"],
    )
    grouped = child.groupby(["location_id", "sku"])["sd"]
    own = at.set_index(["location_id", "sku"])["sd"]
    out = pd.DataFrame(
        {
            "sum_of_children_sd": grouped.sum(),
            "sum_of_children_variance": grouped.apply(lambda s: float(np.sum(s**2))),
        }
    )
    out["echelon_sd"] = own.reindex(out.index)
    out["echelon_variance"] = out["echelon_sd"] ** 2
    return out.reset_index()
