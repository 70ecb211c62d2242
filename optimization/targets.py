"""Inventory targets per node (location x item) from the GSM, next to the single-echelon baseline.

Units: time in days (the GSM period), quantities in units, money in the items' currency.
Assumptions: a stage is a location holding one item; suppliers are outside the model (their lane
is the lead time of the receiving stage); a stage's lead time is the measured mean of its
inbound lane rounded to the nearest whole day (``whole_periods``) and its standard deviation is
buffered by that stage at every net replenishment time, 0 included (``safety_stock_table``:
normal, or a negative binomial for whole-unit demand). Customer-facing stages promise
``customer_service_days`` (0 = from stock). Internal stages use the highest safety factor z of
the customer-facing stages they serve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import ndtr  # norm.cdf without scipy.stats' per-call checks (per item network)

from distributions.counts import count_quantile_at, count_undershoot_moments
from optimization.config import SERVICE_LEVEL_RANGE, PlanningConfig
from optimization.gsm import Network, Solution, single_echelon, solve, whole_periods
from optimization.service import (
    resolve_service_policy,
    z_for_cycle_service,
    z_for_fill_rate,
)

SUPPLIER = "SUPPLIER"


@dataclass
class PlanningInputs:
    """DataFrames as published by the marts and the forecast asset.

    item_network: sku, source_location_id, source_location_type, destination_location_id,
        destination_location_type, transfer_cost.
    lane_lead_times: source_location_id, destination_location_id, lead_time_mean_days,
        lead_time_stddev_days.
    items: sku, unit_cost, lot_size, moq.
    lead_time_demand: location_id, sku, periods (days, 1..P), mean, sd: demand summed over
        the next ``periods`` days; every stage (internal stages: their echelon demand).
    customer_nodes: location_id, sku of the stages with independent (customer) demand,
        with item_class for the service policy.
    service_policy: optional rules, see optimization.service.resolve_service_policy.
    """

    item_network: pd.DataFrame
    lane_lead_times: pd.DataFrame
    items: pd.DataFrame
    lead_time_demand: pd.DataFrame
    customer_nodes: pd.DataFrame
    service_policy: pd.DataFrame | None = None

    def for_items(self, skus: Sequence[str]) -> PlanningInputs:
        """The same inputs restricted to items ``skus`` (lanes' lead times and the service
        policy are shared): an item's plan depends on its own network and demand only."""
        keep = set(skus)

        def mine(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["sku"].isin(keep)]

        return replace(
            self,
            item_network=mine(self.item_network),
            items=mine(self.items),
            lead_time_demand=mine(self.lead_time_demand),
            customer_nodes=mine(self.customer_nodes),
        )


@dataclass
class ItemNetwork:
    network: Network
    skus: list[str]
    stage_locations: list[str]
    stage_types: list[str]
    lead_time_sd: np.ndarray  # (stages,)
    value_added: np.ndarray  # transfer cost accumulated to each stage, currency per unit


def serving_lanes(item_network: pd.DataFrame, customer_nodes: pd.DataFrame) -> pd.DataFrame:
    """Lanes whose destination serves at least one customer-facing node of the item: a store
    that does not carry an item, or a DC with no such store, is no stage of that item."""
    lanes = item_network[["sku", "source_location_id", "destination_location_id"]]
    useful = pd.MultiIndex.from_frame(
        customer_nodes[["sku", "location_id"]].drop_duplicates(), names=["sku", "location_id"]
    )
    frontier = useful
    while len(frontier):  # every node upstream of a useful node is useful, one tier at a time
        into = pd.MultiIndex.from_frame(lanes[["sku", "destination_location_id"]]).isin(frontier)
        up = pd.MultiIndex.from_arrays(
            [lanes["sku"].to_numpy()[into], lanes["source_location_id"].to_numpy()[into]],
            names=["sku", "location_id"],
        ).unique()
        frontier = up[~up.isin(useful)]
        useful = useful.append(frontier)
    keep = pd.MultiIndex.from_frame(item_network[["sku", "destination_location_id"]]).isin(useful)
    return item_network[keep]


def with_lane_lead_times(
    lanes: pd.DataFrame, lane_lead_times: pd.DataFrame, how: str = "inner"
) -> pd.DataFrame:
    """``lanes`` (source_location_id, destination_location_id, ..) with each lane's measured
    lead_time_mean_days and lead_time_stddev_days (days)."""
    return lanes.merge(
        lane_lead_times[
            [
                "source_location_id",
                "destination_location_id",
                "lead_time_mean_days",
                "lead_time_stddev_days",
            ]
        ],
        on=["source_location_id", "destination_location_id"],
        how=how,
    )


def build_item_networks(inputs: PlanningInputs) -> list[ItemNetwork]:
    """Group items that share a network (same lanes and lead times) for vectorised solving."""
    lanes = with_lane_lead_times(
        serving_lanes(inputs.item_network.reset_index(drop=True), inputs.customer_nodes),
        inputs.lane_lead_times,
        how="left",
    )
    missing = lanes["lead_time_mean_days"].isna()
    if missing.any():
        row = lanes[missing].iloc[0]
        raise ValueError(
            f"no lead time for lane {row['source_location_id']} -> {row['destination_location_id']} (item {row['sku']})"
        )
    # one sort, then plain lists per item: a pandas call per item cost ~2 ms, 4 s at 2,000
    lanes = lanes.sort_values(
        ["sku", "destination_location_id", "source_location_id"], kind="stable"
    )
    sku_of = lanes["sku"].to_numpy()
    starts = np.flatnonzero(np.r_[True, sku_of[1:] != sku_of[:-1]]) if len(lanes) else []
    ends = [*starts[1:], len(lanes)] if len(lanes) else []
    source = lanes["source_location_id"].tolist()
    destination = lanes["destination_location_id"].tolist()
    source_type = lanes["source_location_type"].tolist()
    destination_type = lanes["destination_location_type"].tolist()
    lane_days = whole_periods(lanes["lead_time_mean_days"].to_numpy()).tolist()
    lane_sd = lanes["lead_time_stddev_days"].to_numpy(dtype=float).tolist()
    lane_cost = lanes["transfer_cost"].to_numpy(dtype=float).tolist()
    groups: dict[tuple, list[str]] = {}
    shapes: dict[tuple, ItemNetwork] = {}
    for low, high in zip(starts, ends, strict=True):
        rows = range(low, high)
        stage_rows = [r for r in rows if destination_type[r] != SUPPLIER]
        locations = sorted(
            {destination[r] for r in stage_rows}
            | {source[r] for r in rows if source_type[r] != SUPPLIER}
        )
        index = {loc: k for k, loc in enumerate(locations)}
        types = {destination[r]: destination_type[r] for r in rows}
        types.update({source[r]: source_type[r] for r in rows})
        T = np.zeros(len(locations), dtype=np.int64)
        sd_lt = np.zeros(len(locations))
        added = np.zeros(len(locations))
        arcs = []
        for r in stage_rows:
            j = index[destination[r]]
            T[j] = max(T[j], lane_days[r])
            sd_lt[j] = max(sd_lt[j], lane_sd[r])
            added[j] = max(added[j], lane_cost[r])
            if source_type[r] != SUPPLIER:
                arcs.append((index[source[r]], j))
        network = Network(
            tuple(locations), T, tuple(sorted(arcs)), np.zeros(len(locations), dtype=np.int64)
        )
        for j in network.topological_order():  # value added along the chain
            ups = network.suppliers()[j]
            added[j] += max((added[i] for i in ups), default=0.0)
        key = (
            network.stage_ids,
            network.arcs,
            tuple(T),
            tuple(np.round(sd_lt, 6)),
            tuple(np.round(added, 6)),
        )
        groups.setdefault(key, []).append(sku_of[low])
        shapes[key] = ItemNetwork(
            network, [], locations, [types[loc] for loc in locations], sd_lt, added
        )
    result = []
    for key, skus in groups.items():
        shape = shapes[key]
        shape.skus = skus
        result.append(shape)
    return result


def longest_replenishment(inputs: PlanningInputs) -> pd.Series:
    """Per sku, the longest net replenishment time its network allows (days): the longest
    lead-time path to any of its stages, which ``plan_targets`` sizes its tables to."""
    return pd.Series(
        {
            sku: int(group.network.longest_lead_time().max())
            for group in build_item_networks(inputs)
            for sku in group.skus
        },
        dtype="int64",
    )


def planned_horizons(inputs: PlanningInputs) -> PlanningInputs:
    """``inputs`` with only the lead-time demand rows a plan reads: per item, the periods up to
    its ``longest_replenishment`` and its last period (its mean daily demand). The plan and its
    trade-off are the same as with the whole table; the forecast publishes every horizon (91
    days on weekly buckets), of which a plan of 23-day paths reads a quarter (2,000 items:
    2.15 M of 8.15 M rows)."""
    longest = longest_replenishment(inputs)
    ltd = inputs.lead_time_demand
    codes, skus = pd.factorize(ltd["sku"])
    periods = ltd["periods"].to_numpy(np.int64)
    cap = longest.reindex(skus, fill_value=0).to_numpy(np.int64)[codes]
    last = np.zeros(len(skus), dtype=np.int64)
    np.maximum.at(last, codes, periods)  # each item's last period
    last = last[codes]
    keep = (periods <= cap) | (periods == last)
    return replace(inputs, lead_time_demand=ltd[keep].reset_index(drop=True))


def _lead_time_tables(
    ltd: _NodeColumns, group: ItemNetwork, max_tau: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mean daily demand (items, stages), sd of demand over tau days (items, stages, tau) and
    whether the node's demand is counted in whole units (items, stages; ``count_valued``
    column, False where absent), from ``ltd``, the lead-time demand rows (``_lead_time_columns``)."""
    n_items, n_stages = len(group.skus), group.network.n
    i, k, rows = ltd.of(group)
    p = rows["periods"].astype(int)
    periods = int(p.max()) if len(p) else 1
    sd = np.zeros((n_items, n_stages, periods + 1))
    mean = np.zeros((n_items, n_stages, periods + 1))
    counts = np.zeros((n_items, n_stages), dtype=bool)
    sd[i, k, p] = rows["sd"]
    mean[i, k, p] = rows["mean"]
    if "count_valued" in rows:
        counts[i, k] = rows["count_valued"].astype(bool)
    mean_daily = mean[:, :, periods] / periods
    taus = np.arange(max_tau + 1)
    table = np.zeros((n_items, n_stages, max_tau + 1))
    inside = taus <= periods
    table[:, :, inside] = sd[:, :, taus[inside]]
    if (~inside).any():  # beyond the forecast's horizon: grow with sqrt(tau)
        table[:, :, ~inside] = sd[:, :, periods][..., None] * np.sqrt(taus[~inside] / periods)
    return mean_daily, table, counts


def _lead_time_columns(ltd: pd.DataFrame) -> _NodeColumns:
    """The lead-time demand rows as ``_lead_time_tables`` reads them."""
    columns = ["periods", "mean", "sd"] + (["count_valued"] if "count_valued" in ltd else [])
    return _NodeColumns(ltd, columns)


def safety_stock_table(
    z: np.ndarray,
    mean_daily: np.ndarray,
    sd_table: np.ndarray,
    lead_time_sd: np.ndarray,
    count_valued: np.ndarray,
) -> np.ndarray:
    """Safety stock (units) per item x stage x net replenishment time tau (days, 0..).

    Demand over the stage's random replenishment time: mean m = mean_daily x tau, variance
    v = sd_table[tau]^2 + mean_daily^2 x lead_time_sd^2 (the stage's own lead-time sd, days,
    at every tau: a stage with a random lead time buffers it even where it holds no cycle
    stock). Continuous demand: z sqrt(v). Whole-unit demand (``count_valued``): the quantile
    at Phi(z) of a negative binomial of mean m and variance max(v, m) (a count is at least
    Poisson-spread), minus m; where m = 0 (tau = 0) the normal term. Non-decreasing in tau
    and >= 0: a longer wait never holds less (the GSM's cost tables must not fall with tau).
    z: (items, stages); mean_daily, count_valued: (items, stages); sd_table (items, stages, tau).
    """
    taus = np.arange(sd_table.shape[2])
    variance = sd_table**2 + ((mean_daily * lead_time_sd[None, :]) ** 2)[..., None]
    table = z[..., None] * np.sqrt(variance)
    mean = mean_daily[..., None] * taus
    rows = count_valued[..., None] & (mean > 0)
    if rows.any():
        probability = np.broadcast_to(ndtr(z)[..., None], table.shape)[rows]
        quantile = count_quantile_at(
            mean[rows], np.sqrt(np.maximum(variance[rows], mean[rows])), probability
        )
        table[rows] = quantile - mean[rows]
    return np.maximum.accumulate(np.maximum(table, 0.0), axis=2)


class _NodeColumns:
    """Columns of a frame keyed by (sku, location_id) as numpy arrays, grouped by item once:
    a group's rows are then found without a pandas call per group (at 2,000 items every item
    is its own group)."""

    def __init__(self, frame: pd.DataFrame, columns: Sequence[str]) -> None:
        codes, uniques = pd.factorize(frame["sku"])
        self.order = np.argsort(codes, kind="stable")
        self.bounds = np.searchsorted(codes[self.order], np.arange(len(uniques) + 1))
        self.item = {sku: k for k, sku in enumerate(uniques)}
        location_codes, locations = pd.factorize(frame["location_id"])
        self.location_code = location_codes[self.order]
        self.location = {loc: k for k, loc in enumerate(locations)}
        self.values = {c: frame[c].to_numpy()[self.order] for c in columns}

    def of(self, group: ItemNetwork) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(item index, stage index, the columns) of the rows at the group's stages."""
        parts = [
            (i, self.bounds[self.item[s]], self.bounds[self.item[s] + 1])
            for i, s in enumerate(group.skus)
            if s in self.item
        ]
        if parts:
            positions = np.concatenate([np.arange(low, high) for _, low, high in parts])
            item = np.repeat([i for i, _, _ in parts], [high - low for _, low, high in parts])
        else:
            positions, item = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        stage_of = np.full(len(self.location) + 1, -1)  # -1 (last): not a stage of the group
        for k, loc in enumerate(group.stage_locations):
            if loc in self.location:
                stage_of[self.location[loc]] = k
        stage = stage_of[self.location_code[positions]]
        at_stage = stage >= 0
        positions = positions[at_stage]
        return (
            item[at_stage],
            stage[at_stage],
            {c: v[positions] for c, v in self.values.items()},
        )


# the plan's quantities and values: finite and not negative in a publishable plan
PUBLISHED_QUANTITIES = (
    "mean_daily_demand",
    "safety_stock",
    "pipeline_stock",
    "reorder_point",
    "order_quantity",
    "target_stock_level",
    "unit_value",
    "safety_stock_value",
    "holding_cost_per_day",
    "baseline_safety_stock",
    "baseline_safety_stock_value",
)


def plan_problems(targets: pd.DataFrame, shown: int = 5) -> list[str]:
    """What makes a plan unpublishable, per column: values that are not finite or are
    negative, with the first ``shown`` nodes (location, item, value). Empty: publishable."""
    problems = []
    for column in PUBLISHED_QUANTITIES:
        if column not in targets:
            continue
        values = targets[column].to_numpy(float)
        bad = ~np.isfinite(values) | (values < 0)
        if not bad.any():
            continue
        rows = targets.loc[bad, ["location_id", "sku", column]].head(shown)
        nodes = ", ".join(
            f"{r.location_id}/{r.sku} = {r[2]!r}" for r in rows.itertuples(index=False)
        )
        problems.append(f"{column}: {int(bad.sum())} nodes not finite or negative, e.g. {nodes}")
    return problems


def plan_targets(
    inputs: PlanningInputs, config: PlanningConfig = PlanningConfig()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Solve every item's network. Returns (targets per node x item, summary per item).

    With ``config.dask_scheduler`` the items are solved on that Dask cluster,
    ``config.item_chunk`` items per task (the same plan either way: items are independent);
    else in this process. Local processes do not pay here: splitting the inputs and sending
    them costs more than the half of the work they take (scale warehouse, session 23: 2,000
    items 8.9 s in one process, 12.3 s in two; 6,000 items 18.4 s vs 29.4 s)."""
    if config.dask_scheduler is not None:
        return _plan_on_dask(inputs, config)
    items = _ItemValues(inputs.items)
    frames, summaries = [], []
    customers = inputs.customer_nodes.copy()
    policy = resolve_service_policy(customers, inputs.service_policy)
    lead_time_demand = _lead_time_columns(inputs.lead_time_demand)
    node_policy = _NodeColumns(policy, ["service_level", "service_type"])
    for group in build_item_networks(inputs):
        net = group.network
        n_items, n = len(group.skus), net.n
        latest = net.longest_lead_time()
        max_tau = int(latest.max())
        mean_daily, sd_table, counts = _lead_time_tables(lead_time_demand, group, max_tau)
        item_cost, lot, moq = items.of(group.skus)
        unit_cost = item_cost[:, None] + group.value_added[None, :]
        h = unit_cost * config.holding_rate_per_year / 365.0  # currency per unit per day
        is_customer, level, service_type = _group_policy(group, node_policy)
        max_service = np.where(is_customer, float(config.customer_service_days), np.inf)
        cycle_z = np.where(
            is_customer, z_for_cycle_service(np.clip(level, *SERVICE_LEVEL_RANGE)), 0.0
        )
        z = cycle_z.copy()
        fill = is_customer & (service_type == "fill_rate")
        order_quantity = order_quantities(mean_daily, lot, moq, config.order_cycle_days)
        tau_guess = np.broadcast_to(net.processing_time[None, :], (n_items, n)).astype(np.int64)
        for _ in range(3):  # fill rates: z depends on tau, tau on z; a few fixed-point passes
            if fill.any():
                for i, k in zip(*np.nonzero(fill), strict=True):
                    z[i, k] = z_for_fill_rate(
                        level[i, k], sd_table[i, k, tau_guess[i, k]], order_quantity[i, k]
                    )
            z_full = _propagate_z(net, z)
            safety_table = safety_stock_table(
                z_full, mean_daily, sd_table, group.lead_time_sd, counts
            )
            cost = h[..., None] * safety_table
            solution = solve(net, cost, max_service, time_limit=config.mip_time_limit_seconds)
            if not fill.any() or (solution.net_replenishment_time == tau_guess).all():
                break
            tau_guess = solution.net_replenishment_time
        baseline = single_echelon(net, cost)
        plan = _GroupPlan(
            group,
            z_full,
            is_customer,
            level,
            service_type,
            mean_daily,
            safety_table,
            unit_cost,
            h,
            max_service,
            sd_table,
            counts,
            lot,
            moq,
            order_quantity,
        )
        frames.append(_targets_frame(plan, solution, baseline, config))
        summaries.append(
            {
                "sku": np.asarray(group.skus, dtype=object),
                "stages": np.full(n_items, n),
                "solver": np.full(n_items, solution.method, dtype=object),
                "status": np.where(solution.item_gaps() > 1e-9, "time_limit", "optimal"),
                "optimality_gap": solution.item_gaps(),
                "meio_holding_cost_per_day": solution.cost,
                "single_echelon_holding_cost_per_day": baseline.cost,
            }
        )
    targets = _stacked(frames).merge(
        policy[["sku", "location_id", "service_rule", "item_class"]].rename(
            columns={"item_class": "demand_class"}
        ),
        on=["sku", "location_id"],
        how="left",
    )
    summary = _stacked(summaries)
    totals = (
        targets.groupby("sku")[["safety_stock_value", "baseline_safety_stock_value"]]
        .sum()
        .reset_index()
    )
    summary = summary.merge(totals, on="sku")
    summary["saving_share"] = np.where(
        summary["single_echelon_holding_cost_per_day"] > 0,
        1 - summary["meio_holding_cost_per_day"] / summary["single_echelon_holding_cost_per_day"],
        0.0,
    )
    return (
        targets.sort_values(["sku", "location_id"]).reset_index(drop=True),
        summary.sort_values("sku").reset_index(drop=True),
    )


def _plan_on_dask(
    inputs: PlanningInputs, config: PlanningConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``plan_targets`` by chunks of ``config.item_chunk`` items on the Dask cluster at
    ``config.dask_scheduler``."""
    from distributed import Client

    here = replace(config, dask_scheduler=None, processes=1)
    with Client(config.dask_scheduler) as client:
        return _gathered(
            client.gather(
                [
                    client.submit(plan_targets, part, here, pure=False)
                    for part in _item_chunks(inputs, config.item_chunk)
                ]
            )
        )


def _item_chunks(inputs: PlanningInputs, size: int) -> list[PlanningInputs]:
    """The inputs of ``size`` items at a time (items sorted by sku)."""
    skus = sorted(inputs.items["sku"].unique())
    return [inputs.for_items(skus[k : k + size]) for k in range(0, len(skus), size)]


def _gathered(
    parts: list[tuple[pd.DataFrame, pd.DataFrame]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plans of chunks of items as one, in the in-process run's order."""
    targets = pd.concat([t for t, _ in parts], ignore_index=True)
    summary = pd.concat([s for _, s in parts], ignore_index=True)
    return (
        targets.sort_values(["sku", "location_id"]).reset_index(drop=True),
        summary.sort_values("sku").reset_index(drop=True),
    )


def undershoot_moments(
    plan: _GroupPlan, order_quantity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance (units) of the undershoot per item x stage of the customer-facing
    stages with demand (0 elsewhere; ``distributions.counts.count_undershoot_moments``)."""
    mean, variance = np.zeros(plan.mean_daily.shape), np.zeros(plan.mean_daily.shape)
    rows = plan.is_customer & (plan.mean_daily > 0)
    if rows.any():
        mean[rows], variance[rows] = count_undershoot_moments(
            plan.mean_daily[rows], plan.sd_table[..., 1][rows], order_quantity[rows]
        )
    return mean, variance


def reorder_points(
    plan: _GroupPlan,
    tau: np.ndarray,
    safety: np.ndarray,
    undershoot: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder points (units, whole) and expected undershoot (units, where it counts) per
    item x stage for net replenishment times ``tau`` (days), their safety stock (units) and
    the undershoot's mean and variance (``undershoot_moments``).

    Stock is reviewed daily and an order is triggered when the inventory position falls below
    the reorder point; it lands ``tau`` days later at the start of the day, before that day's
    demand. A customer-facing stage must therefore cover the demand of the tau - 1 days in
    between plus how far below the reorder point the day that triggered the order took the
    position (the undershoot, large when single days are lumpy:
    ``distributions.counts.count_undershoot_moments``): the reorder point is the quantile at
    Phi(z) of that sum (negative binomial of its mean and variance for whole-unit demand,
    normal otherwise). Internal stages (their demand is their children's orders) and stages
    with tau = 0: demand over tau plus the safety stock, rounded up."""
    mean_daily, z, customer = plan.mean_daily, plan.z, plan.is_customer
    reorder_point = np.maximum(np.ceil(mean_daily * tau + safety - 1e-9), 0.0)
    expected = np.zeros(mean_daily.shape)
    rows = customer & (tau >= 1) & (mean_daily > 0)
    if not rows.any():
        return reorder_point, expected
    m, lead = mean_daily[rows], tau[rows] - 1
    u_mean, u_var = undershoot[0][rows], undershoot[1][rows]
    lead_time_sd = np.broadcast_to(plan.group.lead_time_sd[None, :], mean_daily.shape)[rows]
    waiting = np.take_along_axis(plan.sd_table, (tau - 1).clip(0)[..., None], axis=2)[..., 0]
    mean = m * lead + u_mean
    variance = waiting[rows] ** 2 + (m * lead_time_sd) ** 2 + u_var
    counts = plan.count_valued[rows]
    covered = mean + z[rows] * np.sqrt(variance)
    if counts.any():
        covered[counts] = count_quantile_at(
            mean[counts],
            np.sqrt(np.maximum(variance[counts], mean[counts])),
            ndtr(z[rows][counts]),
        )
    reorder_point[rows] = np.maximum(np.ceil(covered - 1e-9), 0.0)
    expected[rows] = u_mean
    return reorder_point, expected


class _ItemValues:
    """Per item: unit cost (currency per unit), lot size (units, at least 1) and MOQ (units),
    looked up for a group's items."""

    def __init__(self, items: pd.DataFrame) -> None:
        self.index = pd.Index(items["sku"])
        self.unit_cost = items["unit_cost"].to_numpy(dtype=float)
        self.lot = items["lot_size"].to_numpy(dtype=float).clip(min=1)
        self.moq = items["moq"].to_numpy(dtype=float)

    def of(self, skus: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(items,) unit cost, (items, 1) lot size and MOQ of ``skus``."""
        rows = self.index.get_indexer(skus)
        if (rows < 0).any():
            raise KeyError(f"items without a row in items: {np.asarray(skus)[rows < 0][:5]}")
        return self.unit_cost[rows], self.lot[rows][:, None], self.moq[rows][:, None]


def order_quantities(
    mean_daily: np.ndarray, lot: np.ndarray, moq: np.ndarray, cycle_days: float
) -> np.ndarray:
    """Units per replenishment order: ``cycle_days`` of mean daily demand, at least the MOQ,
    rounded up to whole lots; 0 for a node without demand (no lot, no MOQ)."""
    cycle = mean_daily * cycle_days
    rounded = np.maximum(np.ceil(np.maximum(cycle, moq) / lot - 1e-9) * lot, lot)
    return np.where(mean_daily > 0, rounded, 0.0)


def _group_policy(
    group: ItemNetwork, node_policy: _NodeColumns
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per item x stage of a group: customer-facing, service level and service type."""
    n_items, n = len(group.skus), group.network.n
    is_customer = np.zeros((n_items, n), dtype=bool)
    level = np.zeros((n_items, n))
    service_type = np.full((n_items, n), "", dtype=object)
    i, k, rows = node_policy.of(group)
    is_customer[i, k] = True
    level[i, k] = rows["service_level"].astype(float)
    service_type[i, k] = rows["service_type"]
    return is_customer, level, service_type


def safety_stock_at_levels(
    inputs: PlanningInputs, targets: pd.DataFrame, levels: Sequence[float]
) -> pd.DataFrame:
    """Per item, the safety stock value (currency) of the plan and of the single-echelon
    baseline if every customer-facing node had cycle-service target ``level``, at the plan's
    service times: sku, service_level, meio_safety_stock_value,
    single_echelon_safety_stock_value (one row per item of ``inputs`` and level). The same
    ``safety_stock_table`` as the plan (normal or count-shaped); at the planned level it is the
    published plan. For normal demand the optimal service times do not move with one common
    level (the cost scales by z), so the figure is the re-planned optimum; for count-shaped
    nodes it is the value at today's placement (re-planning could only lower it)."""
    plan = _NodeColumns(
        targets,
        [
            "is_customer_facing",
            "unit_value",
            "net_replenishment_time_days",
            "baseline_net_replenishment_time_days",
        ],
    )
    lead_time_demand = _lead_time_columns(inputs.lead_time_demand)
    level_z = [z_for_cycle_service(level) for level in levels]  # once, not per group
    frames = []
    for group in build_item_networks(inputs) if len(levels) else []:
        net = group.network
        shape = (len(group.skus), net.n)
        i, k, rows = plan.of(group)  # a node without a plan row: not customer-facing, 0
        customer, value = np.zeros(shape, dtype=bool), np.zeros(shape)
        customer[i, k] = rows["is_customer_facing"].astype(bool)
        value[i, k] = rows["unit_value"].astype(float)
        taus = {"meio": np.zeros(shape, dtype=np.int64), "baseline": np.zeros(shape, np.int64)}
        taus["meio"][i, k] = rows["net_replenishment_time_days"].astype(np.int64)
        taus["baseline"][i, k] = rows["baseline_net_replenishment_time_days"].astype(np.int64)
        # the table up to the longest tau used: its values there do not depend on longer ones
        longest = max(int(t.max(initial=0)) for t in taus.values())
        mean_daily, sd_table, counts = _lead_time_tables(lead_time_demand, group, longest)
        # every level at once, the levels stacked as rows (level-major): one table per group
        # instead of one per group and level (the same values, element by element)
        stacked = len(levels)
        z = _propagate_z(
            net,
            np.concatenate([np.where(customer, z_level, 0.0) for z_level in level_z]),
        )
        table = safety_stock_table(
            z,
            np.tile(mean_daily, (stacked, 1)),
            np.tile(sd_table, (stacked, 1, 1)),
            group.lead_time_sd,
            np.tile(counts, (stacked, 1)),
        ).reshape(stacked, *shape, -1)
        totals = {}
        for name, tau in taus.items():
            at = np.broadcast_to(tau[None, ..., None], (stacked, *shape, 1))
            totals[name] = (np.take_along_axis(table, at, axis=3)[..., 0] * value).sum(axis=2)
        frames.append(
            {
                "sku": np.tile(np.asarray(group.skus, dtype=object), len(levels)),
                "service_level": np.repeat(np.asarray(levels, dtype=float), len(group.skus)),
                "meio_safety_stock_value": totals["meio"].ravel(),
                "single_echelon_safety_stock_value": totals["baseline"].ravel(),
            }
        )
    columns = [
        "sku",
        "service_level",
        "meio_safety_stock_value",
        "single_echelon_safety_stock_value",
    ]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "sku" else float) for c in columns})
    return _stacked(frames)[columns]


def _propagate_z(net: Network, z: np.ndarray) -> np.ndarray:
    """Internal stages take the highest z of the customer-facing stages they serve."""
    out = z.copy()
    down = net.customers()
    for j in reversed(net.topological_order()):
        for m in down[j]:
            out[:, j] = np.maximum(out[:, j], out[:, m])
    return out


@dataclass
class _GroupPlan:
    """One group of items sharing a network, as planned: arrays of (items, stages), the safety
    stock table (items, stages, tau days)."""

    group: ItemNetwork
    z: np.ndarray  # safety factor
    is_customer: np.ndarray
    level: np.ndarray  # service target (customer-facing stages)
    service_type: np.ndarray
    mean_daily: np.ndarray  # units per day
    safety_table: np.ndarray  # units by tau (``safety_stock_table``)
    unit_cost: np.ndarray  # currency per unit
    h: np.ndarray  # holding cost, currency per unit per day
    max_service: np.ndarray  # days (inf: none)
    sd_table: np.ndarray  # sd of demand over tau days (items, stages, tau)
    count_valued: np.ndarray  # whole-unit demand
    lot: np.ndarray  # lot size, units (items, 1)
    moq: np.ndarray  # minimum order quantity, units (items, 1)
    order_quantity: np.ndarray  # units per replenishment order


def _targets_frame(
    plan: _GroupPlan,
    solution: Solution,
    baseline: Solution,
    config: PlanningConfig,
) -> dict[str, np.ndarray]:
    """One row per item x stage of the group: times, safety stock, reorder point, order
    quantity, target stock (with cover bounds), reason, and the baseline beside them."""
    group, mean_daily, safety_table = plan.group, plan.mean_daily, plan.safety_table
    z, is_customer, level, service_type = plan.z, plan.is_customer, plan.level, plan.service_type
    unit_cost, h = plan.unit_cost, plan.h
    net = group.network
    n_items, n = len(group.skus), net.n
    S, SI, tau = (
        solution.outbound_service_time,
        solution.inbound_service_time,
        solution.net_replenishment_time,
    )
    safety = np.take_along_axis(safety_table, tau[..., None], axis=2)[..., 0]
    base_tau = baseline.net_replenishment_time
    base_safety = np.take_along_axis(safety_table, base_tau[..., None], axis=2)[..., 0]
    lot, moq, order_quantity = plan.lot, plan.moq, plan.order_quantity
    moments = undershoot_moments(plan, order_quantity)  # the same for both policies
    reorder_point, undershoot = reorder_points(plan, tau, safety, moments)
    base_reorder_point, _ = reorder_points(plan, base_tau, base_safety, moments)
    target = reorder_point + order_quantity
    smallest_order = order_quantities(mean_daily, lot, moq, 0)  # the MOQ in whole lots
    bound_note = np.full((n_items, n), "", dtype=object)
    for k, loc_type in enumerate(group.stage_types):
        low = config.min_cover_days.get(loc_type)
        high = config.max_cover_days.get(loc_type)
        if low is not None:
            floor = np.ceil(mean_daily[:, k] * low)
            bound_note[:, k] = np.where(
                target[:, k] < floor, f"raised to {low:g} days of cover", bound_note[:, k]
            )
            target[:, k] = np.maximum(target[:, k], floor)
        if high is not None:
            cap = np.maximum(np.ceil(mean_daily[:, k] * high), reorder_point[:, k])
            capped = target[:, k] > cap
            bound_note[:, k] = np.where(
                capped, f"capped at {high:g} days of cover", bound_note[:, k]
            )
            below_lot = capped & (cap - reorder_point[:, k] < smallest_order[:, k])
            bound_note[:, k] = np.where(
                below_lot,
                [
                    f"capped at {high:g} days of cover, leaving room for less than the "
                    f"smallest order allowed ({q:g} units, lot/MOQ)"
                    for q in smallest_order[:, k]
                ],
                bound_note[:, k],
            )
            target[:, k] = np.minimum(target[:, k], cap)
    locs = group.stage_locations
    rows = []
    for i, sku in enumerate(group.skus):
        for k in range(n):
            reason, binding, buffer = _explain(plan, solution, safety, i, k)
            if undershoot[i, k] > 0:
                reason += (
                    f" Reorder point {reorder_point[i, k]:.0f}: demand over the "
                    f"{tau[i, k] - 1} d an order waits after the review that triggers it, "
                    f"plus {undershoot[i, k]:.1f} units the triggering day typically takes "
                    "the position below the point, at the service target."
                )
            if bound_note[i, k]:
                reason += f" Target {bound_note[i, k]}."
            rows.append(
                (sku, locs[k], group.stage_types[k], reason, binding, buffer, bound_note[i, k])
            )
    text = dict(
        zip(
            [
                "sku",
                "location_id",
                "location_type",
                "reason",
                "binding_constraint",
                "upstream_buffer_location_id",
                "bound_applied",
            ],
            [np.asarray(column, dtype=object) for column in zip(*rows, strict=True)],
            strict=True,
        )
    )
    flat = lambda a: np.asarray(a).reshape(-1)  # noqa: E731
    return {
        **text,
        "is_customer_facing": flat(is_customer),
        "service_type": np.where(flat(is_customer), flat(service_type), "internal"),
        "service_level": np.where(flat(is_customer), flat(level), np.nan),
        "safety_factor_z": flat(z),
        "mean_daily_demand": flat(mean_daily),
        "processing_time_days": np.tile(net.processing_time, n_items),
        "lead_time_stddev_days": np.tile(group.lead_time_sd, n_items),
        "inbound_service_time_days": flat(SI),
        "outbound_service_time_days": flat(S),
        "net_replenishment_time_days": flat(tau),
        "is_decoupling_point": flat(tau) > 0,
        "safety_stock": flat(safety),
        "pipeline_stock": flat(mean_daily * net.processing_time[None, :]),
        "reorder_point": flat(reorder_point),
        "expected_undershoot": flat(undershoot),
        "order_quantity": flat(order_quantity),
        "lot_size": flat(np.broadcast_to(lot, (n_items, n))),
        "minimum_order_quantity": flat(np.broadcast_to(moq, (n_items, n))),
        "target_stock_level": flat(target),
        "unit_value": flat(unit_cost),
        "safety_stock_value": flat(safety * unit_cost),
        "holding_cost_per_day": flat(safety * h),
        "baseline_net_replenishment_time_days": flat(base_tau),
        "baseline_safety_stock": flat(base_safety),
        "baseline_reorder_point": flat(base_reorder_point),
        "baseline_safety_stock_value": flat(base_safety * unit_cost),
    }


def _stacked(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """The groups' columns as one frame: one constructor, not a frame per group (at 2,000
    items every item is its own group; a frame each cost ~2 ms)."""
    if not parts:
        raise ValueError("no item to plan")
    return pd.DataFrame({c: np.concatenate([part[c] for part in parts]) for c in parts[0]})


def _explain(
    plan: _GroupPlan, solution: Solution, safety: np.ndarray, i: int, k: int
) -> tuple[str, str, str | None]:
    """A planner's reason for one node's target (item i, stage k), the binding constraint, the
    upstream buffer."""
    net, locs = plan.group.network, plan.group.stage_locations
    ups, downs = net.suppliers(), net.customers()
    S, SI = solution.outbound_service_time, solution.inbound_service_time
    tau, is_customer = solution.net_replenishment_time, plan.is_customer
    buffer = None
    stack = list(ups[k])
    while stack:  # nearest upstream stage that holds safety stock
        u = stack.pop(0)
        if tau[i, u] > 0:
            buffer = locs[u]
            break
        stack.extend(ups[u])
    if not ups[k]:
        waits = "orders from the supplier"
    elif len(ups[k]) == 1:
        waits = f"waits {SI[i, k]} d for {locs[ups[k][0]]}"
    else:  # several suppliers: the latest one sets the wait
        latest = [locs[u] for u in ups[k] if S[i, u] == SI[i, k]]
        waits = (
            f"waits {SI[i, k]} d for {', '.join(latest)} "
            f"(the latest of {', '.join(locs[u] for u in ups[k])})"
        )
    own = f"{net.processing_time[k]} d own lead time"
    if is_customer[i, k] and S[i, k] >= plan.max_service[i, k]:
        binding = "customer_service_time"
    elif S[i, k] == SI[i, k] + net.processing_time[k]:
        binding = "passes_full_lead_time"
    else:
        binding = "cost_tradeoff"
    if tau[i, k] > 0:
        promise = f"promises {S[i, k]} d" + (
            " to customers" if is_customer[i, k] else f" to {', '.join(locs[d] for d in downs[k])}"
        )
        reason = f"Buffer: covers {tau[i, k]} d of demand ({waits}, {own}, {promise})."
    else:
        passes = (
            f"passes its {S[i, k]} d replenishment time on to "
            f"{', '.join(locs[d] for d in downs[k]) or 'customers'}, whose buffers cover it"
        )
        reason = (
            f"No cycle buffer: {passes}; holds {safety[i, k]:.0f} units for its own lead-time "
            f"variability (sd {plan.group.lead_time_sd[k]:.1f} d)."
            if safety[i, k] > 0
            else f"No safety stock: {passes}."
        )
    if buffer:
        reason += f" Upstream buffer: {buffer}."
    return reason, binding, buffer
