"""Read GSM instances: the JSON stage format of the shared validation set, and Willems chains."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import norm

from optimization.gsm import Network, sqrt_cost_table


@dataclass
class Instance:
    """One item's GSM: network, cost table (1, stages, taus) and max service times (1, stages)."""

    name: str
    network: Network
    cost: np.ndarray
    max_service_time: np.ndarray
    holding_cost: np.ndarray
    z: np.ndarray
    sigma: np.ndarray


def _pooled_sigma(n: int, customers: list[list[int]], demand_sd: dict[int, float]) -> np.ndarray:
    """sigma_j = sqrt(sum of variances of the customer-facing stages reachable downstream)."""
    sigma = np.zeros(n)
    for j in range(n):
        seen, stack, variance = {j}, [j], 0.0
        while stack:
            k = stack.pop()
            variance += demand_sd.get(k, 0.0) ** 2
            for m in customers[k]:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        sigma[j] = math.sqrt(variance)
    return sigma


def _instance(name, ids, T, arcs, ext_in, h, z, demand_sd, max_s) -> Instance:
    n = len(ids)
    network = Network(
        tuple(ids), np.asarray(T, dtype=np.int64), tuple(arcs), np.asarray(ext_in, dtype=np.int64)
    )
    sigma = _pooled_sigma(n, network.customers(), demand_sd)
    M = int(network.longest_lead_time().max())
    h, z = np.asarray(h, float), np.asarray(z, float)
    cost = sqrt_cost_table(h[None], z[None], sigma[None], M)
    return Instance(name, network, cost, np.asarray(max_s, float)[None], h, z, sigma)


def read_json_instance(path: Path) -> Instance:
    """The ``../shared/validation/gsm`` format: nodes with predecessors, T, h, z, demand."""
    data = json.loads(Path(path).read_text())
    nodes = data["nodes"]
    index = {node["_index"]: k for k, node in enumerate(nodes)}
    arcs = sorted(
        {
            (index[p], index[node["_index"]])
            for node in nodes
            for p in node.get("_predecessor_indices", [])
        }
    )
    arcs += [
        (index[node["_index"]], index[s])
        for node in nodes
        for s in node.get("_successor_indices", [])
        if (index[node["_index"]], index[s]) not in arcs
    ]
    demand_sd = {
        index[n["_index"]]: float(n["demand"]["standard_deviation"])
        for n in nodes
        if n.get("demand")
    }
    has_customers = {i for i, _ in arcs}
    max_s = [
        float(n.get("external_outbound_cst", 0))
        if (index[n["_index"]] not in has_customers or n.get("demand"))
        else math.inf
        for n in nodes
    ]
    return _instance(
        data.get("name", Path(path).stem),
        [str(n["_index"]) for n in nodes],
        [int(n["processing_time"]) for n in nodes],
        arcs,
        [int(n.get("external_inbound_cst", 0)) for n in nodes],
        [float(n["local_holding_cost"]) for n in nodes],
        [float(n.get("demand_bound_constant", 1.0)) for n in nodes],
        demand_sd,
        max_s,
    )


def read_willems_chain(stages_csv: Path, arcs_csv: Path) -> tuple[Instance, dict]:
    """A Willems (2008) chain. Holding cost = stage cost rolled up from all suppliers; times are
    rounded up to whole periods; z = Phi^-1(service level) at demand stages, and internal stages
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
    T = [math.ceil(t - 1e-9) for t in raw_times]
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
    sigma = _pooled_sigma(n, customers, demand_sd)
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
