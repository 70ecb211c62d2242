"""Publish warehouse tables to a serving DuckDB file that BI opens read-only.

The new copy is written aside and swapped in with an atomic rename, so a reader sees the
previous complete plan or the new complete one, never half a refresh, and never a lock.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

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
) -> list[PublishedTable]:
    """Copy ``(schema, table)`` pairs from the warehouse behind ``con`` into the serving file."""
    serving_dir = Path(serving_dir)
    serving_dir.mkdir(parents=True, exist_ok=True)
    final = serving_dir / SERVING_FILE
    staging = serving_dir / f".{SERVING_FILE}.{os.getpid()}.tmp"
    staging.unlink(missing_ok=True)
    published: list[PublishedTable] = []
    con.execute("ATTACH ? AS serving_copy", [str(staging)])
    try:
        for schema, name in tables:
            con.execute(
                f'CREATE TABLE serving_copy.main."{name}" AS SELECT * FROM "{schema}"."{name}"'
            )
            rows = con.execute(f'SELECT count(*) FROM serving_copy.main."{name}"').fetchone()[0]
            published.append(PublishedTable(schema, name, rows))
        con.execute(
            "CREATE TABLE serving_copy.main.publication AS SELECT ? AS run_date, "
            "now()::TIMESTAMP AS published_at, ? AS output_version",
            [run_date, OUTPUT_VERSION],
        )
    except Exception:
        con.execute("DETACH serving_copy")
        staging.unlink(missing_ok=True)
        raise
    con.execute("DETACH serving_copy")
    with open(staging, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, final)
    return published
