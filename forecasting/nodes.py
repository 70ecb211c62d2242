"""Forecasts for every stocking node of the network (location x item).

Customer-facing nodes are forecast on their own demand. Internal nodes (DCs, plant) are
forecast on their echelon demand: the summed customer demand of every customer node they
serve per the lanes. Forecasting the aggregate (rather than adding the children's variances)
lets pooling show: when children are not perfectly correlated the aggregate's error variance
is below the sum of theirs, and the model sees that directly.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from forecasting.buckets import SEP
from forecasting.calibration import count_valued
from forecasting.config import ForecastConfig
from forecasting.engine import Progress, backtest, choose_models, forecast
from forecasting.lead_time import error_correlation, lead_time_demand
from forecasting.metrics import accuracy, series_scale
from forecasting.selection import MODEL_COLUMNS, Selection, selection_settings


@dataclass
class NodeForecasts:
    """forecasts: location_id, sku, ds, step, mean, q01..q99 (units per bucket).
    lead_time_demand: location_id, sku, periods (days), mean, sd (units over those days),
        count_valued (demand in whole units: count-shaped safety stock).
    accuracy: per series back-test figures; models: chosen model and class per series."""

    forecasts: pd.DataFrame
    lead_time_demand: pd.DataFrame
    accuracy: pd.DataFrame
    models: pd.DataFrame
    selection: Selection  # what the next run may reuse (and its error correlation)
    reused_selection: bool  # this run reused a previous selection (nothing back-tested)


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


def echelon_series(customer_buckets: pd.DataFrame, served: pd.DataFrame) -> pd.DataFrame:
    """Every node's demand per bucket: the buckets of the customer nodes it serves, summed
    (internal nodes pool); unique_id (``location|sku``), ds, y, sorted. A node has a bucket
    where any of its customers has one. Sparse incidence x dense (customers x buckets) matrix:
    memory is that of the bucketed history, not of one row per node x customer x day."""
    # customer node = location code x item code (one integer: factorizing pairs of strings is
    # slow at millions of rows)
    location_code, locations = pd.factorize(customer_buckets["location_id"])
    sku_code, skus = pd.factorize(customer_buckets["sku"])
    customer_code, customers = pd.factorize(location_code.astype(np.int64) * len(skus) + sku_code)
    bucket_code, buckets = pd.factorize(customer_buckets["ds"], sort=True)
    demand = np.zeros((len(customers), len(buckets)))
    demand[customer_code, bucket_code] = customer_buckets["y"].to_numpy(dtype=float)
    observed = np.zeros((len(customers), len(buckets)))
    observed[customer_code, bucket_code] = 1.0
    served_location = locations.get_indexer(served["customer_location_id"])
    served_sku = skus.get_indexer(served["sku"])
    column = pd.Index(customers).get_indexer(
        served_location.astype(np.int64) * len(skus) + served_sku
    )
    column[(served_location < 0) | (served_sku < 0)] = -1
    links = served[column >= 0]
    node_ids = (links["location_id"] + SEP + links["sku"]).to_numpy(dtype=object)
    node_code, nodes = pd.factorize(node_ids, sort=True)
    incidence = sparse.csr_matrix(
        (np.ones(len(links)), (node_code, column[column >= 0])),
        shape=(len(nodes), len(customers)),
    )
    node_demand = incidence @ demand
    row, col = np.nonzero(incidence @ observed)
    return pd.DataFrame(
        {
            "unique_id": np.asarray(nodes, dtype=object)[row],
            "ds": buckets[col],
            "y": node_demand[row, col],
        }
    )


def forecast_nodes(
    customer_buckets: pd.DataFrame,
    item_network: pd.DataFrame,
    customer_nodes: pd.DataFrame,
    config: ForecastConfig = ForecastConfig(),
    previous: Selection | None = None,
    progress: Progress | None = None,
) -> NodeForecasts:
    """Back-test, choose and forecast every node's (echelon) demand from customer demand per
    bucket of ``config.bucket_days`` (``bucket_demand``); lead-time demand in days. With a
    ``previous`` selection still fresh (``Selection.is_fresh``), its choice, calibration and
    error correlation are reused and nothing is back-tested. ``progress`` hears how far the
    back-test and the forecast are."""
    served = served_customers(item_network, customer_nodes)
    series = echelon_series(customer_buckets, served)
    last_bucket = pd.Timestamp(series["ds"].max()) if len(series) else pd.NaT
    if previous is not None and len(series) and previous.is_fresh(last_bucket, config):
        chosen = previous.carried_over(series)
        selection = dataclasses.replace(previous, models=chosen[MODEL_COLUMNS])
        reused = True
    else:
        tested = backtest(series, config, progress)
        chosen = choose_models(series, tested.scores)
        errors = tested.errors(chosen)
        calibration = tested.calibration
        del tested
        selection = Selection(
            models=chosen[MODEL_COLUMNS],
            calibration=calibration,
            error_correlation=error_correlation(errors, chosen, config.horizon),
            accuracy=accuracy(errors, chosen, series_scale(series)),
            selected_on=last_bucket,
            settings=selection_settings(config),
        )
        reused = False
    fc = forecast(series, chosen, config, selection.calibration, progress)
    ltd = lead_time_demand(fc, chosen, selection.error_correlation, config.bucket_days)
    ltd["count_valued"] = (
        count_valued(series, config).reindex(ltd["unique_id"].to_numpy()).to_numpy(bool)
    )
    acc = selection.accuracy
    acc = acc[acc["unique_id"].isin(chosen["unique_id"])] if len(acc) else acc

    def split(frame: pd.DataFrame) -> pd.DataFrame:
        code, ids = pd.factorize(frame["unique_id"])  # split each distinct id once
        parts = np.array([str(i).split(SEP, 1) for i in ids], dtype=object).reshape(-1, 2)
        return frame.drop(columns="unique_id").assign(
            location_id=parts[code, 0], sku=parts[code, 1]
        )

    models = split(chosen).assign(selected_on=selection.selected_on)
    acc = acc if not acc.empty else acc.assign(unique_id=pd.Series(dtype=str))
    return NodeForecasts(split(fc), split(ltd), split(acc), models, selection, reused)


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
