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
    content = build_report(
        dt.date(2026, 7, 1),
        targets,
        planning.item_network,
        service_tradeoff(planning, targets),
        [("Forecast A at ST1", history, future)],
    )
    return write_report(content, tmp_path_factory.mktemp("serving"))


def test_report_is_one_offline_file_with_every_picture(report):
    content = report.read_text()
    for title in (
        "Where the safety stock sits",
        "Safety stock value by echelon",
        "Service versus inventory",
        "Forecast A at ST1",
    ):
        assert title in content
    assert content.count("Plotly.newPlot") == 4
    assert (
        "<script src=" not in content and len(content) > 1_000_000
    )  # plotly.js inlined, nothing fetched
    assert "saving at the same service targets" in content


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):  # CI installs it (scripts/test.sh): a skip there would hide
            pytest.fail("chromium is not installed in CI (scripts/test.sh installs it)")
        pytest.skip("chromium is not installed (Debian package chromium)")
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count('class="plot-container') >= 4  # plotly ran and drew every chart
    console_errors = [
        line
        for line in result.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)
    ]
    assert console_errors == []
