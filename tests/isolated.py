"""Pipeline runs in a child process with their own landing, warehouse, serving copy and
DAGSTER_HOME under one folder, and fingerprints of the tables they leave."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb

RUNNER = Path(__file__).with_name("pipeline_runner.py")
VOLATILE = {"raw": "EXCLUDE (loaded_at)"}


def isolated_env(root: Path, crash_at: str | None = None) -> dict[str, str]:
    env = os.environ | {
        "MEIO_LANDING": str(root / "landing"),
        "MEIO_WAREHOUSE": str(root / "warehouse.duckdb"),
        "MEIO_SERVING": str(root / "serving"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "DO_NOT_TRACK": "1",
    }
    env.pop("MEIO_CRASH_AT", None)
    if crash_at:
        env["MEIO_CRASH_AT"] = crash_at
    return env


def runner_command(first: dt.date, last: dt.date | None = None) -> list[str]:
    return [sys.executable, str(RUNNER), first.isoformat(), (last or first).isoformat()]


def run_days(root: Path, first: dt.date, last: dt.date | None = None) -> None:
    done = subprocess.run(
        runner_command(first, last),
        env=isolated_env(root),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def fingerprints(path: Path, tables: dict[str, list[str]]) -> dict[str, tuple]:
    """Row count and an order-independent hash of every row, per ``schema.table``."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            f"{schema}.{t}": con.execute(
                f"SELECT count(*), sum(hash(x)::HUGEINT) FROM (SELECT * {VOLATILE.get(schema, '')} "
                f'FROM "{schema}"."{t}") x'
            ).fetchone()
            for schema, names in tables.items()
            for t in names
        }
    finally:
        con.close()
