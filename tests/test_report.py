"""The planner report: self-contained HTML with the plan's pictures, clean in a real browser."""

import datetime as dt
import os
import shutil
import subprocess

import pandas as pd
import pytest
from planning_inputs import inputs

from optimization.targets import plan_targets
from optimization.tradeoff import service_tradeoff
from serving.layout import network_layout
from serving.report import build_report, write_report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    planning = inputs()
    targets, _ = plan_targets(planning)
    weeks = pd.date_range("2026-01-04", periods=30, freq="W-SUN")
    history = pd.DataFrame({"ds": weeks[:26], "y": 70.0})
    future = pd.DataFrame(
        {"ds": weeks[26:], "mean": 70.0, "q05": 50.0, "q20": 60.0, "q80": 80.0, "q95": 90.0}
    )
    nodes = targets[["sku", "location_id"]]
    # off plan on purpose: the first node below its reorder point, the second above its target
    position = nodes.assign(
        inventory_position=targets["target_stock_level"].to_numpy() - 1.0
    ).reset_index(drop=True)
    position.loc[0, "inventory_position"] = targets["reorder_point"].iloc[0] - 7.0
    position.loc[1, "inventory_position"] = targets["target_stock_level"].iloc[1] + 9.0
    customer = targets[targets["is_customer_facing"]].iloc[0]
    simulation = targets.assign(
        policy="meio",
        cycle_service_level=targets["service_level"].where(
            (targets["sku"] != customer["sku"])
            | (targets["location_id"] != customer["location_id"]),
            targets["service_level"] - 0.10,
        ),
    )
    actions = pd.DataFrame(
        {
            "action": ["replenish"],
            "sku": [customer["sku"]],
            "from_location_id": ["DC1"],
            "to_location_id": [customer["location_id"]],
            "quantity": [40.0],
            "reason": ["Position below the reorder point."],
        }
    )
    bullwhip = pd.DataFrame(
        {
            "location_type": ["STORE", "DC", "PLANT"],
            "demand_class": ["smooth", "all", "all"],
            "nodes": [20, 3, 1],
            "median_ratio": [1.1, 1.0, 24.0],
            "pooled_ratio": [1.2, 1.0, 24.5],
        }
    )
    content = build_report(
        dt.date(2026, 7, 1),
        targets,
        planning.item_network,
        service_tradeoff(planning, targets),
        [("Forecast A at ST1", history, future)],
        actions=actions,
        position=position,
        simulation=simulation,
        bullwhip=bullwhip,
    )
    return write_report(content, tmp_path_factory.mktemp("serving"))


def _network(dcs: int, stores: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    lanes = [("SUP", "PL")] + [("PL", f"DC{d}") for d in range(dcs)]
    lanes += [(f"DC{s % dcs}", f"ST{s:02d}") for s in range(stores)]
    ids = ["SUP", "PL"] + [f"DC{d}" for d in range(dcs)] + [f"ST{s:02d}" for s in range(stores)]
    kinds = ["SUPPLIER", "PLANT"] + ["DC"] * dcs + ["STORE"] * stores
    return (
        pd.DataFrame(lanes, columns=["source_location_id", "destination_location_id"]),
        pd.DataFrame({"location_id": ids, "location_type": kinds}),
    )


@pytest.mark.parametrize("dcs, stores", [(3, 20), (5, 50)])
def test_network_layout_is_layered_without_overlap_and_dcs_sit_by_their_stores(dcs, stores):
    lanes, locations = _network(dcs, stores)
    at = network_layout(lanes, locations).set_index("location_id")
    for _, layer in at.groupby("x"):
        assert (layer["y"].sort_values().diff().dropna() >= 1.0 - 1e-9).all()
    assert list(at.groupby("x").size().sort_index()) == [1, 1, dcs, stores]
    for d in range(dcs):  # each DC at the mean height of its own stores
        own = [f"ST{s:02d}" for s in range(stores) if s % dcs == d]
        assert abs(at.loc[f"DC{d}", "y"] - at.loc[own, "y"].mean()) < 1.0


def test_report_is_one_offline_file_with_every_picture(report):
    content = report.read_text()
    for title in (
        "Where the safety stock sits",
        "Safety stock value by echelon",
        "Service versus inventory",
        "Forecast A at ST1",
    ):
        assert title in content
    assert content.count("Plotly.newPlot") == 5  # network, echelons, curve, bullwhip, fan
    assert (
        "<script src=" not in content and len(content) > 1_000_000
    )  # plotly.js inlined, nothing fetched
    assert "saving at the same service targets" in content
    assert "Bullwhip: how much more the orders placed upstream vary" in content


def test_report_lists_actions_exceptions_and_a_searchable_plan(report):
    content = report.read_text()
    actions = content.split("<h2>Actions today")[1].split("</table>")[0]
    assert "replenish" in actions and "Position below the reorder point." in actions
    exceptions = content.split("<h2>Exceptions")[1].split("</table>")[0]
    for kind in ("below reorder point", "excess", "service short of target"):
        assert kind in exceptions
    assert "id='plan-search'" in content and "<table id='plan'>" in content


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):  # CI installs it (scripts/test.sh): a skip there would hide
            pytest.fail("chromium is not installed in CI (scripts/test.sh installs it)")
        pytest.skip("chromium is not installed (Debian package chromium)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path}",
        "--virtual-time-budget=5000",
    ]
    result = subprocess.run(
        [browser, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count('class="plot-container') >= 5  # plotly ran and drew every chart
    console_errors = [
        line
        for line in result.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)
    ]
    assert console_errors == []
    # the page as a planner sees it: a screenshot holds the charts' pixels, far more than the
    # same window of an empty page (PNG size: compressed pixels)
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    sizes = {}
    for name, page in (("report", report), ("blank", blank)):
        shot = tmp_path / f"{name}.png"
        subprocess.run(
            [browser, *flags, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        sizes[name] = shot.stat().st_size
    assert sizes["report"] > 5 * sizes["blank"], sizes  # measured: 174 KB against 13 KB
