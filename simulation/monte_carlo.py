"""Monte Carlo simulation of a network replenishment policy: a numba kernel, network by network.

Units: one period = one day; quantities in units. Every node (location x item) reviews daily:
when its inventory position is below its reorder level it orders up to its order-up-to level
(at least the MOQ, rounded up to whole lots) from its parent (or from an outside supplier that
always delivers); the published plan is (reorder point, target stock level) with the item's
lot size and MOQ, a pure base-stock policy has both levels equal. A parent ships as soon as it holds stock, rationing a shortage across its children in
proportion to what each is owed, so upstream shortages delay downstream replenishment. Shipments
take a random lead time: the lane's observed lead times where given (empirical), else normal
with the lane's measured mean and sd, rounded; at least one day; orders may cross. Customer
demand at customer-facing nodes comes, by default, from each node's own daily history (``demand="empirical"``): a moving-block bootstrap, the same calendar blocks
(``block_days`` long, starting on the same weekday) for every node, so weekly patterns, bursts
and the co-movement of stores and items are kept and nothing is assumed about the shape of
demand. ``demand="gaussian"`` draws from the forecast's own model instead (Gaussian with AR(1)
persistence, see :func:`fit_persistence`; a negative draw is a day without demand): a check of the model
against itself, not of the plan against the world. Unmet customer demand is backordered (or
lost, ``lost_sales=True``).

Measured per customer-facing node: fill rate (share of demand served from stock on its day),
cycle service level (share of replenishment cycles, from one order to the next, in which no
day ends with a customer short: the meaning of the GSM's safety factor z, which protects the
time until an order arrives; with a daily base stock a cycle is a day of demand), ready rate
(share of days that end with no customer backorder), average on hand and backorders, each with
a 95% confidence interval over replications. Internal nodes report average on hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit
from scipy.stats import norm
from scipy.stats import t as student_t

from simulation.config import SimulationConfig

Z_95 = 1.959963984540054
MEASURES = (
    "fill_rate",
    "cycle_service_level",
    "ready_rate",
    "average_on_hand",
    "average_backorders",
    # the bullwhip's two sides (simulation.bullwhip): variance of the weekly sums of the demand
    # a node receives (customers' or its children's orders) and of the orders it places
    "received_weekly_variance",
    "placed_weekly_variance",
)
WEEK_DAYS = 7
ROUND_BATCHES = 4  # batches simulated between two looks at the adaptive stop
BLOCK_NODES = 4_096  # nodes whose draws for all days are made at once (whole networks)


def daily_matrix(
    frame: pd.DataFrame, value: str, date_column: str, keys: pd.DataFrame, days: pd.DatetimeIndex
) -> np.ndarray:
    """(days, nodes) matrix of ``value`` summed per (location_id, sku) and day; 0 where absent."""
    dates = pd.to_datetime(frame[date_column])
    inside = frame[(dates >= days[0]) & (dates <= days[-1])]
    table = inside.assign(day=pd.to_datetime(inside[date_column])).pivot_table(
        index="day", columns=["location_id", "sku"], values=value, aggfunc="sum", fill_value=0.0
    )
    columns = pd.MultiIndex.from_frame(keys[["location_id", "sku"]])
    return table.reindex(index=days, columns=columns, fill_value=0.0).fillna(0.0).to_numpy(float)


@dataclass
class SimulationNodes:
    """One entry per node (location x item). ``parent`` indexes the supplying node (-1: outside
    supplier). Each day a node whose inventory position is below its ``reorder_level`` orders
    up to ``order_up_to`` (units; equal for a pure base-stock policy), at least
    ``minimum_order`` units, rounded up to multiples of ``lot_size`` where > 0. Lead times in
    days. Demand per day."""

    parent: np.ndarray
    reorder_level: np.ndarray
    order_up_to: np.ndarray
    lot_size: np.ndarray
    minimum_order: np.ndarray
    lead_time_mean: np.ndarray
    lead_time_sd: np.ndarray
    is_customer: np.ndarray
    demand_mean: np.ndarray
    demand_sd: np.ndarray
    demand_persistence: np.ndarray  # AR(1) coefficient phi in [0, 1)
    # (nodes, days) count of observed lead times of each node's inbound lane by whole days
    # (column d: d days); a row without observations, or None: normal(mean, sd) rounded
    lead_time_histogram: np.ndarray | None = None
    # the random streams' key of each node's network (one value per network, e.g. a hash of
    # the item and its root location): a network's draws depend on its key, the seed and the
    # replication only; None: the network root's position among the nodes
    network_key: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.parent)
        for name, value in vars(self).items():
            if value is not None and len(value) != n:
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
    demand_history: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Simulate the policy; one row per node with service and stock measures (see module doc).
    ``progress`` is told after each round how many replications ran.

    With ``config.target_half_width``, replications are added a round at a time until the 95%
    Monte Carlo interval of each group's mean cycle service (``groups``: a label per node,
    customer nodes only; None: one group; over the batches' means) is that narrow, or
    ``config.replications`` ran; the ``replications`` column says how many.

    ``demand_history`` (days x nodes, units per day, oldest first) is what the empirical mode
    bootstraps from; required when ``config.demand == "empirical"``.
    ``actual_demand`` (config.days x nodes, units per day) replays history instead of sampling:
    the warm-up still draws from the demand model, the measured days use these values (only
    the lead times then differ between replications)."""
    n = len(nodes.parent)
    if actual_demand is not None and actual_demand.shape != (config.days, n):
        raise ValueError(
            f"actual_demand has shape {actual_demand.shape}, expected ({config.days}, {n})"
        )
    history = np.zeros((0, n), dtype=np.float32)
    if config.demand == "empirical" and actual_demand is None:
        if demand_history is None or demand_history.shape[1:] != (n,):
            raise ValueError("the empirical demand mode needs demand_history (days x nodes)")
        if len(demand_history) < config.block_days:
            raise ValueError(
                f"demand_history has {len(demand_history)} days, fewer than one block "
                f"({config.block_days})"
            )
    # random streams: replication r's calendar (the bootstrap's blocks, shared by every
    # network) is child r of the seed, and network k's draws in it come from the seed with
    # spawn key (r, key of k): a node's results depend neither on the other networks in the
    # run, nor on how they were split into tasks (threads or a Dask cluster), nor, for the
    # replications run, on whether more would have followed; batches are summed in order
    batches = [
        list(range(start, min(start + config.batch_replications, config.replications)))
        for start in range(0, config.replications, config.batch_replications)
    ]
    order, starts = _networks(nodes.parent)
    position = np.empty(n, dtype=int)
    position[order] = np.arange(n)
    keys = (
        _roots(nodes.parent).astype(np.uint64)
        if nodes.network_key is None
        else np.asarray(nodes.network_key, dtype=np.uint64)
    )[order][starts]
    sorted_nodes = SimulationNodes(
        **{
            name: np.ascontiguousarray(value[order], dtype=float)
            for name, value in vars(nodes).items()
            if name not in ("parent", "is_customer", "network_key") and value is not None
        },
        is_customer=nodes.is_customer[order],
        parent=np.where(nodes.parent[order] >= 0, position[nodes.parent[order]], -1),
    )
    replay = np.zeros((0, n))
    if actual_demand is not None:
        replay = np.ascontiguousarray(np.where(nodes.is_customer, actual_demand, 0.0)[:, order])
    elif config.demand == "empirical":  # float32 throughout: (days x nodes) is large at scale
        history = np.ascontiguousarray(demand_history[:, order], dtype=np.float32)
        np.nan_to_num(history, copy=False)
        history[:, ~nodes.is_customer[order]] = 0.0
    adaptive = config.target_half_width is not None
    # rounds of ROUND_BATCHES batches whatever the workers (all batches at once without a
    # target), so that where an adaptive run stops does not depend on the threads
    per_round = ROUND_BATCHES if adaptive else len(batches)
    first_round = max(per_round, -(-config.min_replications // config.batch_replications))
    mean = squares = None
    count, done = 0, 0
    # adaptive: customer nodes per group, in simulation order, and each batch's mean per group
    members = _group_members(nodes.is_customer, groups, order) if adaptive else []
    group_means: list[np.ndarray] = []
    with _batch_runner(sorted_nodes, starts, keys, config, replay, history) as run_batches:
        while done < len(batches):
            todo = batches[done : done + (first_round if done == 0 else per_round)]
            batch_results = run_batches(todo)
            # Chan et al.'s pairwise update: mean and squared deviations over all replications
            for (batch_mean, batch_squares), batch in zip(batch_results, todo, strict=True):
                if mean is None:
                    mean, squares, count = batch_mean, batch_squares, len(batch)
                    continue
                delta = batch_mean - mean
                total = count + len(batch)
                mean = mean + delta * len(batch) / total
                squares = squares + batch_squares + delta**2 * count * len(batch) / total
                count = total
            done += len(todo)
            widest = None
            if adaptive:
                group_means += [_group_means(m, members) for m, _ in batch_results]
                widest = _widest_half_width(group_means)
            if progress:
                progress(
                    f"{count} of at most {config.replications} replications"
                    + (
                        f", widest class interval +-{100 * widest:.2f} points (target "
                        f"+-{100 * config.target_half_width:.2f})"
                        if widest is not None and np.isfinite(widest)
                        else ""
                    )
                )
            if widest is not None and widest <= config.target_half_width:
                break
    out = pd.DataFrame({"node": np.arange(n)})
    # Student's t: a node's interval rests on count replications (10 or more when adaptive)
    t_95 = _t_95(count) if count > 1 else 0.0
    for k, name in enumerate(MEASURES):
        out[name] = mean[k, position]
        sd = np.sqrt(squares[k, position] / (count - 1)) if count > 1 else 0.0
        out[f"{name}_ci95"] = t_95 * sd / np.sqrt(count)
    customer = nodes.is_customer
    for name in ("fill_rate", "cycle_service_level", "ready_rate"):
        out.loc[~customer, [name, f"{name}_ci95"]] = np.nan
    out["replications"] = count
    return out


def _group_members(
    is_customer: np.ndarray, groups: np.ndarray | None, order: np.ndarray
) -> list[np.ndarray]:
    """Per group (one when ``groups`` is None), its customer nodes' positions in simulation
    order."""
    n = len(is_customer)
    labels = np.zeros(n, dtype=object) if groups is None else np.asarray(groups, dtype=object)
    customer = is_customer[order]
    return [
        np.flatnonzero(customer & (labels[order] == label))
        for label in pd.unique(labels[is_customer])
    ]


def _group_means(batch_mean: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """A batch's mean cycle service per group (mean over the group's nodes)."""
    k = MEASURES.index("cycle_service_level")
    return np.array([batch_mean[k, m].mean() for m in members])


def _widest_half_width(group_means: list[np.ndarray]) -> float:
    """The widest 95% interval half-width (share) of a group's mean cycle service: Student's
    t over the batches' group means (batches, one replication each by default, are
    independent; the nodes within one are not, they share stock and lead-time draws)."""
    if len(group_means) < 2:
        return float("inf")
    table = np.vstack(group_means)  # batches x groups
    spread = table.std(axis=0, ddof=1) / np.sqrt(len(table))
    return _t_95(len(table)) * float(spread.max())


def _t_95(samples: int) -> float:
    """Student's t quantile of a two-sided 95% interval around the mean of ``samples`` (>= 2)
    independent values."""
    return float(student_t.ppf(0.975, samples - 1))


@contextmanager
def _batch_runner(
    nodes: SimulationNodes,
    starts: np.ndarray,
    keys: np.ndarray,
    config: SimulationConfig,
    replay: np.ndarray,
    history: np.ndarray,
) -> Iterator[Callable[[list[list[int]]], list[tuple[np.ndarray, np.ndarray]]]]:
    """A function simulating batches of replications (lists of replication numbers) of the
    sorted ``nodes`` (networks starting at ``starts``, stream keys ``keys``), returning each
    batch's (mean, sum of squared deviations) per measure x node: here on ``config.workers``
    threads, or with ``config.dask_scheduler`` on that Dask cluster, the networks split into
    tasks of ``config.network_chunk`` networks (the same numbers either way)."""
    if config.dask_scheduler is None:
        lanes = _lead_time_cdf(nodes.lead_time_mean, nodes.lead_time_sd, nodes.lead_time_histogram)
        with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
            yield lambda todo: list(
                pool.map(
                    lambda batch: _simulate_batch(
                        nodes, starts, keys, lanes, config, batch, replay, history
                    ),
                    todo,
                )
            )
        return
    from distributed import Client

    n = len(nodes.parent)
    edges = [*starts[:: config.network_chunk], n]
    with Client(config.dask_scheduler) as client:
        chunks = [
            client.scatter(_chunk(nodes, starts, keys, replay, history, low, high), broadcast=False)
            for low, high in zip(edges[:-1], edges[1:], strict=True)
        ]

        def run(todo: list[list[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
            futures = [
                [
                    client.submit(_simulate_chunk, chunk, config, batch, pure=False)
                    for chunk in chunks
                ]
                for batch in todo
            ]
            return [
                tuple(np.concatenate(part, axis=1) for part in zip(*parts, strict=True))
                for parts in client.gather(futures)
            ]

        yield run


def _chunk(
    nodes: SimulationNodes,
    starts: np.ndarray,
    keys: np.ndarray,
    replay: np.ndarray,
    history: np.ndarray,
    low: int,
    high: int,
) -> tuple:
    """The sorted nodes ``low`` .. ``high`` (whole networks) as ``_simulate_batch``'s inputs
    (all but the settings and the replications)."""
    inside = (starts >= low) & (starts < high)
    part = SimulationNodes(
        **{
            name: value[low:high]
            for name, value in vars(nodes).items()
            if name not in ("parent", "network_key") and value is not None
        },
        parent=np.where(nodes.parent[low:high] >= 0, nodes.parent[low:high] - low, -1),
    )
    return (
        part,
        starts[inside] - low,
        keys[inside],
        _lead_time_cdf(part.lead_time_mean, part.lead_time_sd, part.lead_time_histogram),
        np.ascontiguousarray(replay[:, low:high]),
        np.ascontiguousarray(history[:, low:high]),
    )


def _simulate_chunk(
    chunk: tuple, config: SimulationConfig, replications: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``_simulate_batch`` on a ``_chunk`` (a Dask task)."""
    nodes, starts, keys, lanes, replay, history = chunk
    return _simulate_batch(nodes, starts, keys, lanes, config, replications, replay, history)


def _simulate_batch(
    nodes: SimulationNodes,
    starts: np.ndarray,
    keys: np.ndarray,
    lanes: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: SimulationConfig,
    replications: list[int],
    actual_demand: np.ndarray,
    history: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """These replications (numbers), one after another, of the sorted ``nodes`` (networks
    starting at ``starts``, stream keys ``keys``, lead-time distributions ``lanes`` as
    ``_lead_time_cdf`` gives them); returns the mean and the sum of squared
    deviations over them of each measure (MEASURES x nodes). ``history`` (days x nodes, or no
    rows): the empirical mode's bootstrap source."""
    n = len(nodes.parent)
    customer = nodes.is_customer
    mu = np.where(customer, nodes.demand_mean, 0.0)
    phi = np.where(customer, nodes.demand_persistence, 0.0)
    sd_state = np.where(customer, nodes.demand_sd, 0.0)
    sd_shock = sd_state * np.sqrt(1 - phi**2)
    lead_cdf, lane_shortest, lane_of = lanes
    total_days = config.warmup_days + config.days
    # days whose demand comes from the forecast's model (normal shocks): all of them in the
    # gaussian mode, the warm-up when history is replayed, none when it is bootstrapped
    modelled_days = config.warmup_days if len(actual_demand) else 0 if len(history) else total_days
    blocks = _blocks(starts, n)
    per_rep = np.empty((len(replications), len(MEASURES), n))
    for rep, replication in enumerate(replications):
        totals = np.zeros((11, n))
        rows = (
            bootstrap_rows(
                np.random.default_rng(
                    np.random.SeedSequence(config.seed, spawn_key=(replication,))
                ),
                len(history),
                total_days,
                config.block_days,
            )
            if len(history)
            else np.zeros(0, dtype=np.int64)
        )
        for low, high, components in blocks:
            width = high - low
            start_shocks = np.empty(width, dtype=np.float32)
            demand_shocks = np.empty((width, modelled_days), dtype=np.float32)
            lead_draws = np.empty((width, total_days), dtype=np.float32)
            network = int(np.searchsorted(starts, low))  # the block's first network
            for k, (first, last) in enumerate(
                zip(components[:-1] - low, components[1:] - low, strict=True)
            ):
                key = int(keys[network + k])
                rng = np.random.default_rng(
                    np.random.SeedSequence(config.seed, spawn_key=(replication, key))
                )
                rng.standard_normal(dtype=np.float32, out=start_shocks[first:last])
                rng.standard_normal(dtype=np.float32, out=demand_shocks[first:last])
                rng.random(dtype=np.float32, out=lead_draws[first:last])
            _simulate_block(
                low,
                components,
                config.warmup_days,
                config.lost_sales,
                nodes.parent,
                mu,
                phi,
                sd_state,
                sd_shock,
                nodes.lot_size,
                nodes.minimum_order,
                nodes.reorder_level,
                nodes.order_up_to,
                lead_cdf,
                lane_shortest,
                lane_of,
                start_shocks,
                demand_shocks,
                lead_draws,
                actual_demand,
                history,
                rows,
                totals,
            )
        demand, served, no_backorder_days, on_hand, backorders, cycles, cycles_met = totals[:7]
        with np.errstate(divide="ignore", invalid="ignore"):
            per_rep[rep, 0] = np.where(demand > 0, served / demand, 1.0)
            per_rep[rep, 1] = np.where(cycles > 0, cycles_met / cycles, 1.0)
        per_rep[rep, 2:5] = np.stack([no_backorder_days, on_hand, backorders]) / config.days
        weeks = config.days // WEEK_DAYS
        for k, (sums, squares) in enumerate(((totals[7], totals[8]), (totals[9], totals[10]))):
            per_rep[rep, 5 + k] = (
                np.maximum(squares - sums**2 / weeks, 0.0) / (weeks - 1) if weeks > 1 else 0.0
            )
    mean = per_rep.mean(axis=0)
    return mean, ((per_rep - mean) ** 2).sum(axis=0)


def bootstrap_rows(
    rng: np.random.Generator, history_days: int, days: int, block_days: int
) -> np.ndarray:
    """Row of the history each simulated day takes: blocks of ``block_days`` consecutive days
    drawn with replacement, every block starting on the weekday of the latest full block's
    start (so day d of the simulation keeps one weekday throughout)."""
    latest = history_days - block_days
    starts = latest - 7 * rng.integers(0, latest // 7 + 1, -(-days // block_days))
    day = np.arange(days)
    return (starts[day // block_days] + day % block_days).astype(np.int64)


def _lead_time_cdf(
    mean: np.ndarray, sd: np.ndarray, histogram: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distribution of a shipment's lead time per node: the lane's observed lead times where
    ``histogram`` has any (empirical, a same-day receipt counted as one day), else normal(mean,
    sd) rounded to whole days and kept within 1 .. mean + 4 sd. Returns P(lead <= k) for
    k = 0 .. horizon - 1 per distinct distribution (rows), each row's shortest possible lead
    time, and each node's row."""
    n = len(mean)
    observed = (
        np.zeros(n, dtype=bool) if histogram is None else np.asarray(histogram).sum(axis=1) > 0
    )
    longest = int(np.ceil((mean + 4 * sd).max(initial=1)))
    if observed.any():
        longest = max(longest, histogram.shape[1] - 1)
    horizon = max(longest, 1) + 1
    edges = np.arange(horizon) + 0.5  # lead <= k  <=>  mean + sd z < k + 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf = np.where(
            sd[:, None] > 0, norm.cdf((edges - mean[:, None]) / sd[:, None]), edges > mean[:, None]
        )
    if observed.any():
        counts = np.zeros((n, horizon))
        counts[:, : histogram.shape[1]] = histogram
        counts[:, 1] += counts[:, 0]  # at least one day
        counts[:, 0] = 0.0
        empirical = np.cumsum(counts, axis=1) / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        cdf = np.where(observed[:, None], empirical, cdf)
    cdf[:, 0] = 0.0  # at least one day
    cdf[:, -1] = 1.0
    # distinct rows compared as raw bytes (one value per row): np.unique(axis=0) sorts rows
    # lexicographically, 1.1 s against 0.05 s at 112 k nodes; rows come in another order,
    # which nothing depends on (nodes find theirs through lane_of)
    cdf = np.ascontiguousarray(np.round(cdf, 12) + 0.0)  # + 0.0: no negative zeros
    as_bytes = cdf.view(np.dtype((np.void, cdf.dtype.itemsize * cdf.shape[1]))).ravel()
    _, first, lane_of = np.unique(as_bytes, return_index=True, return_inverse=True)
    rows = cdf[first]
    return rows, np.argmax(rows > 0, axis=1), lane_of.reshape(-1).astype(np.int64)


@njit(nogil=True, cache=True)
def _simulate_block(
    low: int,
    components: np.ndarray,
    warmup_days: int,
    lost_sales: bool,
    parent: np.ndarray,
    mu: np.ndarray,
    phi: np.ndarray,
    sd_state: np.ndarray,
    sd_shock: np.ndarray,
    lot: np.ndarray,
    minimum_order: np.ndarray,
    reorder: np.ndarray,
    up_to: np.ndarray,
    lead_cdf: np.ndarray,
    lane_shortest: np.ndarray,
    lane_of: np.ndarray,
    start_shocks: np.ndarray,
    demand_shocks: np.ndarray,
    lead_draws: np.ndarray,
    actual_demand: np.ndarray,
    history: np.ndarray,
    history_rows: np.ndarray,
    totals: np.ndarray,
) -> None:
    """One replication of the networks (connected components) ``components[c]`` ..
    ``components[c + 1]`` of nodes; ``low`` is the first node. Nodes of a component are
    contiguous, children before parents. Draws are (nodes from ``low``) x days: standard
    normal demand shocks (the first days only, where later demand is not modelled) and
    uniform lead-time draws. Adds to ``totals`` rows (measured days
    only): demand, served, days without customer backlog, on hand, customer backlog,
    replenishment cycles and cycles without customer backlog. A cycle runs from one order to
    the next (the last one to the end); it counts if it has measured days, and is met if none
    of them ended with customer backlog.
    ``actual_demand`` (measured days x nodes, or no rows) replaces sampled demand on measured
    days; else ``history`` (days x nodes, or no rows) at ``history_rows[day]`` does on all."""
    horizon = lead_cdf.shape[1]
    days = lead_draws.shape[1]
    modelled_days = demand_shocks.shape[1]
    widest = np.max(components[1:] - components[:-1])
    # per node of a component: on hand, customer backlog, backlog owed to children, owed by
    # the parent, in transit, demand state, today's order, share of the children's backlog
    # shipped today, backlog seen in the current cycle, current cycle has measured days, this
    # week's demand received and orders placed; arrivals: a ring of days x nodes
    stock = np.empty((12, widest))
    arrivals = np.empty((horizon, widest))
    for c in range(components.shape[0] - 1):
        first, last = components[c], components[c + 1]
        stock[:] = 0.0
        arrivals[:] = 0.0
        for j in range(first, last):
            stock[0, j - first] = up_to[j]
            stock[10, j - first] = 0.0
            stock[11, j - first] = 0.0
            stock[5, j - first] = sd_state[j] * start_shocks[j - low]
        for day in range(days):
            slot = day % horizon
            measured = day >= warmup_days
            replay = measured and actual_demand.shape[0] > 0
            bootstrap = history.shape[0] > 0
            for j in range(first, last):
                i = j - first
                arrived = arrivals[slot, i]
                arrivals[slot, i] = 0.0
                on_hand = stock[0, i] + arrived
                stock[4, i] -= arrived
                if day < modelled_days:
                    stock[5, i] = phi[j] * stock[5, i] + sd_shock[j] * demand_shocks[j - low, day]
                if replay:
                    demand = actual_demand[day - warmup_days, j]
                elif bootstrap:
                    demand = history[history_rows[day], j]
                else:
                    demand = mu[j] + stock[5, i]
                demand = max(demand, 0.0)  # a negative Gaussian draw is no demand, not a return
                backlog = stock[1, i]
                served_old = min(on_hand, backlog)  # oldest backorders first
                on_hand -= served_old
                backlog -= served_old
                served = min(on_hand, demand)
                on_hand -= served
                if not lost_sales:
                    backlog += demand - served
                stock[0, i] = on_hand
                stock[1, i] = backlog
                # children come first: the backlog owed to them holds today's orders
                position = on_hand - backlog - stock[2, i] + stock[3, i] + stock[4, i]
                below = position < reorder[j] - 1e-9
                placed = below * max(up_to[j] - position, minimum_order[j])
                if lot[j] > 0:
                    placed = np.ceil(placed / lot[j] - 1e-9) * lot[j]
                stock[6, i] = placed
                if parent[j] >= 0:
                    stock[2, parent[j] - first] += placed
                    stock[3, i] += placed
                if measured:
                    stock[10, i] += demand
                    stock[11, i] += placed
                    if parent[j] >= 0:  # the parent receives it as demand
                        stock[10, parent[j] - first] += placed
                    totals[0, j] += demand
                    totals[1, j] += served
                    totals[2, j] += backlog <= 1e-9
                    short = (backlog > 1e-9) or (served < demand - 1e-9)  # lost sales too
                    if short:
                        stock[8, i] = 1.0
                    stock[9, i] = 1.0
                if placed > 0.0:  # today closes the node's cycle, a new one starts
                    totals[5, j] += stock[9, i]
                    totals[6, j] += stock[9, i] * (1.0 - stock[8, i])
                    stock[8, i] = 0.0
                    stock[9, i] = 0.0
            if measured and (day - warmup_days) % 7 == 6:  # a measured week ends
                for j in range(first, last):
                    i = j - first
                    totals[7, j] += stock[10, i]
                    totals[8, j] += stock[10, i] * stock[10, i]
                    totals[9, j] += stock[11, i]
                    totals[10, j] += stock[11, i] * stock[11, i]
                    stock[10, i] = 0.0
                    stock[11, i] = 0.0
            # parents first: a parent ships in proportion to what each child is owed
            for j in range(last - 1, first - 1, -1):
                i = j - first
                owed_to_children = stock[2, i]
                shipped = min(stock[0, i], owed_to_children)
                stock[7, i] = shipped / owed_to_children if owed_to_children > 1e-12 else 0.0
                stock[0, i] -= shipped
                stock[2, i] = owed_to_children - shipped
                if parent[j] >= 0:
                    shipment = stock[3, i] * stock[7, parent[j] - first]
                    stock[3, i] -= shipment
                else:
                    shipment = stock[6, i]
                if shipment > 0.0:
                    row, draw = lane_of[j], lead_draws[j - low, day]
                    lead = lane_shortest[row]
                    while draw >= lead_cdf[row, lead]:
                        lead += 1
                    due = slot + lead
                    arrivals[due - horizon if due >= horizon else due, i] += shipment
                    stock[4, i] += shipment
                if measured:
                    totals[3, j] += stock[0, i]
                    totals[4, j] += stock[1, i]
        for j in range(first, last):  # the cycle still open at the end
            i = j - first
            totals[5, j] += stock[9, i]
            totals[6, j] += stock[9, i] * (1.0 - stock[8, i])


def _roots(parent: np.ndarray) -> np.ndarray:
    """Each node's network root (the node without a parent it leads up to)."""
    root = np.arange(len(parent))
    for _ in range(len(parent) + 1):
        if not (parent[root] >= 0).any():
            return root
        root = np.where(parent[root] >= 0, parent[root], root)
    raise ValueError("SimulationNodes.parent has a cycle")


def _networks(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simulation order of the nodes: network by network (connected components), children
    before their parents; and the position of each network's first node in that order."""
    height = _heights(parent)  # refuses a cycle
    root = _roots(parent)
    order = np.lexsort((height, root))
    return order, np.flatnonzero(np.diff(root[order], prepend=-1))


def _blocks(starts: np.ndarray, n: int) -> list[tuple[int, int, np.ndarray]]:
    """Whole networks (first nodes ``starts`` of ``n`` sorted nodes) in blocks of about
    ``BLOCK_NODES`` nodes, the kernel's unit: (first, end, the networks' starts and end)."""
    edges = [0]
    for start in starts[1:]:
        if start - edges[-1] >= BLOCK_NODES:
            edges.append(int(start))
    edges.append(n)
    return [
        (low, high, np.append(starts[(starts >= low) & (starts < high)], high))
        for low, high in zip(edges[:-1], edges[1:], strict=True)
    ]


def _heights(parent: np.ndarray) -> np.ndarray:
    """Each node's height: 0 without children, else one more than its highest child."""
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
    return height


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


PLAN_COLUMNS = [  # what a simulated or replayed node carries over from the plan
    "sku",
    "location_id",
    "location_type",
    "is_customer_facing",
    "service_type",
    "service_level",
    "demand_class",
    "unit_value",
]

POLICIES = {
    # policy: (net replenishment time, safety stock, reorder point columns)
    "meio": ("net_replenishment_time_days", "safety_stock", "reorder_point"),
    "single_echelon": (
        "baseline_net_replenishment_time_days",
        "baseline_safety_stock",
        "baseline_reorder_point",
    ),
}


def plan_nodes(
    targets: pd.DataFrame,
    item_network: pd.DataFrame,
    lane_lead_times: pd.DataFrame,
    lead_time_demand: pd.DataFrame,
    policy: str = "meio",
    lead_time_observations: pd.DataFrame | None = None,
) -> SimulationNodes:
    """Nodes of a published plan (one per ``targets`` row, in order) under the published
    policy: order when the inventory position falls below the reorder point, up to the target
    stock level, at least the MOQ, in whole lots. ``meio``: the plan's reorder point and
    target; ``single_echelon``: the baseline's reorder point (each node covering its own full
    lead time) with the same distance to its target as the plan's. A node with several
    inbound lanes orders on the slowest (the GSM's lead time is that lane's).
    ``lead_time_observations`` (source_location_id, destination_location_id, lead_time_days,
    observations): shipments then take the lane's observed lead times (else normal)."""
    tau_column, _, reorder_column = POLICIES[policy]
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
    reorder_point = targets[reorder_column].to_numpy(float)
    order_room = targets["target_stock_level"].to_numpy(float) - targets["reorder_point"]
    customer = targets["is_customer_facing"].to_numpy(bool)
    sd_one, sd_many, periods = _demand_spread(keys, lead_time_demand, np.maximum(tau, 1))
    return SimulationNodes(
        parent=parent,
        reorder_level=reorder_point,
        order_up_to=reorder_point + order_room.to_numpy(float),
        lot_size=targets["lot_size"].to_numpy(float),
        minimum_order=targets["minimum_order_quantity"].to_numpy(float),
        lead_time_mean=inbound["lead_time_mean_days"].to_numpy(float),
        lead_time_sd=inbound["lead_time_stddev_days"].to_numpy(float),
        is_customer=customer,
        demand_mean=np.where(customer, mean, 0.0),
        demand_sd=np.where(customer, sd_one, 0.0),
        demand_persistence=np.where(customer, fit_persistence(sd_one, sd_many, periods), 0.0),
        lead_time_histogram=None
        if lead_time_observations is None
        else _lane_histograms(
            inbound["source_location_id"].to_numpy(),
            keys["location_id"].to_numpy(),
            lead_time_observations,
        ),
        # an item's network: its sku and root location (an item may have several roots)
        network_key=pd.util.hash_array(
            (keys["sku"] + "\x1f" + keys["location_id"].to_numpy()[_roots(parent)]).to_numpy(
                dtype=object
            )
        ),
    )


def _lane_histograms(
    source: np.ndarray, destination: np.ndarray, observations: pd.DataFrame
) -> np.ndarray:
    """(nodes, days) observed lead-time counts of each node's lane (source -> destination)."""
    days = observations["lead_time_days"].to_numpy(int).clip(0)
    lanes = pd.MultiIndex.from_frame(
        observations[["source_location_id", "destination_location_id"]]
    )
    lane_code, distinct = pd.factorize(lanes)
    table = np.zeros((len(distinct), int(days.max(initial=0)) + 1))
    np.add.at(table, (lane_code, days), observations["observations"].to_numpy(float))
    row = pd.Index(distinct).get_indexer(pd.MultiIndex.from_arrays([source, destination]))
    return np.where(row[:, None] >= 0, table[np.maximum(row, 0)], 0.0)


def _demand_spread(
    keys: pd.DataFrame, lead_time_demand: pd.DataFrame, periods: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sd of one day's demand and of ``periods`` days' (capped at the forecast's reach)."""
    reach = int(lead_time_demand["periods"].max())
    periods = np.minimum(periods, reach)
    # only the horizons looked up are indexed: at 2,000 items 91 horizons per node made an
    # 8.2 M-row index (4.1 s a call) where 2 M rows (horizons up to the longest tau) do (0.25 s)
    wanted = lead_time_demand["periods"].isin(np.unique(np.r_[1, periods]))
    table = lead_time_demand[wanted].set_index(["sku", "location_id", "periods"])["sd"]

    def lookup(p: np.ndarray) -> np.ndarray:
        index = pd.MultiIndex.from_arrays([keys["sku"], keys["location_id"], p])
        return table.reindex(index).fillna(0.0).to_numpy(float)

    return lookup(np.ones(len(keys), dtype=int)), lookup(periods), periods


@dataclass
class DemandHistory:
    """Daily customer demand as the empirical mode draws it: ``matrix`` (days x customer nodes,
    units, float32, oldest first, ending on the latest demand date; 0 where a node had none)
    and ``keys`` (sku, location_id) of its columns. One float per node-day, not a row of
    strings: 2,000 items x 50 stores x 364 days is 146 MB here against several GB as rows."""

    keys: pd.MultiIndex
    matrix: np.ndarray

    @classmethod
    def from_rows(cls, daily_demand: pd.DataFrame, days: int) -> DemandHistory:
        """From rows location_id, sku, demand_date, demand_qty: the last ``days`` days
        (``daily_matrix``; fine for a demo-sized frame, ``from_codes`` for a warehouse's)."""
        dates = pd.to_datetime(daily_demand["demand_date"])
        calendar = pd.date_range(dates.max() - pd.Timedelta(days=days - 1), dates.max())
        recent = daily_demand[dates >= calendar[0]]
        keys = recent[["sku", "location_id"]].drop_duplicates()
        matrix = daily_matrix(recent, "demand_qty", "demand_date", keys, calendar)
        return cls(pd.MultiIndex.from_frame(keys), matrix.astype(np.float32))

    @classmethod
    def from_codes(
        cls,
        keys: pd.MultiIndex,
        column: np.ndarray,
        days_back: np.ndarray,
        quantity: np.ndarray,
        days: int,
    ) -> DemandHistory:
        """From one entry per node-day already coded: ``column`` indexes ``keys``, ``days_back``
        counts days before the latest (0 = the latest, < ``days``), ``quantity`` in units (a
        warehouse can code them in SQL, so no row of strings reaches Python)."""
        # entries of one cell add up; bincount does in one pass what np.add.at took 3.6 s
        # for (27.6 M entries at 2,000 items)
        cell = (days - 1 - np.asarray(days_back, dtype=np.int64)) * len(keys) + column
        total = np.bincount(cell, weights=quantity, minlength=days * len(keys))
        return cls(keys, total.astype(np.float32).reshape(days, len(keys)))

    def aligned(self, targets: pd.DataFrame) -> np.ndarray:
        """(days x targets rows): each row's node's history, 0 for nodes without one."""
        column = self.keys.get_indexer(pd.MultiIndex.from_frame(targets[["sku", "location_id"]]))
        out = np.zeros((len(self.matrix), len(targets)), dtype=np.float32)
        out[:, column >= 0] = self.matrix[:, column[column >= 0]]
        return out

    def scaled(self, factor: pd.Series) -> DemandHistory:
        """Each node's history times ``factor`` (indexed by sku, location_id; 1 where absent)."""
        ratio = factor.reindex(self.keys).fillna(1.0).to_numpy(np.float32)
        if np.allclose(ratio, 1.0):
            return self
        return DemandHistory(self.keys, self.matrix * ratio[None, :])


def simulate_plan(
    targets: pd.DataFrame,
    item_network: pd.DataFrame,
    lane_lead_times: pd.DataFrame,
    lead_time_demand: pd.DataFrame,
    config: SimulationConfig = SimulationConfig(),
    demand_history: DemandHistory | None = None,
    lead_time_observations: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    policies: Sequence[str] = tuple(POLICIES),
) -> pd.DataFrame:
    """Simulate the GSM plan and the single-echelon baseline on the same demand draws.
    One row per policy x node x item. ``demand_history`` feeds the empirical mode (required
    there); ``lead_time_observations`` (see ``plan_nodes``) make shipments take the lanes'
    observed lead times. ``policies``: which of POLICIES (a policy's rows do not depend on
    whether the others ran)."""
    frames = []
    history = None
    if config.demand == "empirical":
        if demand_history is None:
            raise ValueError("the empirical demand mode needs the customers' demand history")
        history = demand_history.aligned(targets)
    for policy in policies:
        nodes = plan_nodes(
            targets,
            item_network,
            lane_lead_times,
            lead_time_demand,
            policy,
            lead_time_observations,
        )
        result = simulate(
            nodes,
            config,
            demand_history=history,
            groups=targets["demand_class"].to_numpy(),
            progress=(lambda line, policy=policy: progress(f"simulation, {policy}: {line}"))
            if progress
            else None,
        ).drop(columns="node")
        _, safety_column, _ = POLICIES[policy]
        frames.append(
            pd.concat(
                [
                    targets[PLAN_COLUMNS].reset_index(drop=True),
                    result,
                ],
                axis=1,
            ).assign(
                policy=policy,
                demand_model=config.demand,
                lead_time_model="normal" if lead_time_observations is None else "empirical",
                reorder_level=nodes.reorder_level,
                order_up_to_level=nodes.order_up_to,
                safety_stock=targets[safety_column].to_numpy(float),
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["average_on_hand_value"] = out["average_on_hand"] * out["unit_value"]
    return out.drop(columns="unit_value")


def calibration_table(results: pd.DataFrame) -> pd.DataFrame:
    """Achieved vs target service per policy and target level, over customer-facing nodes
    (node averages; the interval is the 95% range of the mean over nodes and replications):
    one row per demand class and one with demand_class 'all'; ``demand_model`` says which
    demand produced it (empirical: the nodes' own history; gaussian: the forecast's model)."""
    customers = results[results["is_customer_facing"]]
    customers = pd.concat([customers, customers.assign(demand_class="all")], ignore_index=True)
    grouped = customers.groupby(
        ["demand_model", "policy", "service_type", "service_level", "demand_class"]
    )
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
