"""Monte Carlo simulation of a network base-stock policy, vectorised over nodes and replications.

Units: one period = one day; quantities in units. Every node (location x item) reviews daily
and orders up to its base-stock level from its parent (or from an outside supplier that always
delivers). A parent ships as soon as it holds stock, rationing a shortage across its children in
proportion to what each is owed, so upstream shortages delay downstream replenishment. Shipments
take a random lead time (normal with the lane's measured mean and sd, rounded, at least one day;
orders may cross). Customer demand at customer-facing nodes is Gaussian with AR(1) persistence
(see :func:`fit_persistence`); negative draws are returns. Unmet customer demand is backordered
(or lost, ``lost_sales=True``).

Measured per customer-facing node: fill rate (share of demand served from stock on its day),
cycle service level (share of days, i.e. review periods, that end with no customer backorder:
the GSM's meaning of its safety factor z), average on hand and backorders, each with a 95%
confidence interval over replications. Internal nodes report average on hand.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm

Z_95 = 1.959963984540054
FLOAT = np.float32  # stock and demand in the simulation: half the memory traffic of float64


@dataclass(frozen=True)
class SimulationConfig:
    days: int = 365  # measured periods per replication
    warmup_days: int = 56  # discarded start-up periods
    replications: int = 200
    batch_replications: int = 25  # replications per batch (memory: one batch per worker)
    workers: int = 2  # batches simulated at once, in threads (numpy releases the GIL)
    lost_sales: bool = False
    seed: int = 0


@dataclass
class SimulationNodes:
    """One entry per node (location x item). ``parent`` indexes the supplying node (-1: outside
    supplier). Base stock and order-up-to in units (equal for a pure base-stock policy);
    ``lot_size`` > 0 rounds orders up to multiples. Lead times in days. Demand per day."""

    parent: np.ndarray
    reorder_level: np.ndarray
    order_up_to: np.ndarray
    lot_size: np.ndarray
    lead_time_mean: np.ndarray
    lead_time_sd: np.ndarray
    is_customer: np.ndarray
    demand_mean: np.ndarray
    demand_sd: np.ndarray
    demand_persistence: np.ndarray  # AR(1) coefficient phi in [0, 1)

    def __post_init__(self) -> None:
        n = len(self.parent)
        for name, value in vars(self).items():
            if len(value) != n:
                raise ValueError(f"SimulationNodes.{name} has {len(value)} entries, expected {n}")
        if (self.parent >= n).any() or (self.parent == np.arange(n)).any():
            raise ValueError("SimulationNodes.parent must index another node or be -1")


def _sum_variance_ratio(phi: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Var(sum of p periods) / (p * Var(one period)) for an AR(1) process with coefficient phi."""
    p = periods.astype(float)
    k = np.arange(1, int(periods.max()) if periods.size else 1)[None, :]
    weights = np.clip(p[:, None] - k, 0, None)
    return 1 + 2 * (weights * phi[:, None] ** k).sum(axis=1) / p


def fit_persistence(sd_one: np.ndarray, sd_many: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """AR(1) coefficient phi so that a process with one-period sd ``sd_one`` has sd ``sd_many``
    over ``periods`` periods (bisection; 0 when the spread grows no faster than independent)."""
    periods = np.maximum(np.asarray(periods, dtype=int), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = np.where(sd_one > 0, sd_many**2 / (periods * sd_one**2), 1.0)
    low, high = np.zeros(len(target)), np.full(len(target), 0.995)
    for _ in range(40):
        mid = (low + high) / 2
        above = _sum_variance_ratio(mid, periods) > target
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    return np.where(target <= 1, 0.0, low)


def simulate(
    nodes: SimulationNodes,
    config: SimulationConfig = SimulationConfig(),
    actual_demand: np.ndarray | None = None,
) -> pd.DataFrame:
    """Simulate the policy; one row per node with service and stock measures (see module doc).

    ``actual_demand`` (config.days x nodes, units per day) replays history instead of sampling:
    the warm-up still draws from the demand model, the measured days use these values (only
    the lead times then differ between replications)."""
    n = len(nodes.parent)
    if actual_demand is not None and actual_demand.shape != (config.days, n):
        raise ValueError(
            f"actual_demand has shape {actual_demand.shape}, expected ({config.days}, {n})"
        )
    sizes = [
        min(config.batch_replications, config.replications - start)
        for start in range(0, config.replications, config.batch_replications)
    ]
    # one random stream per batch: results do not depend on how many workers ran them
    streams = np.random.SeedSequence(config.seed).spawn(len(sizes))
    # simulated sorted by height, so that each echelon's nodes are one contiguous block
    heights = _by_height(nodes.parent)
    order = np.concatenate(heights)
    position = np.empty(n, dtype=int)
    position[order] = np.arange(n)
    sorted_nodes = SimulationNodes(
        **{name: value[order] for name, value in vars(nodes).items() if name != "parent"},
        parent=np.where(nodes.parent[order] >= 0, position[nodes.parent[order]], -1),
    )
    bounds = np.cumsum([0, *(len(h) for h in heights)])
    sorted_demand = None if actual_demand is None else actual_demand[:, order]
    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
        per_rep = list(
            pool.map(
                lambda batch: _simulate_batch(
                    sorted_nodes,
                    bounds,
                    config,
                    sizes[batch],
                    np.random.default_rng(streams[batch]),
                    sorted_demand,
                ),
                range(len(sizes)),
            )
        )
    measures = {k: np.concatenate([b[k] for b in per_rep])[:, position] for k in per_rep[0]}
    out = pd.DataFrame({"node": np.arange(n)})
    reps = config.replications
    for name, values in measures.items():
        out[name] = values.mean(axis=0)
        out[f"{name}_ci95"] = Z_95 * values.std(axis=0, ddof=1) / np.sqrt(reps) if reps > 1 else 0
    customer = nodes.is_customer
    for name in ("fill_rate", "cycle_service_level"):
        out.loc[~customer, [name, f"{name}_ci95"]] = np.nan
    out["replications"] = reps
    return out


def _simulate_batch(
    nodes: SimulationNodes,
    bounds: np.ndarray,
    config: SimulationConfig,
    reps: int,
    rng: np.random.Generator,
    actual_demand: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    n = len(nodes.parent)
    parent = nodes.parent
    internal = parent >= 0
    parent_ix = np.where(internal, parent, 0)
    # orders travel up one echelon at a time, so a parent sees its children's orders the day
    # they are placed: nodes order in groups by height (leaves first), each group the block
    # bounds[h]:bounds[h + 1] of the nodes (sorted by height)
    groups = []
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        up = internal[low:high]
        rows = np.nonzero(up)[0]
        # parents sit higher, i.e. in the blocks after this one: map onto those columns only
        to_parent = sparse.csr_matrix(
            (np.ones(len(rows), dtype=FLOAT), (rows, parent[low:high][up] - high)),
            shape=(high - low, n - high),
        ).T.tocsr()
        groups.append((slice(low, high), slice(high, n), to_parent))
    has_lots = bool((nodes.lot_size > 0).any())
    lt_max = int(np.ceil((nodes.lead_time_mean + 4 * nodes.lead_time_sd).max(initial=1)))
    horizon = max(lt_max, 1) + 1
    customer = nodes.is_customer
    mu = np.where(customer, nodes.demand_mean, 0.0).astype(FLOAT)
    phi = np.where(customer, nodes.demand_persistence, 0.0).astype(FLOAT)
    sd_state = np.where(customer, nodes.demand_sd, 0.0).astype(FLOAT)
    sd_shock = (sd_state * np.sqrt(1 - phi**2)).astype(FLOAT)
    lot = nodes.lot_size.astype(FLOAT)
    reorder, up_to = nodes.reorder_level.astype(FLOAT), nodes.order_up_to.astype(FLOAT)
    lead_mean, lead_sd = nodes.lead_time_mean.astype(FLOAT), nodes.lead_time_sd.astype(FLOAT)
    if actual_demand is not None:
        actual_demand = np.where(customer, actual_demand, 0.0).astype(FLOAT)

    on_hand = np.broadcast_to(up_to, (reps, n)).astype(FLOAT)
    customer_backlog = np.zeros((reps, n), dtype=FLOAT)
    child_backlog = np.zeros((reps, n), dtype=FLOAT)  # owed by this node to its children
    owed = np.zeros((reps, n), dtype=FLOAT)  # ordered by this node, not yet shipped by its parent
    in_transit = np.zeros((reps, n), dtype=FLOAT)
    # arrivals per day slot (a ring of ``horizon`` days): one day's arrivals are contiguous
    arrivals = np.zeros((horizon, reps, n), dtype=FLOAT)
    flat_arrivals = arrivals.reshape(-1)
    index_type = np.int32 if arrivals.size < 2**31 else np.int64
    base_index = np.arange(reps * n, dtype=index_type).reshape(reps, n)
    state = rng.standard_normal((reps, n), dtype=FLOAT) * sd_state

    demand_sum = np.zeros((reps, n))
    served_sum = np.zeros((reps, n))
    no_backorder_days = np.zeros((reps, n))
    on_hand_sum = np.zeros((reps, n))
    backorder_sum = np.zeros((reps, n))
    for day in range(config.warmup_days + config.days):
        slot = day % horizon
        arrived = arrivals[slot].copy()
        arrivals[slot] = 0.0
        on_hand += arrived
        in_transit -= arrived

        state = phi * state + sd_shock * rng.standard_normal((reps, n), dtype=FLOAT)
        demand = mu + state
        if actual_demand is not None and day >= config.warmup_days:
            demand = np.broadcast_to(actual_demand[day - config.warmup_days], (reps, n))
        returns = np.maximum(-demand, 0.0)
        demand = np.maximum(demand, 0.0)
        on_hand += returns
        served_old = np.minimum(on_hand, customer_backlog)  # oldest backorders first
        on_hand -= served_old
        customer_backlog -= served_old
        served = np.minimum(on_hand, demand)
        on_hand -= served
        if not config.lost_sales:
            customer_backlog += demand - served

        order = np.zeros((reps, n), dtype=FLOAT)
        for ix, above, to_parent in groups:
            position = (
                on_hand[:, ix]
                - customer_backlog[:, ix]
                - child_backlog[:, ix]
                + owed[:, ix]
                + in_transit[:, ix]
            )
            need = np.maximum(up_to[ix] - position, 0.0)
            placed = np.where(position < reorder[ix] - 1e-9, need, 0.0)
            if has_lots:
                lots = lot[ix]
                placed = np.where(
                    lots > 0, np.ceil(placed / np.where(lots > 0, lots, 1) - 1e-9) * lots, placed
                )
            order[:, ix] = placed
            if to_parent.nnz:
                child_backlog[:, above] += (to_parent @ placed.T).T
        owed += np.where(internal, order, 0.0)

        shipped_total = np.minimum(on_hand, child_backlog)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(child_backlog > 1e-12, shipped_total / child_backlog, 0.0)
        to_child = np.where(internal, owed * share[:, parent_ix], 0.0)
        on_hand -= shipped_total
        child_backlog -= shipped_total
        owed -= to_child
        shipment = np.where(internal, to_child, order)
        lead = lead_mean + lead_sd * rng.standard_normal((reps, n), dtype=FLOAT)
        np.rint(lead, out=lead)
        np.clip(lead, 1, horizon - 1, out=lead)
        index = lead.astype(index_type)  # days until arrival -> flat index of the arrival slot
        index += slot
        index[index >= horizon] -= horizon
        index *= reps * n
        index += base_index
        flat_arrivals[index] += shipment
        in_transit += shipment

        if day >= config.warmup_days:
            demand_sum += demand
            served_sum += served
            no_backorder_days += customer_backlog <= 1e-9
            on_hand_sum += on_hand
            backorder_sum += customer_backlog
    days = config.days
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(demand_sum > 0, served_sum / demand_sum, 1.0)
    return {
        "fill_rate": fill,
        "cycle_service_level": no_backorder_days / days,
        "average_on_hand": on_hand_sum / days,
        "average_backorders": backorder_sum / days,
    }


def _by_height(parent: np.ndarray) -> list[np.ndarray]:
    """Node indices grouped by height (0 = no children), lowest first."""
    height = np.zeros(len(parent), dtype=int)
    for _ in range(len(parent)):
        raised = height.copy()
        has_parent = parent >= 0
        np.maximum.at(raised, parent[has_parent], height[has_parent] + 1)
        if (raised == height).all():
            break
        height = raised
    else:
        raise ValueError("SimulationNodes.parent has a cycle")
    return [np.nonzero(height == h)[0] for h in range(height.max() + 1)]


def normal_fill_rate(mean: float, sd: float, lead_time: int, base_stock: float) -> float:
    """Analytical fill rate of a daily-review base-stock stage with i.i.d. normal demand and a
    fixed lead time (backorders): 1 - (E[(D_L - B)+] - E[(D_{L-1} - B)+]) / mean."""

    def loss(periods: int) -> float:
        if periods == 0:
            return max(0.0, -base_stock)
        s = sd * np.sqrt(periods)
        k = (base_stock - mean * periods) / s
        return s * (norm.pdf(k) - k * (1 - norm.cdf(k)))

    return 1 - (loss(lead_time) - loss(lead_time - 1)) / mean


POLICIES = {
    # policy: (net replenishment time column, safety stock column)
    "meio": ("net_replenishment_time_days", "safety_stock"),
    "single_echelon": ("baseline_net_replenishment_time_days", "baseline_safety_stock"),
}


def plan_nodes(
    targets: pd.DataFrame,
    item_network: pd.DataFrame,
    lane_lead_times: pd.DataFrame,
    lead_time_demand: pd.DataFrame,
    policy: str = "meio",
) -> SimulationNodes:
    """Nodes of a published plan (one per ``targets`` row, in order) under a base-stock policy:
    base stock = mean daily demand x net replenishment time + safety stock, the level the GSM
    sizes (``meio``) or each node's own full lead time (``single_echelon``). A node with several
    inbound lanes orders on the slowest (the GSM's lead time is that lane's)."""
    tau_column, safety_column = POLICIES[policy]
    keys = targets[["sku", "location_id"]].reset_index(drop=True)
    row_of = {k: i for i, k in enumerate(zip(keys["sku"], keys["location_id"], strict=True))}
    lanes = item_network.merge(
        lane_lead_times[
            [
                "source_location_id",
                "destination_location_id",
                "lead_time_mean_days",
                "lead_time_stddev_days",
            ]
        ],
        on=["source_location_id", "destination_location_id"],
    ).sort_values("lead_time_mean_days", ascending=False)
    lanes = lanes.drop_duplicates(["sku", "destination_location_id"])
    lanes = lanes.set_index(["sku", "destination_location_id"])
    inbound = lanes.reindex(pd.MultiIndex.from_frame(keys))
    if inbound["lead_time_mean_days"].isna().any():
        sku, loc = keys[inbound["lead_time_mean_days"].isna().to_numpy()].iloc[0]
        raise ValueError(f"no inbound lane with a lead time for {loc} (item {sku})")
    parent = np.array(
        [
            row_of.get((sku, src), -1)
            for sku, src in zip(keys["sku"], inbound["source_location_id"], strict=True)
        ]
    )
    mean = targets["mean_daily_demand"].to_numpy(float)
    tau = targets[tau_column].to_numpy(int)
    base_stock = mean * tau + targets[safety_column].to_numpy(float)
    customer = targets["is_customer_facing"].to_numpy(bool)
    sd_one, sd_many, periods = _demand_spread(keys, lead_time_demand, np.maximum(tau, 1))
    return SimulationNodes(
        parent=parent,
        reorder_level=base_stock,
        order_up_to=base_stock,
        lot_size=np.zeros(len(keys)),
        lead_time_mean=inbound["lead_time_mean_days"].to_numpy(float),
        lead_time_sd=inbound["lead_time_stddev_days"].to_numpy(float),
        is_customer=customer,
        demand_mean=np.where(customer, mean, 0.0),
        demand_sd=np.where(customer, sd_one, 0.0),
        demand_persistence=np.where(customer, fit_persistence(sd_one, sd_many, periods), 0.0),
    )


def _demand_spread(
    keys: pd.DataFrame, lead_time_demand: pd.DataFrame, periods: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sd of one day's demand and of ``periods`` days' (capped at the forecast's reach)."""
    table = lead_time_demand.set_index(["sku", "location_id", "periods"])["sd"]
    reach = int(lead_time_demand["periods"].max())
    periods = np.minimum(periods, reach)

    def lookup(p: np.ndarray) -> np.ndarray:
        index = pd.MultiIndex.from_arrays([keys["sku"], keys["location_id"], p])
        return table.reindex(index).fillna(0.0).to_numpy(float)

    return lookup(np.ones(len(keys), dtype=int)), lookup(periods), periods


def simulate_plan(
    targets: pd.DataFrame,
    item_network: pd.DataFrame,
    lane_lead_times: pd.DataFrame,
    lead_time_demand: pd.DataFrame,
    config: SimulationConfig = SimulationConfig(),
) -> pd.DataFrame:
    """Simulate the GSM plan and the single-echelon baseline on the same demand draws.
    One row per policy x node x item."""
    frames = []
    for policy in POLICIES:
        nodes = plan_nodes(targets, item_network, lane_lead_times, lead_time_demand, policy)
        result = simulate(nodes, config).drop(columns="node")
        tau_column, safety_column = POLICIES[policy]
        frames.append(
            pd.concat(
                [
                    targets[
                        [
                            "sku",
                            "location_id",
                            "location_type",
                            "is_customer_facing",
                            "service_type",
                            "service_level",
                            "unit_value",
                        ]
                    ].reset_index(drop=True),
                    result,
                ],
                axis=1,
            ).assign(
                policy=policy,
                base_stock=nodes.order_up_to,
                safety_stock=targets[safety_column].to_numpy(float),
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["average_on_hand_value"] = out["average_on_hand"] * out["unit_value"]
    return out.drop(columns="unit_value")


def calibration_table(results: pd.DataFrame) -> pd.DataFrame:
    """Achieved vs target service per policy and target level, over customer-facing nodes
    (node averages; the interval is the 95% range of the mean over nodes and replications)."""
    customers = results[results["is_customer_facing"]]
    grouped = customers.groupby(["policy", "service_type", "service_level"])
    table = grouped.agg(
        nodes=("sku", "size"),
        achieved_cycle_service=("cycle_service_level", "mean"),
        achieved_fill_rate=("fill_rate", "mean"),
    ).reset_index()
    spread = grouped["cycle_service_level"].std(ddof=1).to_numpy() / np.sqrt(table["nodes"])
    table["achieved_cycle_service_ci95"] = Z_95 * np.nan_to_num(spread)
    table["gap_points"] = 100 * (table["achieved_cycle_service"] - table["service_level"])
    table["within_one_point"] = table["gap_points"].abs() <= 1.0
    return table


def echelon_totals(results: pd.DataFrame) -> pd.DataFrame:
    """Average on hand (units and value) per policy and location type."""
    return (
        results.groupby(["policy", "location_type"])
        .agg(
            nodes=("sku", "size"),
            average_on_hand=("average_on_hand", "sum"),
            average_on_hand_value=("average_on_hand_value", "sum"),
            average_backorders=("average_backorders", "sum"),
        )
        .reset_index()
    )
