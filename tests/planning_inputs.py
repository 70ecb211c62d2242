"""A small hand-built planning problem the optimizer, scenario and report tests share: one
item, supplier -> plant -> DC -> two stores."""

import math
from dataclasses import replace

import pandas as pd

from optimization.targets import PlanningInputs


def lane_frames(types: dict, lanes: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item A's network and lane lead times from (source, destination, mean days, sd days)."""
    network = pd.DataFrame(
        [("A", s, types[s], d, types[d], 0.0) for s, d, _, _ in lanes],
        columns=[
            "sku",
            "source_location_id",
            "source_location_type",
            "destination_location_id",
            "destination_location_type",
            "transfer_cost",
        ],
    )
    lead = pd.DataFrame(
        [(s, d, float(t), float(v)) for s, d, t, v in lanes],
        columns=[
            "source_location_id",
            "destination_location_id",
            "lead_time_mean_days",
            "lead_time_stddev_days",
        ],
    )
    return network, lead


def inputs(lead_time_sd=0.0, policy=None, lot=1, moq=0, mu=10.0, sigma=4.0):
    types = {"SUP": "SUPPLIER", "PLT": "PLANT", "DC": "DC", "ST1": "STORE", "ST2": "STORE"}
    lanes = [("SUP", "PLT", 14), ("PLT", "DC", 3), ("DC", "ST1", 1), ("DC", "ST2", 2)]
    network, lead = lane_frames(types, [(s, d, t, lead_time_sd) for s, d, t in lanes])
    echelon = {
        "ST1": (mu, sigma),
        "ST2": (mu, sigma),
        "DC": (2 * mu, sigma * math.sqrt(2)),
        "PLT": (2 * mu, sigma * math.sqrt(2)),
    }
    ltd = pd.DataFrame(
        [
            (loc, "A", p, m * p, s * math.sqrt(p))
            for loc, (m, s) in echelon.items()
            for p in range(1, 31)
        ],
        columns=["location_id", "sku", "periods", "mean", "sd"],
    )
    items = pd.DataFrame({"sku": ["A"], "unit_cost": [36.5], "lot_size": [lot], "moq": [moq]})
    customers = pd.DataFrame(
        {"location_id": ["ST1", "ST2"], "sku": ["A", "A"], "item_class": ["A", "A"]}
    )
    return PlanningInputs(network, lead, items, ltd, customers, policy)


def several_items(count: int) -> PlanningInputs:
    """Item A copied into ``count`` items I0, I1, .. whose lead-time demand means differ
    (x1, x1.5, x2, ...)."""
    one = inputs()
    frames = {}
    for name in ("item_network", "items", "lead_time_demand", "customer_nodes"):
        copies = []
        for k in range(count):
            copy = getattr(one, name).assign(sku=f"I{k}")
            if name == "lead_time_demand":
                copy = copy.assign(mean=copy["mean"] * (1 + 0.5 * k))
            copies.append(copy)
        frames[name] = pd.concat(copies, ignore_index=True)
    return replace(one, **frames)


def several_items_simulation_case(count: int, days: int = 112):
    """``several_items(count)`` planned, with ``days`` of random daily store demand (Poisson
    around each item's mean) as the empirical simulation's history: (targets, inputs,
    DemandHistory)."""
    import numpy as np

    from optimization.targets import plan_targets
    from simulation.monte_carlo import DemandHistory

    planning = several_items(count)
    targets, _ = plan_targets(planning)
    stores = targets[targets["is_customer_facing"]]
    rng = np.random.default_rng(11)
    matrix = rng.poisson(stores["mean_daily_demand"].to_numpy(float), (days, len(stores)))
    keys = pd.MultiIndex.from_frame(stores[["sku", "location_id"]])
    return targets, planning, DemandHistory(keys, matrix.astype("float32"))
