"""What-if scenarios: change the planning inputs, re-plan, compare with the base plan.

A scenario changes copies of the inputs, never the inputs themselves. Changes (any mix):
- lead time: lanes from ``lead_time_source`` and/or into ``lead_time_destination`` (both None =
  every lane from an outside supplier) take ``lead_time_extra_days`` more days on average;
- demand: customer-facing nodes in ``demand_region`` and/or of ``demand_item_class`` (None = all)
  change by ``demand_change`` (0.2 = +20%); mean and sd scale together, and every upstream node's
  echelon demand scales by the share of its customers' mean that changed;
- service: ``service_level`` replaces every service rule by one cycle-service target;
- a closed location: ``closed_location`` ships nothing; its customers are served by
  ``reroute_to`` on the same lanes' lead times, and ``reroute_to`` takes over its echelon demand
  (mean and variance add: no pooling gain is assumed between the two).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from optimization.config import PlanningConfig
from optimization.targets import SUPPLIER, PlanningInputs, plan_targets
from simulation.config import Scenario


def load_scenarios(path: Path) -> list[Scenario]:
    """The scenarios of a YAML file (``scenarios:`` a list of Scenario fields; an absent file:
    none). Errors name the file, the entry and the field."""
    if not path.exists():
        return []
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as reason:
        raise ValueError(f"{path}: not valid YAML: {reason}") from None
    entries = document.get("scenarios") if isinstance(document, dict) else None
    if entries is None or not isinstance(entries, list):
        raise ValueError(f"{path}: expected a top-level 'scenarios:' list")
    known = {f.name for f in fields(Scenario)}
    scenarios = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}, scenario {number}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping of fields, got {entry!r}")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; fields are {sorted(known)}")
        try:
            scenarios.append(Scenario(**entry))
        except (TypeError, ValueError) as reason:
            raise ValueError(f"{where}: {reason}") from None
    check_unique_names(scenarios, str(path))
    return scenarios


def check_unique_names(scenarios: list[Scenario], where: str) -> None:
    """ValueError naming ``where`` when two scenarios share a name."""
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: scenario names must be unique, got {names}")


def merge_scenarios(base: list[Scenario], extra: list[Scenario]) -> list[Scenario]:
    """``base`` with each of ``extra`` added, or replacing the one of the same name."""
    merged = {s.name: s for s in base}
    merged.update({s.name: s for s in extra})
    return list(merged.values())


# scenarios holding fewer item plans together are planned one after another whatever
# PlanningConfig.processes: starting spawned processes and sending them the inputs (~300 MB at
# 2,000 items) costs several seconds (scale warehouse, session 23: 4 scenarios of 2,000 items
# 34.7-37.8 s one after another, 30.5-30.8 s two at a time)
PROCESS_MIN_ITEMS = 2000


def plan_scenarios(
    inputs: PlanningInputs,
    scenarios: list[Scenario],
    locations: pd.DataFrame,
    config: PlanningConfig,
) -> list[pd.DataFrame]:
    """Each scenario's targets (``plan_targets`` on ``apply_scenario``'s inputs), in order:
    with ``config.processes`` > 1, that many scenarios are planned at once in local processes
    (``spawned_pool``), each scenario's items in one, once the scenarios hold
    PROCESS_MIN_ITEMS item plans together; the same plans as one after another.
    A script calling this needs the ``if __name__ == "__main__":`` guard."""
    if (
        config.processes == 1
        or len(scenarios) < 2
        or config.dask_scheduler is not None
        or len(scenarios) * inputs.items["sku"].nunique() < PROCESS_MIN_ITEMS
    ):
        return [_scenario_targets(inputs, s, locations, config) for s in scenarios]
    each = replace(config, processes=1)
    # each process applies its scenario itself (the caller applies it again to simulate,
    # ~1 s): the parent never holds every scenario's changed inputs at once
    with spawned_pool(min(config.processes, len(scenarios))) as pool:
        futures = [pool.submit(_scenario_targets, inputs, s, locations, each) for s in scenarios]
        return [f.result() for f in futures]


def spawned_pool(processes: int) -> ProcessPoolExecutor:
    """Local worker processes, spawned rather than forked (the caller, a Dagster run, may run
    threads)."""
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))


def _scenario_targets(
    inputs: PlanningInputs, scenario: Scenario, locations: pd.DataFrame, config: PlanningConfig
) -> pd.DataFrame:
    """The targets of one scenario's plan."""
    return plan_targets(apply_scenario(inputs, scenario, locations), config)[0]


def apply_scenario(
    inputs: PlanningInputs, scenario: Scenario, locations: pd.DataFrame
) -> PlanningInputs:
    """Inputs as the scenario sees them. ``locations``: location_id, region."""
    out = replace(inputs)
    if scenario.lead_time_extra_days:
        out = _longer_lead_times(out, scenario)
    if scenario.demand_change:
        out = _changed_demand(out, scenario, locations)
    if scenario.service_level is not None:
        out.service_policy = pd.DataFrame(
            {
                "scope": ["default"],
                "sku": [None],
                "location_id": [None],
                "item_class": [None],
                "service_type": ["cycle"],
                "service_level": [scenario.service_level],
            }
        )
    if scenario.closed_location:
        out = _closed_location(out, scenario)
    return out


def _longer_lead_times(inputs: PlanningInputs, scenario: Scenario) -> PlanningInputs:
    lanes = inputs.lane_lead_times.copy()
    if scenario.lead_time_source is None and scenario.lead_time_destination is None:
        suppliers = set(
            inputs.item_network.loc[
                inputs.item_network["source_location_type"] == SUPPLIER, "source_location_id"
            ]
        )
        hit = lanes["source_location_id"].isin(suppliers)
    else:
        hit = np.ones(len(lanes), dtype=bool)
        if scenario.lead_time_source is not None:
            hit &= lanes["source_location_id"] == scenario.lead_time_source
        if scenario.lead_time_destination is not None:
            hit &= lanes["destination_location_id"] == scenario.lead_time_destination
    if not np.any(hit):
        raise ValueError(f"scenario {scenario.name}: no lane matches the lead-time change")
    lanes.loc[hit, "lead_time_mean_days"] += scenario.lead_time_extra_days
    if (lanes["lead_time_mean_days"] <= 0).any():
        raise ValueError(f"scenario {scenario.name}: a lane's lead time would drop to 0 or below")
    return replace(inputs, lane_lead_times=lanes)


def _changed_demand(
    inputs: PlanningInputs, scenario: Scenario, locations: pd.DataFrame
) -> PlanningInputs:
    customers = inputs.customer_nodes.merge(
        locations[["location_id", "region"]], on="location_id", how="left"
    )
    hit = np.ones(len(customers), dtype=bool)
    if scenario.demand_region is not None:
        hit &= customers["region"] == scenario.demand_region
    if scenario.demand_item_class is not None:
        hit &= customers["item_class"] == scenario.demand_item_class
    if not np.any(hit):
        raise ValueError(f"scenario {scenario.name}: no customer node matches the demand change")
    ltd = inputs.lead_time_demand
    reach = _longest_mean(ltd)
    changed = customers.loc[hit, ["sku", "location_id"]]
    delta = (
        reach.reindex(pd.MultiIndex.from_frame(changed)).fillna(0.0) * scenario.demand_change
    ).rename("delta")
    # push each customer's change up the lanes: an upstream node's echelon demand changes by
    # the sum of its customers' changes
    parents = inputs.item_network[["sku", "source_location_id", "destination_location_id"]]
    total = delta.groupby(level=[0, 1]).sum()
    frontier = total
    for _ in range(len(parents)):
        up = (
            frontier.reset_index()
            .rename(columns={"location_id": "destination_location_id"})
            .merge(parents, on=["sku", "destination_location_id"])
            .groupby(["sku", "source_location_id"])["delta"]
            .sum()
        )
        up.index = up.index.set_names(["sku", "location_id"])
        if up.empty:
            break
        total = total.add(up, fill_value=0.0)
        frontier = up
    ratio = (1 + total / reach.reindex(total.index)).replace([np.inf, -np.inf], np.nan).fillna(1.0)
    factor = (
        ratio.reindex(pd.MultiIndex.from_frame(ltd[["sku", "location_id"]])).fillna(1.0).to_numpy()
    )
    return replace(
        inputs, lead_time_demand=ltd.assign(mean=ltd["mean"] * factor, sd=ltd["sd"] * factor)
    )


def _closed_location(inputs: PlanningInputs, scenario: Scenario) -> PlanningInputs:
    closed, target = scenario.closed_location, scenario.reroute_to
    network = inputs.item_network
    if closed not in set(network["destination_location_id"]):
        raise ValueError(f"scenario {scenario.name}: location {closed} has no inbound lane")
    if target not in set(network["destination_location_id"]):
        raise ValueError(f"scenario {scenario.name}: location {target} has no inbound lane")
    if (inputs.customer_nodes["location_id"] == closed).any():
        raise ValueError(
            f"scenario {scenario.name}: {closed} serves customers itself; close a location "
            "that only supplies other locations"
        )
    outbound = network["source_location_id"] == closed
    moved = network[outbound].assign(source_location_id=target)
    target_type = network.loc[
        network["destination_location_id"] == target, "destination_location_type"
    ]
    moved["source_location_type"] = target_type.iloc[0]
    # items the target does not carry yet get the closed location's inbound lane
    carried = set(network.loc[network["destination_location_id"] == target, "sku"])
    inbound_closed = network[network["destination_location_id"] == closed]
    new_inbound = inbound_closed[~inbound_closed["sku"].isin(carried)].assign(
        destination_location_id=target
    )
    kept = network[~outbound & (network["destination_location_id"] != closed)]
    item_network = pd.concat([kept, moved, new_inbound], ignore_index=True)

    lanes = inputs.lane_lead_times
    copied = lanes[lanes["source_location_id"] == closed].assign(source_location_id=target)
    into_closed = lanes[lanes["destination_location_id"] == closed].assign(
        destination_location_id=target
    )
    lanes = pd.concat([lanes, copied, into_closed], ignore_index=True).drop_duplicates(
        ["source_location_id", "destination_location_id"], keep="first"
    )

    ltd = inputs.lead_time_demand
    taken = ltd[ltd["location_id"] == closed].assign(location_id=target)
    merged = (
        pd.concat([ltd[ltd["location_id"] == target], taken])
        .assign(var=lambda f: f["sd"] ** 2)
        .groupby(["location_id", "sku", "periods"], as_index=False)
        .agg(
            mean=("mean", "sum"),
            var=("var", "sum"),
            **({"count_valued": ("count_valued", "all")} if "count_valued" in ltd else {}),
        )
    )
    merged["sd"] = np.sqrt(merged.pop("var"))
    others = ltd[~ltd["location_id"].isin([closed, target])]
    ltd = pd.concat([others, merged[others.columns]], ignore_index=True)
    return replace(inputs, item_network=item_network, lane_lead_times=lanes, lead_time_demand=ltd)


def _longest_mean(ltd: pd.DataFrame) -> pd.Series:
    """Mean demand over the longest lead time published, per (sku, location_id) (units)."""
    return ltd[ltd["periods"] == ltd["periods"].max()].set_index(["sku", "location_id"])["mean"]


def demand_change(base_ltd: pd.DataFrame, changed_ltd: pd.DataFrame) -> pd.Series:
    """Per (sku, location_id): the ratio of a scenario's changed to the base forecast mean (over
    the longest lead time published), which scales each node's demand history so that the
    empirical simulation of a demand what-if draws the changed volume with history's shape."""
    base, changed = _longest_mean(base_ltd), _longest_mean(changed_ltd)
    ratio = (changed / base.reindex(changed.index)).replace([np.inf, -np.inf], np.nan)
    return ratio.fillna(1.0)


def shifted_observations(
    observations: pd.DataFrame, base_lanes: pd.DataFrame, changed_lanes: pd.DataFrame
) -> pd.DataFrame:
    """Observed lead times as a scenario sees them: a lane whose mean the scenario moved has
    its observations shifted by that many whole days (its shape kept); a lane the scenario
    created has none (the simulation then draws it from its normal mean and sd)."""
    keys = ["source_location_id", "destination_location_id"]
    moved = changed_lanes[keys + ["lead_time_mean_days"]].merge(
        base_lanes[keys + ["lead_time_mean_days"]], on=keys, suffixes=("", "_base")
    )
    shift = np.round(moved["lead_time_mean_days"] - moved["lead_time_mean_days_base"])
    out = observations.merge(moved[keys].assign(shift=shift.to_numpy()), on=keys)
    out["lead_time_days"] = (out["lead_time_days"] + out.pop("shift")).clip(lower=0).astype(int)
    return out


def scenario_summary(
    base_targets: pd.DataFrame,
    base_simulation: pd.DataFrame | None,
    plans: dict[str, tuple[pd.DataFrame, pd.DataFrame | None]],
) -> pd.DataFrame:
    """One row per plan (base first): safety stock value, achieved service, deltas vs base."""

    def figures(targets: pd.DataFrame, simulation: pd.DataFrame | None) -> dict[str, float]:
        row = {
            "meio_safety_stock_value": float(targets["safety_stock_value"].sum()),
            "single_echelon_safety_stock_value": float(
                targets["baseline_safety_stock_value"].sum()
            ),
            "nodes": len(targets),
        }
        if simulation is not None:
            meio = simulation[(simulation["policy"] == "meio") & simulation["is_customer_facing"]]
            row["achieved_cycle_service"] = float(meio["cycle_service_level"].mean())
            row["achieved_fill_rate"] = float(meio["fill_rate"].mean())
            row["average_on_hand_value"] = float(
                simulation.loc[simulation["policy"] == "meio", "average_on_hand_value"].sum()
            )
        return row

    rows = [{"scenario": "base", **figures(base_targets, base_simulation)}]
    rows += [{"scenario": name, **figures(*plan)} for name, plan in plans.items()]
    table = pd.DataFrame(rows)
    for column in table.columns.drop(["scenario", "nodes"]):
        table[f"delta_{column}"] = table[column] - table[column].iloc[0]
    return table
