"""Simulate only what changed, and the rest on a rolling refresh.

An item's simulated service depends on its policy (reorder points, target stock, lots, service
times: the targets columns the simulation reads), its demand history and lead times, and the
simulation's settings. A day's new demand moves the history by one day in 364, so an item
whose policy did not change (in whole units) keeps its last simulation for a few days: each run re-simulates the items whose plan changed (or that were never simulated)
and tops them up with the longest-kept items to ``ceil(items / cadence_days)``, so every item is
re-simulated at least every ``cadence_days`` days and the daily work stays level instead of a
full re-simulation every ``cadence_days``-th day. Changed settings, or a run for a day before
the last simulation (a backfill), re-simulate everything.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from optimization.reuse import row_hashes
from simulation.config import SimulationConfig
from simulation.monte_carlo import PLAN_COLUMNS, POLICIES

BASIS_COLUMNS = ["sku", "fingerprint", "simulated_on", "settings"]


# what the simulation reads from a plan (``monte_carlo.plan_nodes``, PLAN_COLUMNS): the policy's
# quantities compared in whole units, the mean daily demand to 2 significant digits
SIMULATED_UNITS = [
    "reorder_point",
    "target_stock_level",
    "safety_stock",
    "baseline_reorder_point",
    "baseline_safety_stock",
    "lot_size",
    "minimum_order_quantity",
]
# the plan's columns a simulated node carries, and each policy's service time: compared exactly
SIMULATED_EXACT = [c for c in PLAN_COLUMNS if c != "sku"] + [tau for tau, _, _ in POLICIES.values()]


def plan_fingerprints(targets: pd.DataFrame) -> pd.DataFrame:
    """sku, fingerprint of the item's policy as the simulation reads it: every node's service
    time, target and class exactly, its reorder points, target stock, safety stocks, lot and
    MOQ rounded to whole units, its mean daily demand to 2 significant digits (any row order;
    a plan whose policy moved by less than half a unit anywhere keeps its fingerprint)."""
    mean = targets["mean_daily_demand"].to_numpy(float)
    digits = 1 - np.floor(np.log10(np.where(mean > 0, mean, 1.0)))
    policy = targets[["sku", *SIMULATED_EXACT]].assign(
        **{c: np.round(targets[c].to_numpy(float)) for c in SIMULATED_UNITS},
        mean_daily_demand=np.round(mean * 10.0**digits) / 10.0**digits,
    )
    return (
        row_hashes(policy).astype("uint64").rename("fingerprint").rename_axis("sku").reset_index()
    )


@dataclass
class Selection:
    """Which items to simulate now (``simulate``) and which keep their last simulation
    (``kept``), and why the items simulated were chosen (``reason``: sku -> changed plan, due,
    rolling refresh, no earlier simulation, settings changed, backfill)."""

    simulate: list[str]
    kept: list[str]
    reason: dict[str, str]


def items_to_simulate(
    fingerprints: pd.DataFrame,
    basis: pd.DataFrame | None,
    run_date: dt.date,
    settings: str,
    cadence_days: int,
) -> Selection:
    """The items of ``fingerprints`` (sku, fingerprint) to simulate for ``run_date``.
    ``basis``: the last simulation of each item (BASIS_COLUMNS), None when there is none;
    ``settings``: the simulation's settings as text; ``cadence_days`` >= 1 (1: every item every
    day)."""
    skus = fingerprints["sku"].tolist()
    everything = None
    if basis is None or basis.empty:
        everything = "no earlier simulation"
    elif (basis["settings"] != settings).any():
        everything = "settings changed"
    elif (pd.to_datetime(basis["simulated_on"]).dt.date > run_date).any():
        everything = "backfill of an earlier day"
    if everything or cadence_days <= 1:
        return Selection(sorted(skus), [], dict.fromkeys(skus, everything or "every day"))
    last = fingerprints.merge(
        basis[["sku", "fingerprint", "simulated_on"]].astype({"fingerprint": "UInt64"}),
        on="sku",
        how="left",
        suffixes=("", "_last"),
    )
    new = last["fingerprint_last"].isna().to_numpy()
    changed = ~new & (
        last["fingerprint_last"].fillna(0).to_numpy("uint64")
        != last["fingerprint"].to_numpy("uint64")
    )
    age = (pd.Timestamp(run_date) - pd.to_datetime(last["simulated_on"])).dt.days.to_numpy()
    due = ~new & (age >= cadence_days)
    reason: dict[str, str] = {}
    for flag, why in ((new, "no earlier simulation"), (changed, "plan changed"), (due, "due")):
        reason.update({s: why for s in last.loc[flag, "sku"] if s not in reason})
    quota = math.ceil(len(skus) / cadence_days)
    if len(reason) < quota:
        waiting = last[~last["sku"].isin(list(reason))]
        oldest = waiting.sort_values(["simulated_on", "sku"])["sku"]
        reason.update(dict.fromkeys(oldest.head(quota - len(reason)), "rolling refresh"))
    simulate = sorted(reason)
    return Selection(simulate, sorted(set(skus) - set(reason)), reason)


def subset_config(config: SimulationConfig, kept_rows: pd.DataFrame) -> SimulationConfig:
    """The settings to simulate some items while the others keep ``kept_rows`` (their last
    simulation's rows, with its ``replications``): the number of replications those rows were
    simulated with (the most among them, at most ``config.replications``), fixed instead of
    adaptive. An adaptive stop judges the classes' means over the items simulated together, so
    a day's few items would run more replications than the whole set did (60 against 40 at
    2,000 items); with per-network random streams an item simulated in a subset then gets the
    rows it gets in a run of every item that stopped at that count."""
    if kept_rows.empty or config.target_half_width is None:
        return config
    count = min(int(kept_rows["replications"].max()), config.replications)
    return replace(config, replications=count, target_half_width=None)
