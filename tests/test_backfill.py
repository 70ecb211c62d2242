"""Backfilling 30 days twice gives identical tables; an older day re-run out of order corrects
its own history and leaves the newest plan current."""

import datetime as dt
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import duckdb
from isolated import fingerprints, isolated_env, run_days

from extracts.demo import DemoConfig, write_landing
from serving.publish import SERVING_FILE

CONFIG = DemoConfig(
    stores=2, dcs=1, items=5, history_days=420, drop_days=30, end_date=dt.date(2026, 6, 30), seed=9
)
WAREHOUSE_TABLES = {
    "raw": ["sales_orders", "shipments", "receipts", "purchase_orders", "on_hand"],
    "marts": ["fct_customer_demand_daily", "fct_internal_transfers_daily", "fct_lane_lead_times"],
    "forecast": ["node_forecasts", "lead_time_demand"],
    "optimization": ["inventory_targets", "planner_actions"],
}
SERVED_TABLES = {"main": ["inventory_targets", "node_forecasts", "inventory_targets_history"]}


def _served(root) -> dict[str, tuple]:
    return fingerprints(root / "serving" / SERVING_FILE, SERVED_TABLES)


def test_thirty_day_backfill_twice_is_identical_and_days_rerun_out_of_order(tmp_path):
    root = tmp_path / "run"
    days = write_landing(root / "landing", CONFIG)
    assert len(days) == 30
    run_days(root, days[0], days[-1])
    first_warehouse = fingerprints(root / "warehouse.duckdb", WAREHOUSE_TABLES)
    first_served = _served(root)
    run_days(root, days[0], days[-1])
    assert fingerprints(root / "warehouse.duckdb", WAREHOUSE_TABLES) == first_warehouse
    assert _served(root) == first_served

    # an old day re-run on its own: its raw rows are replaced by the same rows, its history
    # slice is added, and BI's current plan stays the newest day's
    raw_before = fingerprints(root / "warehouse.duckdb", {"raw": WAREHOUSE_TABLES["raw"]})
    run_days(root, days[9])
    assert fingerprints(root / "warehouse.duckdb", {"raw": WAREHOUSE_TABLES["raw"]}) == raw_before
    served = duckdb.connect(str(root / "serving" / SERVING_FILE), read_only=True)
    try:
        assert served.execute("SELECT run_date FROM publication").fetchone()[0] == days[-1]
        slices = served.execute(
            "SELECT DISTINCT published_run_date FROM inventory_targets_history ORDER BY 1"
        ).fetchall()
    finally:
        served.close()
    assert [s[0] for s in slices] == [days[9], days[-1]]
    current = fingerprints(root / "serving" / SERVING_FILE, {"main": ["inventory_targets"]})
    assert current == {"main.inventory_targets": first_served["main.inventory_targets"]}
    shutil.rmtree(root / "landing")


def readme_backfill_command() -> str:
    """The README's CLI backfill, as written (its line continuations joined)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    (block,) = [b for b in blocks if "--partition-range" in b]
    return block.replace("\\\n", " ").strip()


def test_the_readme_backfill_command_runs_as_written(tmp_path):
    """Every asset ('*', the historical backtest included) over a two-day range, one run."""
    root = tmp_path / "run"
    days = write_landing(root / "landing", replace(CONFIG, drop_days=2))
    command = readme_backfill_command()
    assert "--select '*'" in command
    command = re.sub(r"--partition-range \S+", f"--partition-range {days[0]}...{days[-1]}", command)
    command = command.replace("$PWD/.dagster_home", str(root / "dagster_home"))
    (root / "dagster_home").mkdir()
    (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=Path(__file__).resolve().parents[1],
        env=isolated_env(root),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        backtested = con.execute(
            "SELECT DISTINCT run_date FROM simulation.historical_backtest ORDER BY 1"
        ).fetchall()
        published = con.execute("SELECT count(*) FROM optimization.inventory_targets").fetchone()
    finally:
        con.close()
    assert [d[0] for d in backtested] == days
    assert published[0] > 0
    served = duckdb.connect(str(root / "serving" / SERVING_FILE), read_only=True)
    try:
        assert served.execute("SELECT run_date FROM publication").fetchone()[0] == days[-1]
    finally:
        served.close()


def test_the_readme_schedule_and_sensor_commands_start_them(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = re.findall(r"^DAGSTER_HOME=\S+ \.venv/bin/dagster (?:schedule|sensor) start .*$",
                          readme, flags=re.M)  # fmt: skip
    assert len(commands) == 2, commands
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command.replace("$PWD/.dagster_home", str(home))],
            cwd=Path(__file__).resolve().parents[1],
            env=isolated_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "Started" in done.stdout + done.stderr, done.stdout + done.stderr
