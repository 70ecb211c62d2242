"""Publish warehouse tables to a serving DuckDB file that BI opens read-only.

The new copy is written aside and swapped in with an atomic rename, so a reader sees the
previous complete plan or the new complete one, never half a refresh, and never a lock: a
reader that opened the old file keeps reading it until it reconnects. Tables named in
``history`` also accumulate one slice per run date in ``<name>_history`` so BI can compare plans
over time (a re-run of a date replaces that date's slice).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from faults import crash_point

SERVING_FILE = "meio.duckdb"
OUTPUT_VERSION = 1


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    name: str
    rows: int


def publish(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[tuple[str, str]],
    serving_dir: Path,
    run_date: dt.date,
    history: Sequence[str] = (),
) -> list[PublishedTable]:
    """Copy ``(schema, table)`` pairs from the warehouse behind ``con`` into the serving file.

    Every published table gets ``output_version``; ``publication`` records the run date and
    the row count of each table, so a reader can check it read one complete plan. Publishing
    a day older than the one already published (a backfill) replaces that day's history slices
    and keeps the newer current plan.
    """
    serving_dir = Path(serving_dir)
    serving_dir.mkdir(parents=True, exist_ok=True)
    final = serving_dir / SERVING_FILE
    staging = serving_dir / f".{SERVING_FILE}.{os.getpid()}.tmp"
    for leftover in serving_dir.glob(f".{SERVING_FILE}.*.tmp*"):  # a crashed run's copy
        leftover.unlink()
    published: list[PublishedTable] = []
    con.execute("ATTACH ? AS serving_copy", [str(staging)])
    previous = final.exists()
    if previous:
        con.execute("ATTACH ? AS serving_previous (READ_ONLY)", [str(final)])
    try:
        old_tables = set()
        latest_run_date = run_date
        if previous:
            old_tables = {
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'serving_previous'"
                ).fetchall()
            }
            if "publication" in old_tables:
                before = con.execute("SELECT run_date FROM serving_previous.main.publication")
                latest_run_date = max(run_date, before.fetchone()[0])
        # a backfill of an older day corrects its history slice; the current plan stays the newest
        keep_current = latest_run_date > run_date
        for schema, name in tables:
            if keep_current and name in old_tables:
                source = f'SELECT * FROM serving_previous.main."{name}"'
            else:
                source = f'SELECT *, {OUTPUT_VERSION} AS output_version FROM "{schema}"."{name}"'
            con.execute(f'CREATE TABLE serving_copy.main."{name}" AS {source}')
            rows = con.execute(f'SELECT count(*) FROM serving_copy.main."{name}"').fetchone()[0]
            published.append(PublishedTable(schema, name, rows))
            crash_point(f"publish:{name}")  # the new copy half written
        schema_of = {name: schema for schema, name in tables}
        for name in history:
            target = f"{name}_history"
            current = (
                f"SELECT ?::DATE AS published_run_date, *, {OUTPUT_VERSION} AS output_version "
                f'FROM "{schema_of[name]}"."{name}"'
            )
            if target in old_tables:
                con.execute(
                    f'CREATE TABLE serving_copy.main."{target}" AS '
                    f'SELECT * FROM serving_previous.main."{target}" WHERE published_run_date <> ? '
                    f"UNION ALL BY NAME {current}",
                    [run_date, run_date],
                )
            else:
                con.execute(f'CREATE TABLE serving_copy.main."{target}" AS {current}', [run_date])
        con.execute(
            "CREATE TABLE serving_copy.main.publication AS SELECT ?::DATE AS run_date, "
            "now()::TIMESTAMP AS published_at, ? AS output_version",
            [latest_run_date, OUTPUT_VERSION],
        )
        con.execute(
            "CREATE TABLE serving_copy.main.published_tables (table_name VARCHAR, row_count BIGINT)"
        )
        con.executemany(
            "INSERT INTO serving_copy.main.published_tables VALUES (?, ?)",
            [(p.name, p.rows) for p in published],
        )
    except Exception:
        con.execute("DETACH serving_copy")
        staging.unlink(missing_ok=True)
        raise
    finally:
        if previous:
            con.execute("DETACH serving_previous")
    con.execute("DETACH serving_copy")
    crash_point("publish:before_swap")
    with open(staging, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, final)
    directory = os.open(serving_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return published
