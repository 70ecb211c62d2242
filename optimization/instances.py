"""Read GSM instances: the JSON stage format of the shared validation set, and Willems chains."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import norm

from optimization.gsm import Network, sqrt_cost_table, whole_periods


@dataclass
class Instance:
    """One item's GSM: network, cost table (1, stages, taus) and max service times (1, stages)."""

    name: str
    network: Network
    cost: np.ndarray
    max_service_time: np.ndarray
    holding_cost: np.ndarray
    z: np.ndarray
    sigma: np.ndarray  # pooled demand sd per period
    mean: np.ndarray | None = None  # pooled mean demand per period
    lead_time_sd: np.ndarray | None = None  # of each stage's processing time, periods

    def safety_stock(self, tau: np.ndarray) -> np.ndarray:
        """Units per stage at net replenishment times tau: z sqrt(sigma^2 tau + mean^2 s^2)."""
        mean = np.zeros_like(self.sigma) if self.mean is None else self.mean
        sd_l = np.zeros_like(self.sigma) if self.lead_time_sd is None else self.lead_time_sd
        return self.z * np.sqrt(self.sigma**2 * tau + (mean * sd_l) ** 2)


def bill_of_material_demand(
    network: Network, demand: dict[int, tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of demand per period at every stage, ``demand`` = {customer-facing stage:
    (mean, sd)}, independent across customer-facing stages. One convention for value and
    demand, the bill-of-material one of the Willems roll-up (``../shared/README.md``: a stage's
    holding cost sums its suppliers'): each arc carries one unit per unit downstream, so a
    stage reaches customer c through m_jc paths and sees m_jc units of c's demand:
    mean_j = sum_c m_jc mean_c, sigma_j = sqrt(sum_c m_jc^2 sd_c^2). On a tree (every
    textbook instance) m_jc is 0 or 1 and sigma_j is the pooled sqrt(sum of variances)."""
    customers = sorted(demand)
    column = {c: i for i, c in enumerate(customers)}
    paths = np.zeros((network.n, len(customers)))
    down = network.customers()
    for j in reversed(network.topological_order()):
        if j in column:
            paths[j, column[j]] += 1.0
        for k in down[j]:
            paths[j] += paths[k]
    mean = np.array([demand[c][0] for c in customers], dtype=float)
    sd = np.array([demand[c][1] for c in customers], dtype=float)
    return paths @ mean, np.sqrt(paths**2 @ sd**2)


def _instance(name, ids, T, arcs, ext_in, h, z, demand, max_s, lead_time_sd=None) -> Instance:
    """demand: {customer-facing stage: (mean, sd) per period}; lead_time_sd per stage."""
    n = len(ids)
    network = Network(
        tuple(ids), np.asarray(T, dtype=np.int64), tuple(arcs), np.asarray(ext_in, dtype=np.int64)
    )
    network.topological_order()  # a cycle is an error here, not in a solver
    mean, sigma = bill_of_material_demand(network, demand)
    M = int(network.longest_lead_time().max())
    h, z = np.asarray(h, float), np.asarray(z, float)
    sd_l = np.zeros(n) if lead_time_sd is None else np.asarray(lead_time_sd, float)
    cost = sqrt_cost_table(h[None], z[None], sigma[None], M, mean[None], sd_l[None])
    return Instance(name, network, cost, np.asarray(max_s, float)[None], h, z, sigma, mean, sd_l)


class InstanceError(ValueError):
    """An instance that cannot be solved as written; the message names the stage and field."""


def _field(node: dict, field: str, stage, *, default=None, integer=False) -> float:
    """A finite, non-negative number (a whole one where ``integer``) from a stage's JSON."""
    value = node.get(field, default)
    if value is None:
        raise InstanceError(f"stage {stage}: {field} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InstanceError(f"stage {stage}: {field} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise InstanceError(f"stage {stage}: {field} must be finite and >= 0, got {value!r}")
    if integer and value != int(value):
        raise InstanceError(
            f"stage {stage}: {field} must be a whole number of periods, got {value!r}"
        )
    return int(value) if integer else float(value)


def read_json_instance(path: Path) -> Instance:
    """The ``../shared/validation/gsm`` format: nodes with predecessors, T, h, z, demand, and
    optionally ``processing_time_sd`` (periods). Every number is checked: an
    ``InstanceError`` names the stage and the field of the first one that is not usable."""
    data = json.loads(Path(path).read_text())
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, list) or not nodes:
        raise InstanceError("the instance has no stages: 'nodes' must be a non-empty list")
    index: dict = {}
    for k, node in enumerate(nodes):
        if not isinstance(node, dict) or "_index" not in node:
            raise InstanceError(f"node {k}: _index is missing")
        if node["_index"] in index:
            raise InstanceError(f"stage {node['_index']}: _index appears more than once")
        index[node["_index"]] = k
    arcs: set[tuple[int, int]] = set()
    for node in nodes:
        for field, upstream in (("_predecessor_indices", True), ("_successor_indices", False)):
            for other in node.get(field, []):
                if other not in index:
                    raise InstanceError(
                        f"stage {node['_index']}: {field} names unknown stage {other!r}"
                    )
                pair = (index[other], index[node["_index"]])
                arcs.add(pair if upstream else pair[::-1])
    demand = {}
    for node in nodes:
        if node.get("demand"):
            stage = node["_index"]
            demand[index[stage]] = (
                _field(node["demand"], "mean", f"{stage} demand", default=0.0),
                _field(node["demand"], "standard_deviation", f"{stage} demand"),
            )
    has_customers = {i for i, _ in arcs}
    max_s = [
        _field(n, "external_outbound_cst", n["_index"], default=0, integer=True)
        if (index[n["_index"]] not in has_customers or n.get("demand"))
        else math.inf
        for n in nodes
    ]
    try:
        return _instance(
            data.get("name", Path(path).stem),
            [str(n["_index"]) for n in nodes],
            [_field(n, "processing_time", n["_index"], integer=True) for n in nodes],
            sorted(arcs),
            [
                _field(n, "external_inbound_cst", n["_index"], default=0, integer=True)
                for n in nodes
            ],
            [_field(n, "local_holding_cost", n["_index"]) for n in nodes],
            [_field(n, "demand_bound_constant", n["_index"]) for n in nodes],
            demand,
            max_s,
            [_field(n, "processing_time_sd", n["_index"], default=0.0) for n in nodes],
        )
    except InstanceError:
        raise
    except ValueError as error:  # a cycle
        raise InstanceError(str(error)) from None


def read_willems_chain(stages_csv: Path, arcs_csv: Path) -> tuple[Instance, dict]:
    """A Willems (2008) chain. Holding cost = stage cost rolled up from all suppliers, demand
    rolled down the same way (``bill_of_material_demand``); times are
    rounded to the nearest whole period (``whole_periods``); z = Phi^-1(service level) at demand stages, and internal stages
    use the highest z of the demand stages they serve. Returns the instance and facts about it."""
    with open(stages_csv, newline="") as handle:
        stages = list(csv.DictReader(handle))
    with open(arcs_csv, newline="") as handle:
        arcs_raw = [(r["from"], r["to"]) for r in csv.DictReader(handle)]
    ids = [s["stageName"] for s in stages]
    index = {s: k for k, s in enumerate(ids)}
    arcs = sorted({(index[a], index[b]) for a, b in arcs_raw if a in index and b in index})
    n = len(ids)
    raw_times = [float(s["stageTime"] or 0) for s in stages]
    T = whole_periods(np.asarray(raw_times))
    network = Network(
        tuple(ids), np.asarray(T, dtype=np.int64), tuple(arcs), np.zeros(n, dtype=np.int64)
    )
    added = np.array([float(s["stageCost"] or 0) for s in stages])
    h = added.copy()
    up = network.suppliers()
    for j in network.topological_order():
        h[j] = added[j] + sum(h[i] for i in up[j])
    demand_sd, z_dem, max_s = {}, {}, np.full(n, math.inf)
    for k, s in enumerate(stages):
        if s.get("stDevDemand"):
            demand_sd[k] = float(s["stDevDemand"])
            z_dem[k] = float(norm.ppf(float(s.get("serviceLevel") or 0.95)))
            max_s[k] = float(s["maxServiceTime"]) if s.get("maxServiceTime") else 0.0
    customers = network.customers()
    z = np.zeros(n)
    for j in reversed(network.topological_order()):
        z[j] = max([z_dem.get(j, 0.0)] + [z[m] for m in customers[j]])
    _, sigma = bill_of_material_demand(network, {k: (0.0, sd) for k, sd in demand_sd.items()})
    M = int(network.longest_lead_time().max())
    cost = sqrt_cost_table(h[None], z[None], sigma[None], M)
    facts = {
        "fractional_times": sum(1 for t in raw_times if t != int(t)),
        "stochastic_times": sum(
            1 for s in stages if (s.get("stDevStageTime") or "0") not in ("", "0")
        ),
    }
    return Instance(
        Path(stages_csv).stem.split("_")[0], network, cost, max_s[None], h, z, sigma
    ), facts
