"""Simulate only what changed: an item whose plan did not change keeps its last simulation, a
rolling share is re-simulated each day so none is older than the cadence."""

import datetime as dt

import pandas as pd
import pytest

from simulation.reuse import SIMULATED_UNITS, items_to_simulate, plan_fingerprints

DAY = dt.date(2026, 3, 10)
SETTINGS = '{"days": 365}'


def _targets(skus: list[str]) -> pd.DataFrame:
    n = 2 * len(skus)
    frame = pd.DataFrame(
        {
            "sku": [s for s in skus for _ in range(2)],
            "location_id": ["DC", "ST"] * len(skus),
            "location_type": ["DC", "STORE"] * len(skus),
            "is_customer_facing": [False, True] * len(skus),
            "service_type": "cycle",
            "service_level": 0.95,
            "demand_class": "smooth",
            "unit_value": 2.5,
            "net_replenishment_time_days": [3, 5] * len(skus),
            "baseline_net_replenishment_time_days": [3, 7] * len(skus),
            "mean_daily_demand": [4.2, 0.031] * len(skus),
            "run_date": DAY,
        }
    )
    for column in SIMULATED_UNITS:
        frame[column] = [10.0, 4.0] * (n // 2)
    return frame


def _basis(fingerprints: pd.DataFrame, simulated_on: dt.date, settings: str = SETTINGS):
    return fingerprints.assign(simulated_on=simulated_on, settings=settings)


def test_fingerprints_see_the_policy_in_whole_units_not_run_date_or_row_order():
    targets = _targets(["A", "B"])
    base = plan_fingerprints(targets).set_index("sku")["fingerprint"]
    moved = targets.iloc[::-1].assign(run_date=DAY + dt.timedelta(days=1))
    assert plan_fingerprints(moved).set_index("sku")["fingerprint"].equals(base)
    targets.loc[3, "reorder_point"] = 4.4  # B's store, less than half a unit
    targets.loc[3, "mean_daily_demand"] = 0.0312  # the same to 2 significant digits
    assert plan_fingerprints(targets).set_index("sku")["fingerprint"].equals(base)
    targets.loc[3, "reorder_point"] = 5.0  # a unit more
    after = plan_fingerprints(targets).set_index("sku")["fingerprint"]
    assert after["A"] == base["A"] and after["B"] != base["B"]
    targets.loc[3, "reorder_point"] = 4.0
    targets.loc[0, "net_replenishment_time_days"] = 4  # A's DC: a service time, exactly
    assert plan_fingerprints(targets).set_index("sku")["fingerprint"]["A"] != base["A"]


def test_without_a_last_simulation_or_with_other_settings_or_for_an_earlier_day_all_run():
    fingerprints = plan_fingerprints(_targets(["A", "B", "C"]))
    first = items_to_simulate(fingerprints, None, DAY, SETTINGS, 7)
    assert first.simulate == ["A", "B", "C"] and first.kept == []
    assert set(first.reason.values()) == {"no earlier simulation"}
    yesterday = _basis(fingerprints, DAY - dt.timedelta(days=1))
    other = items_to_simulate(fingerprints, yesterday, DAY, '{"days": 180}', 7)
    assert other.simulate == ["A", "B", "C"] and other.reason["A"] == "settings changed"
    backfill = items_to_simulate(fingerprints, yesterday, DAY - dt.timedelta(days=3), SETTINGS, 7)
    assert backfill.simulate == ["A", "B", "C"] and backfill.reason["A"].startswith("backfill")
    every_day = items_to_simulate(fingerprints, yesterday, DAY, SETTINGS, 1)
    assert every_day.simulate == ["A", "B", "C"]


def test_changed_new_and_due_items_run_and_the_oldest_top_up_the_day_s_share():
    skus = [f"I{k:02d}" for k in range(14)]
    targets = _targets(skus)
    basis = _basis(plan_fingerprints(targets), DAY - dt.timedelta(days=1))
    basis.loc[basis["sku"] == "I05", "simulated_on"] = DAY - dt.timedelta(days=3)
    basis.loc[basis["sku"] == "I09", "simulated_on"] = DAY - dt.timedelta(days=7)  # due
    basis = basis[basis["sku"] != "I13"]  # a new item
    targets.loc[targets["sku"] == "I02", "reorder_point"] += 1  # its policy changed
    chosen = items_to_simulate(plan_fingerprints(targets), basis, DAY, SETTINGS, 7)
    assert chosen.reason == {
        "I13": "no earlier simulation",
        "I02": "plan changed",
        "I09": "due",
    }  # 3 >= ceil(14 / 7): no top-up
    assert chosen.kept == sorted(set(skus) - {"I02", "I09", "I13"})
    quiet = items_to_simulate(
        plan_fingerprints(_targets(skus)),
        _basis(plan_fingerprints(_targets(skus)), DAY),
        DAY,
        SETTINGS,
        7,
    )
    assert quiet.simulate == ["I00", "I01"]  # the day's share, oldest (ties by sku) first
    assert set(quiet.reason.values()) == {"rolling refresh"}


@pytest.mark.parametrize("cadence", [3, 7])
def test_with_nothing_changing_every_item_is_re_simulated_within_the_cadence(cadence):
    skus = [f"I{k:02d}" for k in range(20)]
    fingerprints = plan_fingerprints(_targets(skus))
    basis = _basis(fingerprints, DAY)
    last_run = dict.fromkeys(skus, DAY)
    for k in range(1, 3 * cadence):
        day = DAY + dt.timedelta(days=k)
        chosen = items_to_simulate(fingerprints, basis, day, SETTINGS, cadence)
        assert len(chosen.simulate) == -(-len(skus) // cadence)  # level daily work
        for sku in chosen.simulate:
            assert (day - last_run[sku]).days <= cadence
            last_run[sku] = day
        basis.loc[basis["sku"].isin(chosen.simulate), "simulated_on"] = day
    assert all((day - d).days < cadence for d in last_run.values())
