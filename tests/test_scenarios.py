"""What-if scenarios change copies of the planning inputs in the intended direction."""

import re

import pandas as pd
import pytest
from planning_inputs import inputs

from optimization.targets import plan_targets
from simulation.config import Scenario
from simulation.scenarios import (
    apply_scenario,
    load_scenarios,
    merge_scenarios,
    plan_scenarios,
    scenario_summary,
)

LOCATIONS = pd.DataFrame(
    {
        "location_id": ["SUP", "PLT", "DC", "DC2", "ST1", "ST2"],
        "region": ["GLOBAL", "CENTRAL", "CENTRAL", "SOUTH", "NORTH", "SOUTH"],
    }
)


def _mean(plan_inputs, location, periods=10):
    ltd = plan_inputs.lead_time_demand
    row = ltd[(ltd.location_id == location) & (ltd.periods == periods)]
    return float(row["mean"].iloc[0]), float(row["sd"].iloc[0])


def test_late_supplier_raises_safety_stock_and_leaves_the_base_inputs_alone():
    base = inputs()
    late = apply_scenario(base, Scenario("late", lead_time_extra_days=7), LOCATIONS)
    assert base.lane_lead_times["lead_time_mean_days"].tolist() == [14.0, 3.0, 1.0, 2.0]
    assert late.lane_lead_times["lead_time_mean_days"].tolist() == [21.0, 3.0, 1.0, 2.0]
    base_targets, _ = plan_targets(base)
    late_targets, _ = plan_targets(late)
    assert late_targets.safety_stock_value.sum() > base_targets.safety_stock_value.sum()


def test_regional_surge_scales_the_region_and_its_share_upstream():
    base = inputs()
    surge = apply_scenario(
        base, Scenario("north", demand_change=0.2, demand_region="NORTH"), LOCATIONS
    )
    assert _mean(surge, "ST1")[0] == pytest.approx(1.2 * _mean(base, "ST1")[0])
    assert _mean(surge, "ST1")[1] == pytest.approx(1.2 * _mean(base, "ST1")[1])
    assert _mean(surge, "ST2") == _mean(base, "ST2")
    for upstream in ("DC", "PLT"):  # half of their demand grows by 20%
        assert _mean(surge, upstream)[0] == pytest.approx(1.1 * _mean(base, upstream)[0])


def test_service_target_change_applies_everywhere():
    high, _ = plan_targets(apply_scenario(inputs(), Scenario("s98", service_level=0.98), LOCATIONS))
    assert (high.loc[high.is_customer_facing, "service_level"] == 0.98).all()
    base, _ = plan_targets(inputs())
    assert high.safety_stock_value.sum() > base.safety_stock_value.sum()


def test_closed_dc_hands_its_stores_and_demand_to_the_other_dc():
    base = inputs()
    lanes = base.item_network.copy()
    second = lanes.destination_location_id == "ST2"
    lanes.loc[second, "source_location_id"] = "DC2"
    extra = lanes[lanes.destination_location_id == "DC"].assign(destination_location_id="DC2")
    base.item_network = pd.concat([lanes, extra], ignore_index=True)
    times = base.lane_lead_times
    times.loc[times.destination_location_id == "ST2", "source_location_id"] = "DC2"
    base.lane_lead_times = pd.concat(
        [times, times[times.destination_location_id == "DC"].assign(destination_location_id="DC2")],
        ignore_index=True,
    )
    ltd = base.lead_time_demand
    half = ltd[ltd.location_id == "DC"].assign(
        mean=lambda f: f["mean"] / 2, sd=lambda f: f["sd"] / 2
    )
    base.lead_time_demand = pd.concat(
        [ltd[ltd.location_id != "DC"], half, half.assign(location_id="DC2")], ignore_index=True
    )
    closed = apply_scenario(
        base, Scenario("close", closed_location="DC2", reroute_to="DC"), LOCATIONS
    )
    targets, _ = plan_targets(closed)
    assert "DC2" not in set(targets.location_id)
    assert set(
        closed.item_network.loc[
            closed.item_network.source_location_id == "DC", "destination_location_id"
        ]
    ) == {"ST1", "ST2"}
    assert _mean(closed, "DC")[0] == pytest.approx(_mean(base, "DC")[0] * 2)
    with pytest.raises(ValueError, match="serves customers itself"):
        apply_scenario(base, Scenario("bad", closed_location="ST1", reroute_to="ST2"), LOCATIONS)


def test_scenario_names_and_values_are_checked():
    with pytest.raises(ValueError, match="other than 'base'"):
        Scenario("base")
    with pytest.raises(ValueError, match="reroute_to"):
        Scenario("x", closed_location="DC")
    with pytest.raises(ValueError, match="no lane matches"):
        apply_scenario(
            inputs(), Scenario("x", lead_time_extra_days=1, lead_time_source="NOPE"), LOCATIONS
        )


def test_summary_puts_base_first_with_deltas():
    base, _ = plan_targets(inputs())
    late, _ = plan_targets(
        apply_scenario(inputs(), Scenario("late", lead_time_extra_days=7), LOCATIONS)
    )
    table = scenario_summary(base, None, {"late": (late, None)})
    assert table.scenario.tolist() == ["base", "late"]
    assert table.delta_meio_safety_stock_value.iloc[0] == 0
    assert table.delta_meio_safety_stock_value.iloc[1] == pytest.approx(
        late.safety_stock_value.sum() - base.safety_stock_value.sum()
    )


def test_a_scenario_shifts_the_observed_lead_times_of_the_lanes_it_moves():
    from simulation.scenarios import shifted_observations

    base = pd.DataFrame(
        {
            "source_location_id": ["SUP", "PLT"],
            "destination_location_id": ["PLT", "DC"],
            "lead_time_mean_days": [14.0, 3.0],
        }
    )
    changed = pd.concat(
        [
            base.assign(lead_time_mean_days=[21.0, 3.0]),
            pd.DataFrame(
                {
                    "source_location_id": ["DC"],
                    "destination_location_id": ["ST"],
                    "lead_time_mean_days": [1.0],
                }
            ),
        ]
    )
    observed = pd.DataFrame(
        {
            "source_location_id": ["SUP", "SUP", "PLT"],
            "destination_location_id": ["PLT", "PLT", "DC"],
            "lead_time_days": [12, 16, 3],
            "observations": [5, 5, 9],
        }
    )
    out = shifted_observations(observed, base, changed).sort_values("lead_time_days")
    assert out["lead_time_days"].tolist() == [3, 19, 23]  # the supplier lane 7 days later
    assert ("DC", "ST") not in set(
        zip(out.source_location_id, out.destination_location_id, strict=True)
    )


def test_scenarios_file_loads_and_bad_entries_name_file_entry_and_field(tmp_path):

    path = tmp_path / "scenarios.yaml"
    assert load_scenarios(path) == []  # no file: no scenarios
    path.write_text(
        "scenarios:\n"
        "  - {name: late, lead_time_extra_days: 7, lead_time_source: SUP-01}\n"
        "  - {name: service_98pct, service_level: 0.98}\n"
    )
    late, service = load_scenarios(path)
    assert late == Scenario(name="late", lead_time_extra_days=7.0, lead_time_source="SUP-01")
    assert service.service_level == 0.98
    merged = merge_scenarios([late, service], [Scenario(name="late", lead_time_extra_days=3.0)])
    assert [(s.name, s.lead_time_extra_days) for s in merged] == [
        ("late", 3.0),
        ("service_98pct", 0.0),
    ]
    for text, message in [
        ("scenarios:\n  - {name: a, lead_time_extra_dayz: 7}\n", "scenario 1: unknown field"),
        (
            "scenarios:\n  - {name: a}\n  - {name: b, service_level: 1.5}\n",
            "scenario 2: scenario b: Scenario.service_level = 1.5 is outside its range",
        ),
        ("scenarios:\n  - {name: a}\n  - {name: a}\n", "scenario names must be unique"),
        ("scenarios: {name: a}\n", "expected a top-level 'scenarios:' list"),
        ("scenarios: [\n", "not valid YAML"),
    ]:
        path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(message)) as raised:
            load_scenarios(path)
        assert str(path) in str(raised.value)


def test_scenarios_planned_in_two_processes_equal_the_plans_made_one_after_another(monkeypatch):
    import simulation.scenarios as scenarios_module
    from optimization.config import PlanningConfig

    monkeypatch.setattr(scenarios_module, "PROCESS_MIN_ITEMS", 1)  # processes for one item

    base = inputs()
    scenarios = [
        Scenario(name="late", lead_time_extra_days=5.0, lead_time_source="SUP"),
        Scenario(name="service", service_level=0.99),
        Scenario(name="surge", demand_change=0.3, demand_region="NORTH"),
    ]
    together = plan_scenarios(base, scenarios, LOCATIONS, PlanningConfig(processes=2))
    alone = plan_scenarios(base, scenarios, LOCATIONS, PlanningConfig(processes=1))
    for scenario, one, other in zip(scenarios, together, alone, strict=True):
        pd.testing.assert_frame_equal(one, other)
        expected, _ = plan_targets(apply_scenario(base, scenario, LOCATIONS))
        pd.testing.assert_frame_equal(one, expected)
    assert together[1]["safety_stock"].sum() != together[0]["safety_stock"].sum()


def test_scenarios_go_to_processes_once_they_hold_process_min_items_plans_together(monkeypatch):
    import simulation.scenarios as scenarios_module
    from optimization.config import PlanningConfig

    base = inputs()
    items = base.items["sku"].nunique()
    scenarios = [
        Scenario(name="late", lead_time_extra_days=5.0, lead_time_source="SUP"),
        Scenario(name="service", service_level=0.99),
    ]
    pools = []

    class Pool:  # the pool's work done here: only whether one was asked for matters
        def __init__(self, processes: int) -> None:
            pools.append(processes)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

        def submit(self, function, *args):
            class Done:
                def result(self, value=function(*args)):
                    return value

            return Done()

    monkeypatch.setattr(scenarios_module, "spawned_pool", Pool)
    monkeypatch.setattr(scenarios_module, "PROCESS_MIN_ITEMS", 2 * items + 1)
    plan_scenarios(base, scenarios, LOCATIONS, PlanningConfig(processes=2))
    assert pools == []  # 2 x items plans: fewer than the threshold, one after another
    monkeypatch.setattr(scenarios_module, "PROCESS_MIN_ITEMS", 2 * items)
    planned = plan_scenarios(base, scenarios, LOCATIONS, PlanningConfig(processes=2))
    assert pools == [2]  # each scenario has fewer items than the threshold, together enough
    assert len(planned) == 2
