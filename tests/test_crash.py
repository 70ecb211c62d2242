"""A run killed with SIGKILL mid-ingest, mid-dbt or mid-publish leaves the warehouse and the
published copy consistent; re-running the day completes and gives the uninterrupted tables."""

import datetime as dt
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from isolated import fingerprints, isolated_env, run_days, runner_command

from extracts.demo import DemoConfig, write_landing
from serving.publish import SERVING_FILE

CONFIG = DemoConfig(
    stores=3, dcs=1, items=6, history_days=420, drop_days=2, end_date=dt.date(2026, 5, 5), seed=4
)
COMPARED = {
    "raw": ["sales_orders", "shipments", "receipts", "on_hand", "items", "lanes"],
    "marts": ["fct_customer_demand_daily", "fct_item_network", "fct_inventory_position"],
    "optimization": ["inventory_targets"],
    "forecast": ["node_forecasts"],
}


def _crash(root: Path, day: dt.date, crash_at: str | None, kill_on_line: str | None) -> None:
    """Run the day; die at ``crash_at`` (SIGKILL from inside), or SIGKILL the whole process
    group (dbt included) when a stdout line contains ``kill_on_line``."""
    child = subprocess.Popen(
        runner_command(day),
        env=isolated_env(root, crash_at),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    for line in child.stdout:
        seen.append(line)
        if kill_on_line and kill_on_line in line:
            os.killpg(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=600)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL, "".join(seen[-40:])
    _wait_until_group_gone(child.pid)


def _wait_until_group_gone(group: int, timeout: float = 60.0) -> None:
    """SIGKILL is delivered asynchronously: a killed dbt child (reparented once its parent
    died) may still be exiting, its file lock held, when the parent's wait returns. Wait
    until no live process of the group is left (zombies hold no locks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            state, process_group = fields[0], int(fields[2])
            if process_group == group and state not in ("Z", "X"):
                alive.append(stat.parent.name)
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes {alive} of killed group {group} still alive after {timeout} s")


def _published(root: Path) -> tuple[dt.date, dict[str, int], dict[str, int]]:
    """The published copy's run date, what it says it holds, and what it holds."""
    con = duckdb.connect(str(root / "serving" / SERVING_FILE), read_only=True)
    try:
        run_date = con.execute("SELECT run_date FROM publication").fetchone()[0]
        claimed = dict(con.execute("SELECT table_name, row_count FROM published_tables").fetchall())
        actual = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in claimed}
    finally:
        con.close()
    return run_date, claimed, actual


@pytest.fixture(scope="module")
def first_day_done(tmp_path_factory) -> tuple[Path, Path, list[dt.date]]:
    """A folder whose first day ran and was published, and the uninterrupted run of both days."""
    base = tmp_path_factory.mktemp("crash-base")
    days = write_landing(base / "landing", CONFIG)
    run_days(base, days[0])
    reference = tmp_path_factory.mktemp("crash-reference")
    shutil.copytree(base, reference, dirs_exist_ok=True, symlinks=True)
    run_days(reference, days[1])
    return base, reference, days


@pytest.mark.parametrize(
    "crash_at, kill_on_line",
    [
        ("ingest:sales_orders", None),
        (None, "START sql table model marts."),
        ("publish:inventory_targets", None),
    ],
    ids=["mid-ingest", "mid-dbt", "mid-publish"],
)
def test_killed_run_leaves_consistent_state_and_rerun_matches(
    first_day_done, tmp_path, crash_at, kill_on_line
):
    base, reference, days = first_day_done
    root = tmp_path / "run"
    shutil.copytree(base, root, symlinks=True)
    _crash(root, days[1], crash_at, kill_on_line)

    # consistent after the crash: the warehouse opens, the published copy is still day one's
    # complete plan, whole, and the reader needs no lock
    duckdb.connect(str(root / "warehouse.duckdb"), read_only=True).close()
    run_date, claimed, actual = _published(root)
    assert run_date == days[0]
    assert claimed == actual
    if crash_at and crash_at.startswith("ingest"):
        con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
        loaded = con.execute(
            "SELECT count(*) FROM raw.sales_orders WHERE extract_date = ?", [days[1]]
        ).fetchone()[0]
        con.close()
        assert loaded == 0  # the killed transaction left nothing of the day

    run_days(root, days[1])
    assert fingerprints(root / "warehouse.duckdb", COMPARED) == fingerprints(
        reference / "warehouse.duckdb", COMPARED
    )
    run_date, claimed, actual = _published(root)
    assert run_date == days[1] and claimed == actual == _published(reference)[1]
    assert not list((root / "serving").glob(f".{SERVING_FILE}.*"))  # no leftover copy
