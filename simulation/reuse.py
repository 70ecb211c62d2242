"""Simulate only what changed, and the rest on a rolling refresh.

An item's simulated service depends on its plan (the targets rows the policy is built from),
its demand history and lead times, and the simulation's settings. A day's new demand moves the
history by one day in 364, so an item whose plan did not change keeps its last simulation for
a few days: each run re-simulates the items whose plan changed (or that were never simulated)
and tops them up with the longest-kept items to ``ceil(items / cadence_days)``, so every item is
re-simulated at least every ``cadence_days`` days and the daily work stays level instead of a
full re-simulation every ``cadence_days``-th day. Changed settings, or a run for a day before
the last simulation (a backfill), re-simulate everything.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

from optimization.reuse import row_hashes

BASIS_COLUMNS = ["sku", "fingerprint", "simulated_on", "settings"]


def plan_fingerprints(targets: pd.DataFrame) -> pd.DataFrame:
    """sku, fingerprint of the item's targets rows (any row order; ``run_date`` left out: a
    plan kept from yesterday has the same fingerprint)."""
    plan = targets.drop(columns=["run_date"], errors="ignore")
    plan = plan.reindex(columns=sorted(plan.columns))
    return row_hashes(plan).astype("uint64").rename("fingerprint").rename_axis("sku").reset_index()


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
